// SPDX-License-Identifier: Apache-2.0
// Control-plane cost at cluster scale: the real compile() and syncMap() into real BPF maps (the data path
// objects loaded under a private pin root, never attached). One child process per cluster size, so that the
// peak RSS it reports belongs to that size alone. Also the raw map write rates, single versus batch.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { compile } from '../../src/control/compile/index.js';
import { loadDatapath, type Datapath } from '../../src/control/datapath/objects.js';
import type { BpfMap, MapEntry } from '../../src/control/bpf/types.js';
import { encodeKnownNodeKey, encodeKnownNodeValue, encodeRouteKey, encodeRouteValue, Encap, NodeFlags, RouteFlags, RouteKind, ZERO_IP, ZERO_MAC } from '../../src/control/maps/layout.js';
import { overlayConfigWithDefaults } from '../../src/control/model/parse.js';
import type { BlockAffinity, IPPool, Node } from '../../src/control/model/types.js';
import { API_VERSION } from '../../src/control/model/types.js';
import { knownNodeEntries, routeEntries, settingsEntries } from '../../src/control/reconcile/encode.js';
import { MirroredMap } from '../../src/control/reconcile/map-sync.js';
import { ippool } from '../../test/lab/cluster.js';
import { measureIncremental, type IncrementalResult } from './incremental-compile.js';

export const POOLS = 20;
export const BLOCKS_PER_NODE = 4;

export interface SyncTiming {
  compileMs: number;
  syncMs: number;
  totalMs: number;
  routes: number;
  knownNodes: number;
  writes: number;
  deletes: number;
}

export interface ScaleResult {
  nodes: number;
  blocks: number;
  pools: number;
  full: SyncTiming;
  /** Median (and extremes) of `repeats` single-node adds / removes after the full sync. */
  addNode: { medianMs: number; minMs: number; maxMs: number; samples: SyncTiming[] };
  removeNode: { medianMs: number; minMs: number; maxMs: number; samples: SyncTiming[] };
  rssAfterFullMB: number;
  peakRssMB: number;
  routesMapMaxEntries: number;
  knownNodesMapMaxEntries: number;
  /** The same cluster through IncrementalCompiler.apply: one event at a time (no kernel work). */
  incremental: IncrementalResult;
}

export interface WriteRates {
  entries: number;
  batchSize: number;
  hashSinglePerSec: number;
  hashBatchPerSec: number;
  lpmSinglePerSec: number;
  /** Only when the kernel accepts batch updates on the trie (generic_map_update_batch: one update per entry inside one syscall). */
  lpmBatchPerSec: number | null;
  /** What the kernel said to a batch update on the LPM trie (it has no batch ops). */
  lpmBatch: string;
}

// Pools: 20 x /13 in 10.0.0.0/8 (8,192 /26 blocks each), modes cycling through the Calico choices.
const MODES: { vxlanMode?: 'Always' | 'CrossSubnet'; ipipMode?: 'Always' | 'CrossSubnet' }[] = [
  { vxlanMode: 'Always' },
  { ipipMode: 'Always' },
  { vxlanMode: 'CrossSubnet' },
  { ipipMode: 'CrossSubnet' },
  {},
];

export function syntheticPools(): IPPool[] {
  return Array.from({ length: POOLS }, (_, i) => ippool(`pool-${i}`, `10.${i * 8}.0.0/13`, MODES[i % MODES.length]) as IPPool);
}

function ipOf(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Node `i`: underlay 172.16.0.0/12 in /22 subnets (CrossSubnet sees both same- and other-subnet peers). */
export function syntheticNode(i: number): Node {
  const addr = (172 << 24) + (16 << 16) + i + 1;
  return {
    apiVersion: API_VERSION,
    kind: 'Node',
    metadata: { name: `node-${i}` },
    spec: { bgp: { ipv4Address: `${ipOf(addr >>> 0)}/22` } },
  };
}

/** Block `j` of node `i`: pools in turn, consecutive /26 blocks within each pool. */
export function syntheticBlocks(i: number): BlockAffinity[] {
  return Array.from({ length: BLOCKS_PER_NODE }, (_, j) => {
    const k = i * BLOCKS_PER_NODE + j;
    const pool = k % POOLS;
    const index = Math.floor(k / POOLS);
    const base = ((10 << 24) + ((pool * 8) << 16) + index * 64) >>> 0;
    const cidr = `${ipOf(base)}/26`;
    return {
      apiVersion: API_VERSION,
      kind: 'BlockAffinity',
      metadata: { name: `node-${i}-${cidr.replace(/[./]/g, '-')}` },
      spec: { node: `node-${i}`, cidr, state: 'confirmed' },
    } satisfies BlockAffinity;
  });
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const rssMB = () => process.memoryUsage().rss / 2 ** 20;

/** The agent's reconciler state for one node: a mirror per map, read from the kernel on the first sync only. */
interface Mirrors {
  routes: MirroredMap;
  knownNodes: MirroredMap;
  settings: MirroredMap;
}

function mirrorsOf(dp: Datapath): Mirrors {
  return {
    routes: new MirroredMap(() => dp.maps.routes),
    knownNodes: new MirroredMap(() => dp.maps.knownNodes),
    settings: new MirroredMap(() => dp.maps.settings),
  };
}

function compileAndSync(mirrors: Mirrors, pools: IPPool[], nodes: Node[], blocks: BlockAffinity[]): SyncTiming {
  const t0 = process.hrtime.bigint();
  const state = compile({
    pools,
    nodes,
    blockAffinities: blocks,
    workloads: [],
    localNode: 'node-0',
    config: overlayConfigWithDefaults(),
    uplinkMtu: 1500,
  });
  const compileMs = ms(t0);
  const t1 = process.hrtime.bigint();
  const r = mirrors.routes.sync(routeEntries(state.routes));
  const k = mirrors.knownNodes.sync(knownNodeEntries(state.knownNodes));
  const s = mirrors.settings.sync(settingsEntries(state.settings));
  const syncMs = ms(t1);
  return {
    compileMs,
    syncMs,
    totalMs: compileMs + syncMs,
    routes: state.routes.length,
    knownNodes: state.knownNodes.length,
    writes: r.added + r.updated + k.added + k.updated + s.added + s.updated,
    deletes: r.deleted + k.deleted + s.deleted,
  };
}

function summary(samples: SyncTiming[]) {
  const t = samples.map((s) => s.totalMs).sort((a, b) => a - b);
  return { medianMs: t[Math.floor(t.length / 2)], minMs: t[0], maxMs: t[t.length - 1], samples };
}

function withDatapath<T>(pinRoot: string, fn: (dp: Datapath) => T): T {
  // Never attached: uplinkIfindex only feeds bpf_check_mtu at run time, and lo exists everywhere.
  const dp = loadDatapath({ nodeAddr: '172.16.0.1', uplinkIfindex: 1, vtepMac: '66:00:00:00:00:01', pinRoot });
  try {
    return fn(dp);
  } finally {
    dp.close();
    rmSync(pinRoot, { recursive: true, force: true });
  }
}

export function measureScale(nodeCount: number, repeats: number, pinRoot: string): ScaleResult {
  const pools = syntheticPools();
  const nodes = Array.from({ length: nodeCount }, (_, i) => syntheticNode(i));
  const blocks = nodes.flatMap((_, i) => syntheticBlocks(i));
  return withDatapath(pinRoot, (dp) => {
    const mirrors = mirrorsOf(dp);
    const full = compileAndSync(mirrors, pools, nodes, blocks);
    const rssAfterFullMB = rssMB();
    const adds: SyncTiming[] = [];
    const removes: SyncTiming[] = [];
    for (let r = 0; r < repeats; r++) {
      const extra = nodeCount + r;
      const withExtra = [...nodes, syntheticNode(extra)];
      const extraBlocks = [...blocks, ...syntheticBlocks(extra)];
      adds.push(compileAndSync(mirrors, pools, withExtra, extraBlocks));
      removes.push(compileAndSync(mirrors, pools, nodes, blocks));
    }
    for (const s of [...adds, ...removes]) {
      if (s.writes + s.deletes !== 5 && s.writes + s.deletes !== 6) {
        // 4 block routes + 1 known node (+ nothing else) must change; anything else means the sync is not incremental.
        throw new Error(`incremental sync touched ${s.writes} writes + ${s.deletes} deletes, expected 5`);
      }
    }
    const incremental = measureIncremental({ pools, nodes, blocks, node: syntheticNode, blocksOf: syntheticBlocks }, Math.max(21, repeats));
    return {
      incremental,
      nodes: nodeCount,
      blocks: blocks.length,
      pools: pools.length,
      full,
      addNode: summary(adds),
      removeNode: summary(removes),
      rssAfterFullMB,
      peakRssMB: process.resourceUsage().maxRSS / 1024,
      routesMapMaxEntries: dp.maps.routes.maxEntries,
      knownNodesMapMaxEntries: dp.maps.knownNodes.maxEntries,
    };
  });
}

function perSec(count: number, t0: bigint): number {
  return count / (ms(t0) / 1000);
}

function clear(map: BpfMap, keys: Buffer[]): void {
  for (const key of keys) map.delete(key);
}

export function measureWriteRates(entries: number, batchSize: number, pinRoot: string): WriteRates {
  return withDatapath(pinRoot, (dp) => {
    const nodeValue = encodeKnownNodeValue({ vtepMac: ZERO_MAC, flags: NodeFlags.AllowIpip | NodeFlags.AllowVxlan, tunnelAddr: ZERO_IP });
    const hash: MapEntry[] = Array.from({ length: entries }, (_, i) => ({ key: encodeKnownNodeKey(ipOf((172 << 24) + (16 << 16) + i + 1)), value: nodeValue }));
    const lpm: MapEntry[] = Array.from({ length: entries }, (_, i) => ({
      key: encodeRouteKey(`${ipOf((10 << 24) + i * 64)}/26`),
      value: encodeRouteValue({ kind: RouteKind.RemoteBlock, encap: Encap.Vxlan, flags: RouteFlags.InPool, ifindex: 0, nextHop: '172.16.0.2', dstMac: ZERO_MAC, srcMac: ZERO_MAC }),
    }));
    // Best of 3 each, maps emptied in between, so each figure is inserts into an empty map.
    let hashSinglePerSec = 0;
    let hashBatchPerSec = 0;
    let lpmSinglePerSec = 0;
    for (let round = 0; round < 3; round++) {
      let t0 = process.hrtime.bigint();
      for (const e of hash) dp.maps.knownNodes.update(e.key, e.value, 'any');
      hashSinglePerSec = Math.max(hashSinglePerSec, perSec(entries, t0));
      clear(dp.maps.knownNodes, hash.map((e) => e.key));
      t0 = process.hrtime.bigint();
      for (let i = 0; i < hash.length; i += batchSize) dp.maps.knownNodes.batchUpdate(hash.slice(i, i + batchSize), 'any');
      hashBatchPerSec = Math.max(hashBatchPerSec, perSec(entries, t0));
      clear(dp.maps.knownNodes, hash.map((e) => e.key));
      t0 = process.hrtime.bigint();
      for (const e of lpm) dp.maps.routes.update(e.key, e.value, 'any');
      lpmSinglePerSec = Math.max(lpmSinglePerSec, perSec(entries, t0));
      clear(dp.maps.routes, lpm.map((e) => e.key));
    }
    let lpmBatch: string;
    let lpmBatchPerSec: number | null = null;
    try {
      dp.maps.routes.batchUpdate(lpm.slice(0, 16), 'any');
      lpmBatch = 'accepted';
      clear(dp.maps.routes, lpm.slice(0, 16).map((e) => e.key));
    } catch (err) {
      lpmBatch = `refused: ${(err as { code?: string }).code ?? (err as Error).message}`;
    }
    if (lpmBatch === 'accepted') {
      for (let round = 0; round < 3; round++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < lpm.length; i += batchSize) dp.maps.routes.batchUpdate(lpm.slice(i, i + batchSize), 'any');
        lpmBatchPerSec = Math.max(lpmBatchPerSec ?? 0, perSec(entries, t0));
        clear(dp.maps.routes, lpm.map((e) => e.key));
      }
    }
    return { entries, batchSize, hashSinglePerSec, hashBatchPerSec, lpmSinglePerSec, lpmBatchPerSec, lpmBatch };
  });
}

// ---- parent side -------------------------------------------------------------------------------------------

const CHILD = path.join(import.meta.dirname, 'control-child.ts');
const LOADER = path.join(import.meta.dirname, '..', '..', 'scripts', 'ts-loader.mjs');

/** Runs one measurement in a fresh Node process (same TS loader) and returns its JSON. */
export function runChild<T>(args: string[], track: (kill: () => void, pinRoot: string) => () => void, timeoutMs: number): Promise<T> {
  const pinRoot = `/sys/fs/bpf/bo-bench-${randomBytes(3).toString('hex')}`;
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', LOADER, CHILD, pinRoot, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const untrack = track(() => child.kill('SIGKILL'), pinRoot);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      untrack();
      rmSync(pinRoot, { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`control-plane child ${args.join(' ')} failed (${code ?? signal}): ${err.trim().slice(-2000)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as T);
      } catch (e) {
        reject(new Error(`control-plane child ${args.join(' ')} printed no JSON: ${out.slice(-500)} ${err.slice(-500)}`));
      }
    });
  });
}
