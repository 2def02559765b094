// SPDX-License-Identifier: Apache-2.0
// Messages and table cells: control characters escaped, datastore credentials redacted, values bounded.
import { describe, expect, it } from 'vitest';
import { CniCode, CniError, errorJson } from '../../src/control/cni/errors.js';
import { ConflictError, DatastoreError } from '../../src/control/datastore/types.js';
import { renderTable } from '../../src/control/cli/output.js';
import { printable, redactCredentials, safeMessage, truncated } from '../../src/control/printable.js';

describe('printable', () => {
  it('escapes C0, C1, DEL, line separators and bidi overrides; keeps other text', () => {
    expect(printable('a\u001b[31mb\r\n\t\u007f\u0085\u2028\u202e\u2066z ✓ é')).toBe('a\\x1b[31mb\\r\\n\\t\\x7f\\x85\\u2028\\u202e\\u2066z ✓ é');
  });
  it('cuts long values saying how long they were', () => {
    expect(truncated('x'.repeat(1000), 10)).toBe('xxxxxxxxxx… (1000 characters)');
    expect(truncated('short')).toBe('short');
  });
  it('escapes every table cell, so one row stays one line', () => {
    const table = renderTable(['NAME', 'POD'], [['w1', 'ns/evil\u001b]0;x\u0007\npod']]);
    expect(table).toBe('NAME  POD\nw1    ns/evil\\x1b]0;x\\x07\\npod\n');
  });
});

describe('redactCredentials', () => {
  it.each([
    ['etcd://root:s3cret@10.0.0.1:2379', 'etcd://root:***@10.0.0.1:2379'],
    ['datastore URL "etcd+https://u:p@h:2379,h2:2379?ca=/ca.pem": bad', 'datastore URL "etcd+https://u:***@h:2379,h2:2379?ca=/ca.pem": bad'],
    ['etcd://h:2379?password=x&ca=/c&token=abc;secret=z', 'etcd://h:2379?password=***&ca=/c&token=***;secret=***'],
    ['sqlite:///var/lib/bpf-overlay/store.db', 'sqlite:///var/lib/bpf-overlay/store.db'],
  ])('%s', (text, want) => void expect(redactCredentials(text)).toBe(want));
  it('applies to every DatastoreError, subclasses included', () => {
    expect(new DatastoreError('commit to etcd://a:b@h:1 failed').message).toBe('commit to etcd://a:***@h:1 failed');
    expect(new ConflictError('commit to etcd://a:b@h:1 failed its preconditions').message).not.toContain(':b@');
  });
  it('applies to CNI error results, with control characters escaped', () => {
    const err = new CniError(CniCode.TryAgainLater, 'datastore etcd://u:pw@h:2379 is not reachable for pod "x\u001by"', 'token=abc');
    expect(errorJson('1.0.0', err)).toEqual({ cniVersion: '1.0.0', code: 11, msg: 'datastore etcd://u:***@h:2379 is not reachable for pod "x\\x1by"', details: 'token=abc' });
    expect(safeMessage('?token=abc')).toBe('?token=***');
  });
});
