// SPDX-License-Identifier: Apache-2.0
// Stores: read commands never create anything and can read a store they may not write; a store and its
// directory are created private (0600/0700).
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatastore } from '../../src/control/datastore/index.js';
import { CLI, requireBuiltCli } from '../harness/agent.js';
import { testPool } from '../harness/datastore-contract.js';
import { runCli } from '../harness/lifecycle-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'bo-ro-'));
const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'calico-vxlan-always.yaml');
beforeAll(() => requireBuiltCli());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const READ_COMMANDS = [
  ['get', 'ippools'],
  ['get', 'routes', '--node', 'n1'],
  ['status', '--node', 'n1'],
  ['validate', '-f', FIXTURE],
  ['ipam', 'check'],
];

describe('SQLite stores', () => {
  it.each(READ_COMMANDS)('read command %s %s creates no file or directory for a missing store', (...args) => {
    const store = join(dir, 'missing', 'sub', 'store.db');
    const res = runCli(`sqlite://${store}`, args);
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toEqual([
      `bpf-overlay ${args[0]}: datastore sqlite://${store}: ${store} does not exist (nothing was ever stored there; check --datastore)`,
    ]);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('a read command pointed at /dev/null fails naming it and creates no /dev/null-journal', () => {
    const res = runCli('sqlite:///dev/null', ['get', 'ippools']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^bpf-overlay get: datastore sqlite:\/\/\/dev\/null: \/dev\/null is not a bpf-overlay store/);
    expect(readdirSync('/dev').filter((f) => f.startsWith('null-'))).toEqual([]);
  });

  it('creates the store 0600 and its new directories 0700, and leaves an existing store file unchanged by reads', async () => {
    const store = join(dir, 'fresh', 'deeper', 'store.db');
    expect(runCli(`sqlite://${store}`, ['apply', '-f', FIXTURE]).code).toBe(0);
    expect(statSync(store).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'fresh', 'deeper')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'fresh')).mode & 0o777).toBe(0o700);
    const ds = await openDatastore(`sqlite://${store}`);
    await ds.create(testPool('p2', '10.9.0.0/16'));
    // While this writer is open, its -wal and -shm exist: they carry the store's mode too.
    for (const f of readdirSync(join(dir, 'fresh', 'deeper'))) expect(statSync(join(dir, 'fresh', 'deeper', f)).mode & 0o777).toBe(0o600);
    await ds.close();
    const before = statSync(store).mtimeMs;
    for (const args of READ_COMMANDS) runCli(`sqlite://${store}`, args);
    expect(statSync(store).mtimeMs).toBe(before);
    expect(readdirSync(join(dir, 'fresh', 'deeper'))).toEqual(['store.db']);
  });

  it('another user can read a store it may not write (0644 file in a 0755 directory), with or without a live writer', async () => {
    const sub = join(dir, 'shared');
    const store = join(sub, 'store.db');
    expect(runCli(`sqlite://${store}`, ['apply', '-f', FIXTURE]).code).toBe(0);
    chmodSync(dir, 0o755);
    chmodSync(sub, 0o755);
    chmodSync(store, 0o644);
    const asNobody = () =>
      spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, '--datastore', `sqlite://${store}`, 'get', 'ippools'], {
        encoding: 'utf8',
        timeout: 30_000,
      });
    const quiet = asNobody();
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toMatch(/ippool-vxlan-1\s+192\.168\.0\.0\/16/);
    const writer = await openDatastore(`sqlite://${store}`);
    try {
      await writer.create(testPool('live', '10.11.0.0/16'));
      const live = asNobody();
      expect(live.stderr).toBe('');
      expect(live.stdout).toMatch(/^live\s+10\.11\.0\.0\/16/m);
    } finally {
      await writer.close();
    }
    const write = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, '--datastore', `sqlite://${store}`, 'apply', '-f', FIXTURE], {
      encoding: 'utf8',
    });
    expect(write.status).toBe(1);
    expect(write.stderr.trim().split('\n')).toHaveLength(1);
  });
});
