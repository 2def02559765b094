// SPDX-License-Identifier: Apache-2.0
// Record lifecycle and IPAM safety, written once and run against every backend (SQLite in test/unit, etcd in
// test/integration): no block claimed over a live one, apply races, pool and node deletion, ipam check.
// Each test gets an empty store from freshStore(); the CLI runs as the built dist/cli.js, as it ships.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatastore, type Datastore } from '../../src/control/datastore/index.js';
import { ipamHandle, NETWORK_ANNOTATION } from '../../src/control/cni/names.js';
import type { IPAMBlock } from '../../src/control/datastore/index.js';
import { assignAddress, assignInTxn, checkIpam, ensureTunnelAddress, releaseByHandle, tunnelHandle } from '../../src/control/ipam/index.js';
import { API_VERSION, type BlockAffinity, type WorkloadEndpoint } from '../../src/control/model/types.js';
import { CLI, requireBuiltCli } from './agent.js';
import { testPool } from './datastore-contract.js';
import { createNodes, labelEqualsSelector as selects } from './ipam-fixtures.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function runCli(url: string, args: string[], input?: string): CliResult {
  const started = Date.now();
  const res = spawnSync(process.execPath, [CLI, '--datastore', url, ...args], {
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr, ms: Date.now() - started };
}

/** The same, without blocking the test's event loop: what concurrent runs need. */
export function runCliAsync(url: string, args: string[]): Promise<CliResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--datastore', url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function poolYaml(name: string, cidr: string): string {
  return `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: ${name}}\nspec: {cidr: ${cidr}, vxlanMode: Always}\n`;
}

/** Every address of every block, with the block it sits in. */
async function allocations(ds: Datastore): Promise<{ address: string; handle: string; block: string }[]> {
  return (await ds.list('IPAMBlock')).flatMap((b) =>
    Object.entries(b.spec.allocations).map(([address, a]) => ({ address, handle: a.handle, block: b.spec.cidr })),
  );
}

/** What a test compares before and after a refused command: everything stored. */
async function snapshot(ds: Datastore): Promise<string> {
  const kinds = ['IPPool', 'Node', 'BlockAffinity', 'OverlayConfiguration', 'WorkloadEndpoint', 'IPAMBlock'] as const;
  return JSON.stringify(await Promise.all(kinds.map((k) => ds.list(k))));
}

/** A workload as the CNI plugin records it: an address under its handle, and its WorkloadEndpoint. */
async function addWorkload(ds: Datastore, node: string, containerID: string): Promise<string> {
  const handle = ipamHandle('net', containerID, 'eth0');
  const { address, pool } = await assignAddress(
    ds,
    { node, handle, attributes: { network: 'net', node, containerID, ifname: 'eth0' } },
    selects,
  );
  const wep: WorkloadEndpoint = {
    apiVersion: API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: { name: `${node}.wl-${containerID}`, annotations: { [NETWORK_ANNOTATION]: 'net' } },
    spec: {
      node,
      containerID,
      interfaceName: 'eth0',
      hostInterface: `bo${containerID}`.slice(0, 13),
      hostIfindex: 10,
      hostMac: '02:00:00:00:00:01',
      mac: '02:00:00:00:00:02',
      ipNetworks: [`${address}/32`],
      pool,
    },
  };
  await ds.create(wep);
  return address;
}

export function lifecycleContract(backend: string, freshStore: () => Promise<string>): void {
  const dir = mkdtempSync(join(tmpdir(), 'bo-lifecycle-'));
  beforeAll(() => requireBuiltCli());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const withStore = async (fn: (ds: Datastore, url: string) => Promise<void>): Promise<void> => {
    const url = await freshStore();
    const ds = await openDatastore(url);
    try {
      await fn(ds, url);
    } finally {
      await ds.close();
    }
  };

  it(`${backend}: a pool re-created with another blockSize never claims a block over a live one`, () =>
    withStore(async (ds) => {
      // The scenario: 10.5.0.0/26 is live (n1 holds 10.5.0.1); the pool is re-created with /24 blocks.
      await ds.create(testPool('p', '10.5.0.0/16', { blockSize: 26 }));
      await createNodes(ds, ['n1', 'n2']);
      const first = await assignAddress(ds, { node: 'n1', handle: 'c1' }, selects);
      expect(first).toEqual({ address: '10.5.0.1', block: '10.5.0.0/26', pool: 'p' });
      await ds.delete('IPPool', 'p');
      await ds.create(testPool('p2', '10.5.0.0/16', { blockSize: 24 }));
      const second = await assignAddress(ds, { node: 'n2', handle: 'c2' }, selects);
      // 10.5.0.0/24 overlaps the live /26: the first free /24 is the next one.
      expect(second).toEqual({ address: '10.5.1.0', block: '10.5.1.0/24', pool: 'p2' });
      const more = [];
      for (let i = 0; i < 300; i++) more.push((await assignAddress(ds, { node: 'n2', handle: `m${i}` }, selects)).address);
      const all = await allocations(ds);
      expect(new Set(all.map((a) => a.address)).size).toBe(all.length);
      expect(all.filter((a) => a.address === '10.5.0.1')).toEqual([{ address: '10.5.0.1', handle: 'c1', block: '10.5.0.0/26' }]);
      expect((await ds.list('IPAMBlock')).map((b) => b.spec.cidr).sort()).toEqual(['10.5.0.0/26', '10.5.1.0/24', '10.5.2.0/24']);
    }));

  it(`${backend}: a claim whose pool is re-created before it commits re-runs instead of overlapping the new pool's block`, () =>
    withStore(async (ds, url) => {
      await ds.create(testPool('p', '10.18.0.0/16', { blockSize: 26 }));
      await createNodes(ds, ['n1', 'n2']);
      const other = await openDatastore(url);
      let attempts = 0;
      try {
        const got = await ds.transact(async (tx) => {
          const assignment = await assignInTxn(tx, { node: 'n1', handle: 'slow' }, selects);
          if (attempts++ === 0) {
            // Between this claim's reads and its commit: the pool is re-created with /24 blocks and n2 claims one.
            await other.delete('IPPool', 'p');
            await other.create(testPool('p', '10.18.0.0/16', { blockSize: 24 }));
            await assignAddress(other, { node: 'n2', handle: 'fast' }, selects);
          }
          return assignment;
        });
        expect(attempts).toBe(2);
        expect(got.block).toBe('10.18.1.0/24');
      } finally {
        await other.close();
      }
      const report = checkIpam({ blocks: await ds.list('IPAMBlock'), nodes: await ds.list('Node'), endpoints: [] });
      expect(report.overlappingBlocks).toBe(0);
      expect(report.doubleHeld).toBe(0);
    }));

  it(`${backend}: a bare affinity claims its range too, and a smaller blockSize fits beside a bigger block`, () =>
    withStore(async (ds) => {
      const affinity: BlockAffinity = {
        apiVersion: API_VERSION,
        kind: 'BlockAffinity',
        metadata: { name: 'old-10-6-0-0-24' },
        spec: { node: 'old', cidr: '10.6.0.0/24', state: 'confirmed', deleted: false },
      };
      await ds.create(affinity);
      await ds.create(testPool('p', '10.6.0.0/16', { blockSize: 26 }));
      await createNodes(ds, ['n1']);
      // The four /26 inside the affinity's /24 are skipped.
      expect((await assignAddress(ds, { node: 'n1', handle: 'c1' }, selects)).block).toBe('10.6.1.0/26');
    }));

  it(`${backend}: of two concurrent applies of overlapping pools exactly one is stored, 10 of 10 tries`, async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const url = await freshStore();
      const a = join(dir, `race-a-${i}.yaml`);
      const b = join(dir, `race-b-${i}.yaml`);
      writeFileSync(a, poolYaml('race-a', '10.7.0.0/16'));
      writeFileSync(b, poolYaml('race-b', '10.7.128.0/17'));
      const [ra, rb] = await Promise.all([runCliAsync(url, ['apply', '-f', a]), runCliAsync(url, ['apply', '-f', b])]);
      const ds = await openDatastore(url);
      const stored = (await ds.list('IPPool')).map((p) => p.metadata.name);
      await ds.close();
      expect(stored).toHaveLength(1);
      const [winner, loser] = stored[0] === 'race-a' ? [ra, rb] : [rb, ra];
      expect(winner.code).toBe(0);
      expect(loser.code).toBe(1);
      expect(loser.stderr).toMatch(/overlap/i);
      expect(loser.stderr).toMatch(/race-(a|b)/);
      outcomes.push(stored[0]);
    }
    console.log(`[${backend}] apply race winners: ${outcomes.join(' ')}`);
  });

  it(`${backend}: deleting a pool whose blocks hold addresses needs --force, names the pool and the count, changes nothing`, () =>
    withStore(async (ds, url) => {
      await ds.create(testPool('busy', '10.12.0.0/16'));
      await ds.create(testPool('idle', '10.13.0.0/16'));
      await createNodes(ds, ['n1']);
      await addWorkload(ds, 'n1', 'c1');
      await addWorkload(ds, 'n1', 'c2');
      await ensureTunnelAddress(ds, 'n1', (p) => p.metadata.name === 'busy');
      const before = await snapshot(ds);
      const refused = runCli(url, ['delete', 'ippool', 'busy']);
      expect(refused.code).toBe(1);
      expect(refused.stderr.trim().split('\n')).toEqual([
        'bpf-overlay delete: IPPool "busy": 3 address(es) in use in 1 of its blocks (2 workload, 1 tunnel); release them first, ' +
          'or delete with --force (the blocks holding them are kept until they are released)',
      ]);
      expect(refused.ms).toBeLessThan(10_000);
      // A file naming an idle and a busy pool: refused as a whole, the idle pool stays too.
      const file = join(dir, `pools-${backend}.yaml`);
      writeFileSync(file, `${poolYaml('idle', '10.13.0.0/16')}---\n${poolYaml('busy', '10.12.0.0/16')}`);
      const refusedFile = runCli(url, ['delete', '-f', file]);
      expect(refusedFile.code).toBe(1);
      expect(refusedFile.stderr).toMatch(/^bpf-overlay delete: IPPool "busy": 3 address\(es\) in use/);
      expect(await snapshot(ds)).toBe(before);

      const forced = runCli(url, ['delete', '-f', file, '--force']);
      expect(forced.code).toBe(0);
      expect(forced.stdout).toBe(
        'ippool/idle deleted\nippool/busy deleted with --force: 3 address(es) still in use keep their 1 block(s) until released\n',
      );
      expect(await ds.list('IPPool')).toEqual([]);
      // The busy block stays claimed: a new pool over the same range carves around it.
      expect((await ds.list('IPAMBlock')).map((b) => b.spec.cidr)).toEqual(['10.12.0.0/26']);
      await ds.create(testPool('again', '10.12.0.0/16', { blockSize: 24 }));
      expect((await assignAddress(ds, { node: 'n1', handle: 'c3' }, selects)).block).toBe('10.12.1.0/24');
      // Once its last address is released, the block of the deleted pool goes, with its affinity.
      for (const handle of [ipamHandle('net', 'c1', 'eth0'), ipamHandle('net', 'c2', 'eth0'), tunnelHandle('n1', 'vxlan')]) {
        await releaseByHandle(ds, handle);
      }
      expect((await ds.list('IPAMBlock')).map((b) => b.spec.cidr)).toEqual(['10.12.1.0/24']);
      expect((await ds.list('BlockAffinity')).map((a) => a.spec.cidr)).toEqual(['10.12.1.0/24']);
    }));

  it(`${backend}: deleting an unused pool removes its empty blocks and their affinities`, () =>
    withStore(async (ds, url) => {
      await ds.create(testPool('p', '10.14.0.0/16'));
      await createNodes(ds, ['n1']);
      const a = await assignAddress(ds, { node: 'n1', handle: 'h1' }, selects);
      await ds.transact(async (tx) => {
        const b = (await tx.get('IPAMBlock', '10-14-0-0-26'))!;
        tx.put({ ...b, spec: { ...b.spec, allocations: {} } });
      });
      expect(a.block).toBe('10.14.0.0/26');
      const res = runCli(url, ['delete', 'ippool', 'p']);
      expect(res).toMatchObject({ code: 0, stdout: 'ippool/p deleted\n' });
      expect(await ds.list('IPAMBlock')).toEqual([]);
      expect(await ds.list('BlockAffinity')).toEqual([]);
      expect(runCli(url, ['delete', 'ippool', 'p'])).toMatchObject({ code: 1, stderr: 'bpf-overlay delete: IPPool "p" not found\n' });
    }));

  it(`${backend}: delete node releases its endpoints, addresses, tunnel addresses, blocks and affinities, and nothing of others`, () =>
    withStore(async (ds, url) => {
      await ds.create(testPool('p', '10.15.0.0/16', { blockSize: 28 }));
      await createNodes(ds, ['gone', 'stays']);
      for (let i = 0; i < 20; i++) await addWorkload(ds, 'gone', `g${i}`);
      await ensureTunnelAddress(ds, 'gone', selects);
      const kept = await addWorkload(ds, 'stays', 's1');
      await ensureTunnelAddress(ds, 'stays', selects);
      const res = runCli(url, ['delete', 'node', 'gone']);
      expect(res.stderr).toBe('');
      expect(res).toMatchObject({
        code: 0,
        stdout: 'node/gone deleted (released 21 address(es), 2 block(s), 2 affinity(ies), 20 endpoint(s))\n',
      });
      expect((await ds.list('Node')).map((n) => n.metadata.name)).toEqual(['stays']);
      expect((await ds.list('WorkloadEndpoint')).map((w) => w.spec.node)).toEqual(['stays']);
      expect((await ds.list('BlockAffinity')).map((a) => a.spec.node)).toEqual(['stays']);
      const left = await allocations(ds);
      expect(left.map((a) => a.handle).sort()).toEqual([ipamHandle('net', 's1', 'eth0'), tunnelHandle('stays', 'vxlan')].sort());
      expect(left.map((a) => a.address)).toContain(kept);
      expect(runCli(url, ['ipam', 'check'])).toMatchObject({ code: 0 });
      expect(runCli(url, ['delete', 'node', 'gone'])).toMatchObject({ code: 1, stderr: 'bpf-overlay delete: Node "gone" not found\n' });
    }));

  it(`${backend}: ipam check reports leaked and double-held addresses and overlapping blocks, as a table and JSON`, () =>
    withStore(async (ds, url) => {
      await ds.create(testPool('p', '10.16.0.0/16'));
      await createNodes(ds, ['n1']);
      await addWorkload(ds, 'n1', 'c1');
      await ensureTunnelAddress(ds, 'n1', selects);
      const clean = runCli(url, ['ipam', 'check']);
      expect(clean).toMatchObject({ code: 0, stdout: '1 block(s), 2 address(es) allocated: 0 leaked, 0 double-held, 0 overlapping block pair(s)\n' });

      // A workload whose endpoint is gone (DEL lost), a tunnel address of a vanished node, and a block written
      // over the live one (what the old exact-CIDR claim produced) handing 10.16.0.1 out a second time.
      const leakedHandle = ipamHandle('net', 'lost', 'eth0');
      await assignAddress(ds, { node: 'n1', handle: leakedHandle }, selects);
      await assignAddress(ds, { node: 'n1', handle: tunnelHandle('ghost', 'vxlan') }, selects);
      const overlapping: IPAMBlock = {
        apiVersion: API_VERSION,
        kind: 'IPAMBlock',
        metadata: { name: '10-16-0-0-24' },
        spec: { cidr: '10.16.0.0/24', pool: 'p', node: 'n1', allocations: { '10.16.0.1': { handle: 'twice' } } },
      };
      await ds.create(overlapping);
      const before = await snapshot(ds);
      const table = runCli(url, ['ipam', 'check']);
      expect(table.code).toBe(1);
      expect(table.stdout.split('\n')[0]).toBe('2 block(s), 5 address(es) allocated: 3 leaked, 1 double-held, 1 overlapping block pair(s)');
      expect(table.stdout).toMatch(new RegExp(`leaked\\s+10\\.16\\.0\\.3\\s+10\\.16\\.0\\.0/26\\s+${leakedHandle}\\s+no WorkloadEndpoint`));
      expect(table.stdout).toMatch(/leaked\s+10\.16\.0\.4\s+10\.16\.0\.0\/26\s+tunnel:ghost:vxlan\s+tunnel address of Node "ghost", which does not exist/);
      expect(table.stdout).toMatch(/double-held\s+10\.16\.0\.1\s+10\.16\.0\.0\/24\s+twice\s+held 2 times/);
      expect(table.stdout).toMatch(/overlapping-blocks\s+-\s+10\.16\.0\.0\/24\s+-\s+overlaps block 10\.16\.0\.0\/26/);
      const json = runCli(url, ['ipam', 'check', '-o', 'json']);
      expect(json.code).toBe(1);
      const report = JSON.parse(json.stdout) as { leaked: number; doubleHeld: number; overlappingBlocks: number; problems: { problem: string; address: string }[] };
      expect(report).toMatchObject({ blocks: 2, addresses: 5, leaked: 3, doubleHeld: 1, overlappingBlocks: 1 });
      expect(report.problems.filter((p) => p.problem === 'double-held').map((p) => p.address)).toEqual(['10.16.0.1', '10.16.0.1']);
      expect(await snapshot(ds)).toBe(before);
      expect(runCli(url, ['ipam', 'nope'])).toMatchObject({ code: 2 });
    }));
}
