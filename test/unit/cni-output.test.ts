// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { runCni } from '../../src/control/cni/main.js';
import { addResult } from '../../src/control/cni/result.js';
import { CniCode, CniError, looksLikeTimeout } from '../../src/control/cni/errors.js';
import { datastoreCniError } from '../../src/control/cni/store.js';

const conf = { cniVersion: '1.0.0', name: 'net', type: 'bpf-overlay', datastore: 'sqlite:///tmp/x.db', nodeName: 'node-1' };
const delEnv = { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' };

async function errorOf(env: NodeJS.ProcessEnv, stdin: string) {
  const out = await runCni({ env, stdin });
  expect(out.exitCode).toBe(1);
  return JSON.parse(out.stdout) as { cniVersion: string; code: number; msg: string };
}

describe('CNI process output', () => {
  it('answers VERSION with every supported version, with or without a config', async () => {
    for (const stdin of ['', '{"cniVersion":"1.0.0"}', '{"cniVersion":"9.9.9"}']) {
      const out = await runCni({ env: { CNI_COMMAND: 'VERSION' }, stdin });
      expect(out.exitCode).toBe(0);
      const reply = JSON.parse(out.stdout) as { cniVersion: string; supportedVersions: string[] };
      expect(reply.supportedVersions).toEqual(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
      expect(reply.cniVersion).toBe('1.1.0');
    }
  });

  it('reports an unsupported cniVersion with code 1', async () => {
    const e = await errorOf(delEnv, JSON.stringify({ ...conf, cniVersion: '2.0.0' }));
    expect(e).toMatchObject({ code: 1, cniVersion: '1.1.0' });
    expect(e.msg).toContain('"2.0.0"');
    // What to change, and the version the common runtimes take.
    expect(e.msg).toContain('set "cniVersion" at the top of the network config list to one of 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
    expect(e.msg).toContain('1.0.0 for podman 4 and containerd 1.6/1.7');
  });

  it('refuses CHECK before 0.4.0 and GC before 1.1.0 with code 1', async () => {
    const check = await errorOf(
      { CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0', CNI_NETNS: '/run/netns/x' },
      JSON.stringify({ ...conf, cniVersion: '0.3.1' }),
    );
    expect(check).toMatchObject({ code: 1, cniVersion: '0.3.1' });
    const gc = await errorOf({ CNI_COMMAND: 'GC' }, JSON.stringify({ ...conf, 'cni.dev/valid-attachments': [] }));
    expect(gc).toMatchObject({ code: 1, cniVersion: '1.0.0' });
    expect(gc.msg).toContain('1.1.0');
  });

  it('error objects carry the caller version and the spec code', async () => {
    expect(await errorOf(delEnv, '')).toMatchObject({ code: 6, cniVersion: '1.1.0' });
    expect(await errorOf(delEnv, '{"cniVersion":"0.4.0","name":"n"}')).toMatchObject({ code: 7, cniVersion: '0.4.0' });
    expect(await errorOf({ CNI_COMMAND: 'DEL' }, JSON.stringify(conf))).toMatchObject({ code: 4 });
  });

  it('shapes ADD results per version', () => {
    const w = { hostIfname: 'bo0', hostMac: 'ee:ee:ee:ee:ee:ee', containerIfname: 'eth0', containerMac: '02:00:00:00:00:01', netns: '/run/netns/p', address: '10.244.0.5', mtu: 1450, routeDst: '0.0.0.0/0' };
    const v1 = addResult('1.0.0', w);
    expect(v1).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'bo0', mac: 'ee:ee:ee:ee:ee:ee' },
        { name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/p' },
      ],
      ips: [{ address: '10.244.0.5/32', gateway: '169.254.1.1', interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }],
      dns: {},
    });
    expect(addResult('0.4.0', w).ips[0].version).toBe('4');
    expect(addResult('1.1.0', w).interfaces.map((i) => i.mtu)).toEqual([1450, 1450]);
    // A further attachment in the same container routes only its pool.
    expect(addResult('1.0.0', { ...w, containerIfname: 'eth1', routeDst: '10.245.0.0/16' }).routes).toEqual([{ dst: '10.245.0.0/16', gw: '169.254.1.1' }]);
  });

  it('maps anything that timed out to code 11 (try again later), other datastore failures to 103', () => {
    class DatastoreTimeoutError extends Error {
      override name = 'DatastoreTimeoutError';
    }
    const timeouts: unknown[] = [
      new DatastoreTimeoutError('etcd get took longer than 10000 ms'),
      Object.assign(new Error('connect'), { code: 'ETIMEDOUT' }),
      Object.assign(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'), { name: 'GRPCDeadlineExceededError' }),
      new Error('wrapped', { cause: new Error('operation timed out') }),
      new CniError(CniCode.TryAgainLater, 'x'),
    ];
    for (const err of timeouts) {
      expect(looksLikeTimeout(err), String(err)).toBe(true);
      expect(datastoreCniError('etcd://h:2379', err).code).toBe(11);
    }
    for (const err of [new Error('permission denied'), new CniError(CniCode.InvalidEnvironment, 'CNI_IFNAME: bad'), undefined, 'text']) {
      expect(looksLikeTimeout(err), String(err)).toBe(false);
    }
    expect(datastoreCniError('etcd://h:2379', new Error('permission denied'))).toMatchObject({ code: 103, message: 'datastore etcd://h:2379: permission denied' });
  });
});
