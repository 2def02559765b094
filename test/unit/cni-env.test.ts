// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { checkIfname, parseCniArgs, parseEnv, podIdentity } from '../../src/control/cni/env.js';
import { CniCode } from '../../src/control/cni/errors.js';
import { cniFailure } from '../harness/cni-errors.js';

const codeOf = cniFailure;

const addEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' };

describe('CNI environment', () => {
  it('parses a complete ADD environment', () => {
    const env = parseEnv({ ...addEnv, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0' });
    expect(env).toEqual({
      command: 'ADD',
      containerId: 'c0ffee',
      netns: '/run/netns/x',
      ifname: 'eth0',
      args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web-0' },
      path: ['/opt/cni/bin', '/usr/lib/cni'],
    });
    expect(podIdentity(env.args)).toEqual({ pod: 'web-0', namespace: 'default' });
  });

  it('rejects a missing or unknown CNI_COMMAND with code 4 naming the variable', () => {
    expect(codeOf(() => parseEnv({}))).toEqual({ code: CniCode.InvalidEnvironment, msg: expect.stringContaining('CNI_COMMAND') });
    const bad = codeOf(() => parseEnv({ CNI_COMMAND: 'ATTACH' }));
    expect(bad.code).toBe(4);
    expect(bad.msg).toContain('"ATTACH"');
  });

  it('names every missing variable the command requires', () => {
    const e = codeOf(() => parseEnv({ CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' }));
    expect(e.code).toBe(4);
    expect(e.msg).toContain('CNI_CONTAINERID');
    expect(e.msg).toContain('CNI_NETNS');
    expect(e.msg).not.toContain('CNI_IFNAME');
  });

  it('lets DEL go without a netns and VERSION/GC without a container', () => {
    expect(parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' }).netns).toBeUndefined();
    expect(parseEnv({ CNI_COMMAND: 'GC' }).containerId).toBe('');
    expect(parseEnv({ CNI_COMMAND: 'VERSION' }).command).toBe('VERSION');
  });

  it('checks the container ID, interface name and netns path', () => {
    expect(codeOf(() => parseEnv({ ...addEnv, CNI_CONTAINERID: 'bad/id' })).msg).toContain('CNI_CONTAINERID');
    expect(codeOf(() => parseEnv({ ...addEnv, CNI_IFNAME: 'a-very-long-ifname0' })).msg).toContain('CNI_IFNAME');
    expect(codeOf(() => checkIfname('..')).code).toBe(4);
    expect(codeOf(() => checkIfname('et h0')).code).toBe(4);
    expect(codeOf(() => parseEnv({ ...addEnv, CNI_NETNS: 'relative/ns' })).msg).toContain('CNI_NETNS');
  });

  it.each([
    ['#', 'eth#0'],
    ['/', 'eth/0'],
    ['whitespace', 'eth 0'],
    ['a tab', 'eth\t0'],
    ['a newline', 'eth0\n'],
    ['a control character', 'eth\u00010'],
    ['":"', 'eth0:1'],
    ['a kernel name template', 'eth%d'],
    ['"."', '.'],
    ['".."', '..'],
    ['16 characters', 'abcdefghijklmnop'],
    ['16 bytes of UTF-8', 'ethé12345678901'],
  ])('rejects CNI_IFNAME with %s with code 4 naming the variable', (_what, ifname) => {
    const e = codeOf(() => parseEnv({ ...addEnv, CNI_IFNAME: ifname }));
    expect(e.code).toBe(CniCode.InvalidEnvironment);
    expect(e.msg).toMatch(/^CNI_IFNAME: /);
    expect(e.msg).toContain(JSON.stringify(ifname));
  });

  it('lets DEL remove an attachment whatever its interface name (names derive from a hash of it)', () => {
    expect(parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth#0' }).ifname).toBe('eth#0');
    expect(codeOf(() => parseEnv({ ...addEnv, CNI_COMMAND: 'CHECK', CNI_IFNAME: 'eth#0' })).code).toBe(4);
  });

  it('accepts ordinary interface names up to 15 characters', () => {
    for (const ifname of ['eth0', 'net1', 'abcdefghijklmno', 'eth0.100', 'vlan-a_b']) {
      expect(parseEnv({ ...addEnv, CNI_IFNAME: ifname }).ifname).toBe(ifname);
    }
  });

  it('refuses control characters in K8S_POD_NAME and K8S_POD_NAMESPACE instead of storing them', () => {
    const forged = codeOf(() => podIdentity(parseCniArgs('K8S_POD_NAMESPACE=default;K8S_POD_NAME=web\nWARN forged line')));
    expect(forged).toEqual({ code: 4, msg: expect.stringMatching(/^CNI_ARGS: K8S_POD_NAME contains the control character U\+000A/) });
    expect(codeOf(() => podIdentity({ K8S_POD_NAMESPACE: 'ns\u001b[31m' })).msg).toContain('K8S_POD_NAMESPACE contains the control character U+001B');
    expect(codeOf(() => podIdentity({ K8S_POD_NAME: 'x'.repeat(254) })).msg).toContain('longer than 253');
    expect(podIdentity({ K8S_POD_NAME: 'web-0', K8S_POD_NAMESPACE: '' })).toEqual({ pod: 'web-0', namespace: undefined });
  });

  it('rejects malformed CNI_ARGS instead of skipping them', () => {
    expect(parseCniArgs('A=1;;B=x=y')).toEqual({ A: '1', B: 'x=y' });
    const e = codeOf(() => parseCniArgs('A=1;garbage'));
    expect(e.code).toBe(4);
    expect(e.msg).toContain('CNI_ARGS');
    expect(e.msg).toContain('"garbage"');
  });
});
