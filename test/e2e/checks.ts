// SPDX-License-Identifier: Apache-2.0
// What the e2e cases share: waiting for every agent to apply a datastore change, picking a flow's packets out
// of a capture, asserting and describing their encapsulation in one line, long paced TCP flows with progress
// (stalls, retransmits), and the data-path counters of a node.
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { nftTableName } from '../../src/control/compile/nft.js';
import { DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI } from '../../src/control/model/parse.js';
import { cli } from '../harness/agent.js';
import { repoRoot } from '../harness/cni.js';
import type { Netns } from '../harness/netns.js';
import { Cluster, type CaptureSummary, type ClusterNode, type ClusterOptions, type DissectedPacket, type Encapsulation, type Workload } from '../lab/cluster.js';

const SCRIPTS = path.join(repoRoot, 'test', 'lab', 'scripts');
/** What the agents use with no OverlayConfiguration (the e2e clusters apply none). */
export const VXLAN_PORT = DEFAULT_VXLAN_PORT;
export const VXLAN_VNI = DEFAULT_VXLAN_VNI;

/** Lines printed at the end of a file: one per case, what it saw on the wire. */
export class CaseLog {
  readonly lines: string[] = [];
  constructor(readonly file: string) {}
  add(line: string): void {
    this.lines.push(line);
    console.log(line);
  }
  print(startedAt: number): void {
    console.log(`\n== ${this.file}: ${this.lines.length} summary lines in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n${this.lines.join('\n')}`);
  }
}

/**
 * One cluster for the enclosing describe: created in beforeAll, then `setup` (keep the cluster, add workloads),
 * destroyed in afterAll once the file's summary lines are printed with its duration.
 */
export function clusterPerFile(file: string, opts: ClusterOptions, setup: (cluster: Cluster, log: CaseLog) => void | Promise<void>): CaseLog {
  const log = new CaseLog(file);
  const started = Date.now();
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await Cluster.create(opts);
    await setup(cluster, log);
  }, 180_000);
  afterAll(async () => {
    log.print(started);
    await cluster?.destroy();
  }, 120_000);
  return log;
}

function nodeStatus(cluster: Cluster, node: ClusterNode): { inSync: boolean } | undefined {
  try {
    const out = cli(['status', '--node', node.name, '--bpffs', cluster.bpffs, '-o', 'json', '--datastore', cluster.datastoreUrl], { ns: node.ns });
    return JSON.parse(out) as { inSync: boolean };
  } catch {
    // status exits 1 while the maps differ from the datastore
    return undefined;
  }
}

/** Waits until `bpf-overlay status` reports every running agent's maps equal to the datastore; returns ms. */
export async function waitInSync(cluster: Cluster, timeoutMs = 20_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const pending = cluster.nodes.filter((n) => n.agent && !nodeStatus(cluster, n)?.inSync);
    if (pending.length === 0) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`maps of ${pending.map((n) => n.name).join(', ')} not in sync after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Packets of the conversation between two addresses, in either direction, by their innermost header. */
export function between(summary: CaptureSummary, a: string, b: string): DissectedPacket[] {
  return summary.packets.filter((p) => (p.innerSrc === a && p.innerDst === b) || (p.innerSrc === b && p.innerDst === a));
}

/** Packets carrying any of the addresses, outer or inner. */
export function touching(summary: CaptureSummary, addresses: string[]): DissectedPacket[] {
  const set = new Set(addresses);
  return summary.packets.filter((p) => [p.src, p.dst, p.innerSrc, p.innerDst].some((x) => x !== undefined && set.has(x)));
}

export function countByEncap(packets: DissectedPacket[]): Record<Encapsulation, number> {
  const counts: Record<Encapsulation, number> = { plain: 0, ipip: 0, vxlan: 0, other: 0 };
  for (const p of packets) counts[p.encap]++;
  return counts;
}

/** "1234 VXLAN VNI 4096, 0 IPIP, 0 plain, 0 malformed, 0 bad checksums" */
export function describePackets(packets: DissectedPacket[]): string {
  const c = countByEncap(packets);
  const vnis = [...new Set(packets.flatMap((p) => (p.vni === undefined ? [] : [p.vni])))];
  const malformed = packets.filter((p) => p.expert.some((m) => /malformed/i.test(m))).length;
  const badSum = packets.filter((p) => p.expert.some((m) => /checksum/i.test(m) && /bad|incorrect/i.test(m))).length;
  return (
    `${c.vxlan} VXLAN${vnis.length ? ` VNI ${vnis.join('/')}` : ''}, ${c.ipip} IPIP, ${c.plain} plain` +
    `${c.other ? `, ${c.other} other` : ''}, ${malformed} malformed, ${badSum} bad checksums`
  );
}

/**
 * Every packet is `encap` (and there is at least one); encapsulated ones travel between the two node
 * addresses, VXLAN on UDP 4789 with VNI 4096. No malformed frames.
 */
export function expectEncap(packets: DissectedPacket[], encap: 'plain' | 'ipip' | 'vxlan', nodes?: [string, string]): void {
  expect(packets.length, 'no packet of the flow in the capture').toBeGreaterThan(0);
  const wrong = packets.filter((p) => p.encap !== encap);
  expect(wrong.map((p) => `#${p.frame} ${p.encap} ${p.src}->${p.dst}`), `packets not ${encap}`).toEqual([]);
  expect(packets.filter((p) => p.expert.some((m) => /malformed/i.test(m))).length).toBe(0);
  if (encap === 'plain') return;
  for (const p of packets) {
    if (nodes) expect([p.src, p.dst].sort()).toEqual([...nodes].sort());
    if (encap === 'vxlan') {
      expect(p.vni).toBe(VXLAN_VNI);
      expect(p.udpDstPorts[0]).toBe(VXLAN_PORT);
      expect(p.protos[0]).toBe(17);
    } else {
      expect(p.protos[0]).toBe(4);
    }
  }
}

export interface FlowResult {
  ok: boolean;
  bytes: number;
  receivedBytes: number;
  sha256Match: boolean;
  ms: number;
  /** Longest time the receiver got nothing, after the first byte. */
  maxGapMs: number;
  /** Wall-clock time (ms since epoch) at which that longest gap began. */
  gapAt: number;
  perSecond: number[];
  /** TCP segments retransmitted by the sender's namespace during the flow. */
  retransmits: number;
  sentSegments: number;
  error?: string;
}

export interface Flow {
  srcPort?: number;
  done: Promise<FlowResult>;
}

function tcpCounters(ns: Netns): { retrans: number; out: number } {
  const lines = ns.exec('cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/).map(Number);
  return { retrans: values[names.indexOf('RetransSegs')], out: values[names.indexOf('OutSegs')] };
}

function lastJson(text: string): Record<string, unknown> {
  const l = text.trim().split('\n').filter((x) => x.startsWith('{'));
  return l.length ? (JSON.parse(l[l.length - 1]) as Record<string, unknown>) : { error: text.trim() || 'no output' };
}

/**
 * A TCP flow of `bytes` random bytes paced at `rate` bytes/s from one workload to another; resolves when it
 * ends (or fails). Returns once the connection is being set up, so the caller can act while it runs.
 */
export async function startPacedFlow(
  cluster: Cluster,
  from: Workload,
  to: Workload,
  opts: { bytes: number; rate: number; port?: number; timeoutMs?: number },
): Promise<Flow> {
  const port = opts.port ?? 15101;
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const sink = cluster.topo.track(
    to.ns.spawn(process.execPath, [path.join(SCRIPTS, 'tcp-progress-sink.mjs'), to.address, String(port), String(timeoutMs)], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let sinkOut = '';
  sink.stdout!.on('data', (d: Buffer) => (sinkOut += d.toString()));
  sink.stderr!.on('data', (d: Buffer) => (sinkOut += d.toString()));
  const sinkExit = new Promise<void>((r) => sink.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!sinkOut.includes('listening')) {
    if (sink.exitCode !== null || Date.now() > deadline) throw new Error(`progress sink did not listen: ${sinkOut}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const before = tcpCounters(from.ns);
  const source = cluster.topo.track(
    from.ns.spawn(process.execPath, [path.join(SCRIPTS, 'tcp-source.mjs'), to.address, String(port), String(opts.bytes), String(timeoutMs), String(opts.rate)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let srcOut = '';
  source.stdout!.on('data', (d: Buffer) => (srcOut += d.toString()));
  source.stderr!.on('data', (d: Buffer) => (srcOut += d.toString()));
  const sourceExit = new Promise<void>((r) => source.once('exit', () => r()));
  const done = (async (): Promise<FlowResult> => {
    const guard = setTimeout(() => {
      source.kill('SIGKILL');
      sink.kill('SIGKILL');
    }, timeoutMs + 10_000);
    await Promise.all([sourceExit, sinkExit]);
    clearTimeout(guard);
    const after = tcpCounters(from.ns);
    const sent = lastJson(srcOut);
    const got = lastJson(sinkOut.replace('listening\n', ''));
    const error = (sent.error ?? got.error) as string | undefined;
    const r: FlowResult = {
      ok: false,
      bytes: Number(sent.bytes ?? 0),
      receivedBytes: Number(got.bytes ?? 0),
      sha256Match: sent.sha256 !== undefined && sent.sha256 === got.sha256,
      ms: Number(got.ms ?? 0),
      maxGapMs: Number(got.maxGapMs ?? 0),
      gapAt: Number(got.gapAtMs ?? 0),
      perSecond: (got.perSecond as number[] | undefined) ?? [],
      retransmits: after.retrans - before.retrans,
      sentSegments: after.out - before.out,
    };
    if (error) r.error = error;
    r.ok = !error && r.bytes === opts.bytes && r.receivedBytes === opts.bytes && r.sha256Match;
    return r;
  })();
  return { done };
}

export function describeFlow(r: FlowResult): string {
  return (
    `${(r.receivedBytes / 1e6).toFixed(1)}/${(r.bytes / 1e6).toFixed(1)} MB in ${(r.ms / 1000).toFixed(1)} s, ` +
    `checksum ${r.sha256Match ? 'match' : 'MISMATCH'}, longest stall ${r.maxGapMs} ms, ` +
    `${r.retransmits} retransmitted of ${r.sentSegments} segments${r.error ? `, error: ${r.error}` : ''}`
  );
}

/** Sum of a node's data-path counters (packets), read from its pinned counter map. */
export function counterTotals(cluster: Cluster, node: ClusterNode): { packets: number; rows: { hook: string; encap: string; reason: string; packets: number }[] } {
  const out = cli(['counters', '--node', node.name, '--bpffs', cluster.bpffs, '--json'], { ns: node.ns });
  const rows = (JSON.parse(out) as { counters: { hook: string; encap: string; reason: string; packets: number }[] }).counters;
  return { packets: rows.reduce((s, r) => s + r.packets, 0), rows };
}

/** Counter rows of a node that grew between two readings and are drops or frag-needed, "hook/encap/reason +N". */
export function notableCounterGrowth(
  before: ReturnType<typeof counterTotals>,
  after: ReturnType<typeof counterTotals>,
): string[] {
  const key = (r: { hook: string; encap: string; reason: string }) => `${r.hook}/${r.encap}/${r.reason}`;
  const old = new Map(before.rows.map((r) => [key(r), r.packets]));
  return after.rows
    .filter((r) => /drop|frag/i.test(r.reason) && r.packets > (old.get(key(r)) ?? 0))
    .map((r) => `${key(r)} +${r.packets - (old.get(key(r)) ?? 0)}`);
}

/** The node's natOutgoing pool set as nft holds it: the agent applied the change once this flips. */
function natPools(node: ClusterNode): string {
  const out = JSON.parse(node.ns.exec('nft', ['-j', 'list', 'set', 'ip', nftTableName(node.name), 'nat_pools'])) as {
    nftables: { set?: { elem?: unknown[] } }[];
  };
  return JSON.stringify(out.nftables.find((x) => x.set)?.set?.elem ?? []);
}

/** Waits until every node masquerades (or no longer masquerades) the pool at `poolNetwork`; returns ms. */
export async function waitNat(cluster: Cluster, wantPool: boolean, poolNetwork = '10.244.0.0'): Promise<number> {
  const started = Date.now();
  for (;;) {
    const pending = cluster.nodes.filter((n) => natPools(n).includes(poolNetwork) !== wantPool);
    if (pending.length === 0) return Date.now() - started;
    if (Date.now() - started > 15_000) throw new Error(`natOutgoing=${wantPool} not applied on ${pending.map((n) => n.name).join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Packets of one counter row of a node ("from-workload", "vxlan", "drop-tunnel-from-workload"), 0 when absent. */
export function counterOf(cluster: Cluster, node: ClusterNode, hook: string, encap: string, reason: string): number {
  return counterTotals(cluster, node).rows.find((r) => r.hook === hook && r.encap === encap && r.reason === reason)?.packets ?? 0;
}
