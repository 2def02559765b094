// SPDX-License-Identifier: Apache-2.0
// Deadlines: an etcd endpoint that accepts TCP connections and never answers (a tiny silent server on
// 127.0.0.1, nothing leaves the host) must fail every caller in bounded time, naming the endpoint; the CNI
// plugin reports it as "try again later" (code 11).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCni } from '../../src/control/cni/main.js';
import { CniCode, datastoreFailureCode } from '../../src/control/cni/errors.js';
import { DatastoreError, DatastoreTimeoutError, openDatastore } from '../../src/control/datastore/index.js';
import { requireBuiltCli } from '../harness/agent.js';
import { runCliAsync } from '../harness/lifecycle-contract.js';

let server: net.Server;
const sockets = new Set<net.Socket>();
let endpoint: string;

beforeAll(async () => {
  requireBuiltCli();
  server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('etcd deadlines against a silent endpoint', () => {
  it('fails a datastore call with DatastoreTimeoutError naming the endpoint, within its deadline', async () => {
    const ds = await openDatastore(`etcd://${endpoint}`, { callTimeoutMs: 1_000 });
    const started = Date.now();
    try {
      const err = await ds.list('IPPool').then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(DatastoreTimeoutError);
      expect((err as DatastoreTimeoutError).endpoint).toBe(`http://${endpoint}`);
      expect((err as Error).message).toContain(`etcd at http://${endpoint} did not answer within 1000 ms`);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await ds.close();
    }
  });

  it('every CLI command exits 1 within 10 s with one line naming the endpoint', async () => {
    const commands = [['get', 'ippools'], ['apply', '-f', '-'], ['delete', 'ippool', 'x'], ['ipam', 'check']];
    // One at a time: four Node start-ups at once on a 2-core runner measure the machine, not the deadline.
    const results = [];
    for (const args of commands) results.push(await runCliAsync(`etcd://${endpoint}`, args));
    results.forEach((res, i) => {
      console.log(`[deadline] bpf-overlay ${commands[i].join(' ')}: exit ${res.code} after ${res.ms} ms`);
      expect(res.code).toBe(1);
      expect(res.ms).toBeLessThan(10_000);
      const lines = res.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^bpf-overlay ${commands[i][0]}: etcd at http://${endpoint} did not answer within 5000 ms`));
    });
  }, 60_000);

  it('CNI ADD answers code 11 "try again later" within 10 s', async () => {
    const started = Date.now();
    const out = await runCni({
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'deadline-test', CNI_IFNAME: 'eth0', CNI_NETNS: '/proc/self/ns/net', CNI_PATH: '/opt/cni/bin' },
      stdin: JSON.stringify({ cniVersion: '1.0.0', name: 'net', type: 'bpf-overlay', datastore: `etcd://${endpoint}`, nodeName: 'n1' }),
    });
    const elapsed = Date.now() - started;
    expect(out.exitCode).toBe(1);
    const reply = JSON.parse(out.stdout) as { code: number; msg: string };
    expect(reply.code).toBe(CniCode.TryAgainLater);
    expect(reply.msg).toContain(`etcd at http://${endpoint} did not answer`);
    expect(elapsed).toBeLessThan(10_000);
    console.log(`[deadline] CNI ADD: code ${reply.code} after ${elapsed} ms`);
  }, 20_000);

  it('maps a timeout to CNI code 11 and any other datastore failure to 103', () => {
    expect(datastoreFailureCode(new DatastoreTimeoutError('slow', 'http://x:1', 5))).toBe(CniCode.TryAgainLater);
    expect(datastoreFailureCode(new DatastoreError('refused'))).toBe(CniCode.DatastoreFailure);
  });
});
