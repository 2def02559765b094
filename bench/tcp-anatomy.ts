// SPDX-License-Identifier: Apache-2.0
// Why a multi-stream TCP path costs what it costs: runs iperf3 -P N on plain routing and on bpf-overlay IPIP
// (tc decap) and records, per run, what the packets look like at each hop and where the CPU went:
//  - average bytes per skb at the client pod's eth0 (tx), the sending node's uplink (tx), the receiving node's
//    uplink (rx) and the server pod's eth0 (rx): a GSO/GRO super-packet shows as ~64 KB, a segmented one as ~1.5 KB;
//  - TCP segments in and out of the server pod (TcpInSegs counts wire segments, so InSegs/rx-skbs is the GRO factor);
//  - per-CPU softirq time and NET_RX/NET_TX softirq counts (/proc/stat, /proc/softirqs: the whole host);
//  - optionally a cpu-clock profile of the whole host (perf record -a), top kernel symbols.
// Each variant (a reversible offload or sysctl setting inside the test namespaces) runs on both paths.
// Run as root: npx tsc -p bench/tsconfig.json && node --import ./scripts/ts-loader.mjs bench/tcp-anatomy.ts [--streams=4,1] [--seconds=4] [--rounds=3] [--perf] [--udp] [--xdp] [--vxlan] [--variants=default,...]
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster } from '../test/lab/cluster.js';
import type { Netns } from '../test/harness/netns.js';
import { bpfPaths, kernelPaths, type BenchPath } from './lib/paths.js';
import { startServers, tcpThroughput, udpSmallPackets, waitForServers } from './lib/traffic.js';
import { perCpuJiffies } from './lib/proc-stat.js';
import { profile } from './lib/transfer-cpu.js';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const STREAMS = (process.argv.find((a) => a.startsWith('--streams='))?.split('=')[1] ?? '4').split(',').map(Number);
const SECONDS = arg('seconds', 4);
const ROUNDS = arg('rounds', 3);
const PERF = process.argv.includes('--perf');
/** UDP 64-byte datagrams instead of TCP: the per-packet cost, where GSO cannot amortize the programs. */
const UDP = process.argv.includes('--udp');
/** bpf-ipip with XDP decap (forced on the veth uplinks) instead of tc decap. */
const XDP = process.argv.includes('--xdp');
/** bpf-vxlan (VXLAN Always pool) instead of bpf-ipip. */
const VXLAN = process.argv.includes('--vxlan');

interface Hop {
  label: string;
  ns: Netns;
  ifname: string;
  dir: 'tx' | 'rx';
}

interface DirStats {
  packets: number;
  bytes: number;
  dropped: number;
}

function ifStats(ns: Netns, ifname: string): { rx: DirStats; tx: DirStats } {
  const j = JSON.parse(ns.ip('-j', '-s', 'link', 'show', 'dev', ifname))[0].stats64;
  const pick = (d: { packets: number; bytes: number; dropped: number }) => ({ packets: d.packets, bytes: d.bytes, dropped: d.dropped });
  return { rx: pick(j.rx), tx: pick(j.tx) };
}

/** /proc/net/softnet_stat per CPU: processed, dropped (backlog full), time_squeeze (budget ran out). Host-wide. */
function softnet(): { processed: number[]; dropped: number[]; squeezed: number[] } {
  const rows = readFileSync('/proc/net/softnet_stat', 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map((h) => parseInt(h, 16)));
  return { processed: rows.map((r) => r[0]), dropped: rows.map((r) => r[1]), squeezed: rows.map((r) => r[2]) };
}

function nstat(ns: Netns): Record<string, number> {
  const out = spawnSync('nsenter', [`--net=${ns.path}`, '--', 'nstat', '-a', '-z', '-s', '-j'], { encoding: 'utf8' }).stdout;
  const j = JSON.parse(out) as { kernel: Record<string, number> };
  return j.kernel;
}

function softirqs(): Record<string, number[]> {
  const lines = readFileSync('/proc/softirqs', 'utf8').trim().split('\n').slice(1);
  return Object.fromEntries(lines.map((l) => { const [k, ...v] = l.trim().split(/\s+/); return [k.replace(':', ''), v.map(Number)]; }));
}

const diff = (a: number[], b: number[]) => b.map((v, i) => v - a[i]);

/** Delivered packets per second and the transfer's CPU seconds per million delivered packets. */
async function measureUdp(p: BenchPath) {
  const prof = profile(SECONDS - 1);
  const r = udpSmallPackets(p, SECONDS);
  const perf = await prof;
  const delivered = r.deliveredPps * (SECONDS - 1);
  return { kpps: +(r.deliveredPps / 1e3).toFixed(1), lostPercent: r.lostPercent, transferCpuSecondsPerMpkt: +(perf.transferCpuSeconds / (delivered / 1e6)).toFixed(3), cpuSecondsByComm: perf.byComm };
}

async function measure(p: BenchPath, hops: Hop[], streams: number) {
  const before = hops.map((h) => ifStats(h.ns, h.ifname));
  const tcpBefore = nstat(p.server.ns);
  const cpu0 = perCpuJiffies();
  const sn0 = softnet();
  const sirq0 = softirqs();
  const prof = PERF ? profile(SECONDS - 1) : Promise.resolve(undefined);
  const r = tcpThroughput(p, streams, SECONDS);
  const perf = await prof;
  const cpu1 = perCpuJiffies();
  const sn1 = softnet();
  const sirq1 = softirqs();
  const tcpAfter = nstat(p.server.ns);
  const after = hops.map((h) => ifStats(h.ns, h.ifname));
  const hopFigures = hops.map((h, i) => {
    const d = { packets: after[i][h.dir].packets - before[i][h.dir].packets, bytes: after[i][h.dir].bytes - before[i][h.dir].bytes };
    const drops = after[i].rx.dropped - before[i].rx.dropped + after[i].tx.dropped - before[i].tx.dropped;
    return { hop: `${h.label} ${h.dir}`, skbs: d.packets, bytesPerSkb: Math.round(d.bytes / Math.max(1, d.packets)), drops };
  });
  const inSegs = (tcpAfter.TcpInSegs ?? 0) - (tcpBefore.TcpInSegs ?? 0);
  return {
    gbps: +(r.bitsPerSecond / 1e9).toFixed(2),
    retransmits: r.retransmits,
    cpuSecondsPerGB: +(r.procStatCpuSeconds / (r.bytes / 1e9)).toFixed(3),
    hops: hopFigures,
    serverTcpInSegs: inSegs,
    serverSegsPerRxSkb: +(inSegs / Math.max(1, hopFigures[hopFigures.length - 1].skbs)).toFixed(2),
    softirqJiffiesPerCpu: diff(cpu0.softirq, cpu1.softirq),
    busyJiffiesPerCpu: diff(cpu0.busy, cpu1.busy),
    netRxPerCpu: diff(sirq0.NET_RX, sirq1.NET_RX),
    netTxPerCpu: diff(sirq0.NET_TX, sirq1.NET_TX),
    softnetDroppedPerCpu: diff(sn0.dropped, sn1.dropped),
    softnetSqueezedPerCpu: diff(sn0.squeezed, sn1.squeezed),
    cpuSecondsByComm: perf?.byComm,
    /** CPU seconds of iperf3 + ksoftirqd per GB received (profiled for SECONDS - 1 of the run). */
    transferCpuSecondsPerGB: perf ? +(perf.transferCpuSeconds / ((r.bytes / 1e9) * ((SECONDS - 1) / r.seconds))).toFixed(3) : undefined,
    profile: perf?.top,
  };
}

interface Variant {
  name: string;
  what: string;
  apply(c: { cluster: Cluster; p: BenchPath }): void;
  revert(c: { cluster: Cluster; p: BenchPath }): void;
}

const ethtool = (ns: Netns, args: string[]) => ns.exec('ethtool', args);
const VARIANTS: Variant[] = [
  { name: 'default', what: 'default offloads (veth: TSO/GSO on, GRO off)', apply: () => {}, revert: () => {} },
  {
    name: 'gro-uplink-rx',
    what: 'GRO on the receiving node uplink (ethtool -K eth0 gro on in node 2)',
    apply: ({ cluster }) => ethtool(cluster.nodes[1].ns, ['-K', cluster.nodes[1].uplink, 'gro', 'on']),
    revert: ({ cluster }) => ethtool(cluster.nodes[1].ns, ['-K', cluster.nodes[1].uplink, 'gro', 'off']),
  },
  {
    name: 'no-tso-pod',
    what: 'TSO/GSO off on the client pod eth0 (every segment travels alone: the per-packet cost of each path)',
    apply: ({ p }) => ethtool(p.client.ns, ['-K', 'eth0', 'tso', 'off', 'gso', 'off']),
    revert: ({ p }) => ethtool(p.client.ns, ['-K', 'eth0', 'tso', 'on', 'gso', 'on']),
  },
];

async function main() {
  const which = process.argv.find((a) => a.startsWith('--variants='))?.split('=')[1].split(',');
  const variants = VARIANTS.filter((v) => !which || which.includes(v.name));
  const clusters: Cluster[] = [];
  const cleanup = async () => {
    for (const c of clusters.splice(0)) await c.destroy().catch((e) => console.error(`cleanup: ${(e as Error).message}`));
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    const built = await Promise.allSettled([
      kernelPaths(171),
      bpfPaths('bta', 172, XDP, [
        VXLAN
          ? { name: XDP ? 'bpf-vxlan-xdp' : 'bpf-vxlan', pool: 'vxlan-always', cidr: '10.244.0.0/16', mode: { vxlanMode: 'Always' }, mtu: 1450, description: `bpf-overlay VXLAN, ${XDP ? 'XDP' : 'tc'} decap` }
          : { name: XDP ? 'bpf-ipip-xdp' : 'bpf-ipip', pool: 'ipip-always', cidr: '10.245.0.0/16', mode: { ipipMode: 'Always' }, mtu: 1480, description: `bpf-overlay IPIP, ${XDP ? 'XDP' : 'tc'} decap` },
      ]),
    ]);
    for (const b of built) if (b.status === 'fulfilled') clusters.push(b.value.cluster);
    const failed = built.find((b) => b.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [k, b] = built.map((x) => (x as PromiseFulfilledResult<{ cluster: Cluster; paths: BenchPath[] }>).value);
    const runs = [
      { cluster: k.cluster, p: k.paths.find((x) => x.name === 'plain')! },
      { cluster: b.cluster, p: b.paths[0] },
    ];
    for (const { cluster, p } of runs) {
      for (const child of startServers(p)) cluster.topo.track(child as ChildProcess);
      await waitForServers(p);
    }
    const results: Record<string, Record<string, unknown[]>> = {};
    for (const v of variants) {
      results[v.name] = {};
      for (const streams of STREAMS)
      for (let round = 0; round < ROUNDS; round++) {
        for (const run of round % 2 ? [...runs].reverse() : runs) {
          const { cluster, p } = run;
          const hops: Hop[] = [
            { label: 'client pod eth0', ns: p.client.ns, ifname: 'eth0', dir: 'tx' },
            { label: 'node1 uplink', ns: cluster.nodes[0].ns, ifname: cluster.nodes[0].uplink, dir: 'tx' },
            { label: 'node2 uplink', ns: cluster.nodes[1].ns, ifname: cluster.nodes[1].uplink, dir: 'rx' },
            { label: 'server pod eth0', ns: p.server.ns, ifname: 'eth0', dir: 'rx' },
          ];
          v.apply(run);
          try {
            if (UDP) {
              const u = await measureUdp(p);
              (results[v.name][`${p.name} udp64`] ??= []).push(u);
              console.log(`${v.name} ${p.name} udp64 round ${round}: ${JSON.stringify(u)}`);
              continue;
            }
            const m = await measure(p, hops, streams);
            (results[v.name][`${p.name} -P ${streams}`] ??= []).push(m);
            console.log(`${v.name} ${p.name} -P ${streams} round ${round}: ${m.gbps} Gbit/s, retr ${m.retransmits}, ${m.cpuSecondsPerGB} cpu-s/GB (host), ${m.transferCpuSecondsPerGB ?? '-'} cpu-s/GB (iperf3+ksoftirqd), ` +
              `${m.hops.map((h) => `${h.hop} ${h.bytesPerSkb} B/skb`).join(', ')}, segs/rx-skb ${m.serverSegsPerRxSkb}, ` +
              `drops ${m.hops.map((h) => h.drops).join('/')}, backlog drops ${m.softnetDroppedPerCpu.join('/')}, squeezed ${m.softnetSqueezedPerCpu.join('/')}, NET_RX ${m.netRxPerCpu.join('/')}, ` +
              `cpu-s by comm ${JSON.stringify(m.cpuSecondsByComm ?? {})}`);
            if (m.profile) console.log(m.profile);
          } finally {
            v.revert(run);
          }
        }
      }
    }
    const out = path.join(import.meta.dirname, 'results', `tcp-anatomy-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
    writeFileSync(out, JSON.stringify({ streams: STREAMS, seconds: SECONDS, rounds: ROUNDS, variants: variants.map((v) => ({ name: v.name, what: v.what })), results }, null, 2));
    console.log(`wrote ${out}`);
  } finally {
    await cleanup();
  }
}

await main();
