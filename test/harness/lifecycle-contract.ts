// Record lifecycle and IPAM safety, written once and run against every backend (SQLite in test/unit, etcd in
// test/integration): no block claimed over a live one, apply races, pool and node deletion, ipam check.
// Each test gets an empty store from freshStore(); the CLI runs as the built dist/cli.js, as it ships.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatastore, type Datastore } from '../../src/control/datastore/index.js';
import { assignAddress, ensureTunnelAddress, tunnelHandle } from '../../src/control/ipam/index.js';
import { API_VERSION, type BlockAffinity } from '../../src/control/model/types.js';
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
}
