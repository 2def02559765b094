// SPDX-License-Identifier: Apache-2.0
// `npm run bench [-- --quick]`: data-path and control-plane benchmarks of bpf-overlay (root only; never part of
// `npm test`). Writes bench/results/<date>.{json,md,svg} (ignored by git) and copies them to bench/results/latest.*,
// the one result kept in the repository.
// Every pod-to-pod path is measured in the same run, alternating path by path within each round and metric, the
// starting path rotating per round; each figure is the median of the rounds, with min and max.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../test/lab/cluster.js';
import { helperCostMarkdown, measureHelperCosts, type HelperCostReport } from './lib/helper-cost.js';
import { measureProgramCosts, type ProgCostReport } from './lib/prog-cost.js';
import { BLOCKS_PER_NODE, POOLS, runChild, type ScaleResult, type WriteRates } from './lib/control-plane.js';
import { incrementalMarkdown, incrementalTargets } from './lib/incremental-compile.js';
import { runScaleBench, scaleMarkdown, scaleSettings, scaleTargets, type ScaleBenchResult } from './lib/scale.js';
import { PATH_NAMES, PATH_SETUPS, type BenchPath, type PathName } from './lib/paths.js';
import { METRICS, pairedRatios, ratioSvg, trafficMarkdown, type TrafficTable } from './lib/report.js';
import { spread } from './lib/stats.js';
import { startServers, tcpLatency, tcpThroughput, udpSmallPackets, waitForServers, CLIENT_CPU, PINGPONG_MSG, SERVER_CPU, UDP_PAYLOAD } from './lib/traffic.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const want = (part: string) => !only || only.includes(part);
/** --paths=plain,bpf-ipip: measure only these pod-to-pod paths (plain is always kept: every ratio needs it). */
const onlyPaths = process.argv.find((a) => a.startsWith('--paths='))?.slice(8).split(',');
if (onlyPaths) {
  const unknown = onlyPaths.filter((n) => !(PATH_NAMES as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`--paths: unknown path ${unknown.join(', ')} (known: ${PATH_NAMES.join(', ')})`);
  if (!onlyPaths.includes('plain')) onlyPaths.unshift('plain');
}
const wantPath = (name: string) => !onlyPaths || onlyPaths.includes(name);
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='))?.slice(9);
if (roundsArg !== undefined && !(Number.isInteger(Number(roundsArg)) && Number(roundsArg) >= 1)) throw new Error(`--rounds: ${roundsArg} is not a positive integer`);
const MODE_DEFAULTS = quick
  ? { rounds: 3, seconds: 1, latencySeconds: 1, udpSeconds: 1, sizes: [1000, 5000], repeats: 1, progRepeat: 1_000_000, progSamples: 20_000, helperRounds: 3, helperSamples: 5_000 }
  : { rounds: 7, seconds: 3, latencySeconds: 2, udpSeconds: 2, sizes: [1000, 5000, 10000], repeats: 3, progRepeat: 1_000_000, progSamples: 200_000, helperRounds: 7, helperSamples: 20_000 };
const MODE = { ...MODE_DEFAULTS, rounds: roundsArg ? Number(roundsArg) : MODE_DEFAULTS.rounds };
const RESULTS = path.join(import.meta.dirname, 'results');
const started = Date.now();
const log = (msg: string) => console.log(`[bench +${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`);

// ---- cleanup on every exit path --------------------------------------------------------------------------
const clusters: Cluster[] = [];
const children = new Map<object, () => void>();
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const kill of children.values()) kill();
    for (const c of clusters.splice(0)) {
      try {
        await c.destroy();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: removing every namespace, agent, pin and process of this run`);
    void cleanup().finally(() => process.exit(130));
  });
}
const trackChild = (kill: () => void, pinRoot: string) => {
  const token = {};
  children.set(token, () => {
    kill();
    rmSync(pinRoot, { recursive: true, force: true });
  });
  return () => children.delete(token);
};

// ---- machine facts -----------------------------------------------------------------------------------------
function machine() {
  const cmd = (c: string, a: string[]) => {
    try {
      return execFileSync(c, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
    } catch {
      return 'n/a';
    }
  };
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    kernel: os.release(),
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? 'n/a',
    cores: os.cpus().length,
    memoryGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    iperf3: cmd('iperf3', ['--version']),
    sockperf: cmd('sockperf', ['--version']),
    loadavgAtStart: os.loadavg(),
  };
}

// ---- data path traffic -------------------------------------------------------------------------------------
interface Sample {
  round: number;
  [metric: string]: number;
}

interface RoundLoad {
  round: number;
  /** 1-, 5- and 15-minute load averages when the round started and when it ended. */
  start: number[];
  end: number[];
}

async function traffic(): Promise<{ paths: BenchPath[]; samples: Record<string, Sample[]>; table: TrafficTable; paired: TrafficTable; load: RoundLoad[] }> {
  // Built concurrently (agent start-up is mostly waiting); every cluster that came up is torn down by cleanup().
  const setups = PATH_SETUPS.map((setup, i) => ({ setup, octet: 150 + i })).filter(({ setup }) => setup.names.some(wantPath));
  log(`setting up ${setups.length} clusters: ${setups.map(({ setup }) => setup.names.join(' + ')).join(', ')}`);
  const built = await Promise.allSettled(setups.map(({ setup, octet }) => setup.build(octet)));
  for (const b of built) if (b.status === 'fulfilled') clusters.push(b.value.cluster);
  const failed = built.find((b): b is PromiseRejectedResult => b.status === 'rejected');
  if (failed) throw failed.reason;
  const paths = built
    .flatMap((b) => (b.status === 'fulfilled' ? b.value.paths : []))
    .filter((p) => wantPath(p.name))
    .sort((a, b) => PATH_NAMES.indexOf(a.name as PathName) - PATH_NAMES.indexOf(b.name as PathName));
  log('clusters ready');
  for (const p of paths) {
    const cluster = clusters.find((c) => c.topo.prefix === p.server.ns.name.split('-')[0])!;
    for (const child of startServers(p)) cluster.topo.track(child as ChildProcess);
  }
  for (const p of paths) await waitForServers(p);
  log(`warm-up (1 s TCP per path)`);
  for (const p of paths) tcpThroughput(p, 1, 1);

  const samples: Record<string, Sample[]> = Object.fromEntries(paths.map((p) => [p.name, [] as Sample[]]));
  const load: RoundLoad[] = [];
  for (let round = 0; round < MODE.rounds; round++) {
    const loadStart = os.loadavg();
    // Rotate the starting path so no path always runs first (or right after the same neighbour).
    const order = paths.map((_, i) => paths[(i + round) % paths.length]);
    const rs: Record<string, Sample> = Object.fromEntries(paths.map((p) => [p.name, { round }]));
    for (const p of order) {
      const t = tcpThroughput(p, 1, MODE.seconds);
      Object.assign(rs[p.name], {
        tcp1Gbps: t.bitsPerSecond / 1e9,
        cpuSecPerGB: t.transferCpuSeconds / (t.bytes / 1e9),
        iperfCpuSecPerGB: t.iperfCpuSeconds / (t.bytes / 1e9),
        cpuSecPerGBProcStat: t.procStatCpuSeconds / (t.bytes / 1e9),
        tcp1Retransmits: t.retransmits,
      });
    }
    for (const p of order) {
      const t = tcpThroughput(p, 4, MODE.seconds);
      Object.assign(rs[p.name], { tcp4Gbps: t.bitsPerSecond / 1e9, cpu4SecPerGB: t.transferCpuSeconds / (t.bytes / 1e9) });
    }
    for (const p of order) {
      const l = tcpLatency(p, MODE.latencySeconds);
      Object.assign(rs[p.name], { latP50us: l.p50us, latP99us: l.p99us, latAvgus: l.avgus, latCpuUsPerTx: l.cpuUsPerTransaction });
    }
    for (const p of order) {
      const u = udpSmallPackets(p, MODE.udpSeconds);
      Object.assign(rs[p.name], { udpKpps: u.deliveredPps / 1e3, udpSentKpps: u.sentPps / 1e3, udpLostPercent: u.lostPercent, udpCpuUsPerPkt: u.cpuUsPerPacket });
    }
    for (const p of paths) samples[p.name].push(rs[p.name]);
    load.push({ round, start: loadStart, end: os.loadavg() });
    log(`round ${round + 1}/${MODE.rounds} (load ${loadStart[0].toFixed(2)} -> ${os.loadavg()[0].toFixed(2)}): ` + paths.map((p) => `${p.name} ${rs[p.name].tcp1Gbps.toFixed(2)}G/${rs[p.name].latP50us.toFixed(1)}us`).join(', '));
  }
  const table: TrafficTable = {};
  for (const p of paths) {
    table[p.name] = Object.fromEntries(METRICS.map((m) => [m.key, spread(samples[p.name].map((s) => s[m.key]))]));
  }
  return { paths, samples, table, paired: pairedRatios(paths.map((p) => p.name), samples), load };
}

// ---- targets -----------------------------------------------------------------------------------------------
interface Target {
  target: string;
  value: string;
  met: boolean | null;
  note: string;
  /** For a miss: what this run's own figures say about the cause. */
  why?: string;
}

/** Hardware cycle counters exist only with a CPU PMU event source; without one, perf and bpftool prog profile cannot attribute cycles. */
const HAS_PMU = existsSync('/sys/bus/event_source/devices/cpu');

function targets(table: TrafficTable | undefined, prog: ProgCostReport | undefined, scale: ScaleResult[] | undefined): Target[] {
  const out: Target[] = [];
  const med = (p: string, m: string) => table?.[p]?.[m]?.median ?? NaN;
  const spreadOf = (p: string, m: string) => table?.[p]?.[m];
  const noise = (a: string, b: string, m: string): string => {
    const x = spreadOf(a, m);
    const y = spreadOf(b, m);
    if (!x || !y) return '';
    const overlap = x.min <= y.max && y.min <= x.max;
    return `${a} ${x.min.toFixed(1)}–${x.max.toFixed(1)} vs ${b} ${y.min.toFixed(1)}–${y.max.toFixed(1)} over the rounds: ${overlap ? 'the ranges overlap, the miss is within this run\'s noise' : 'the ranges do not overlap'}`;
  };
  const r = (p: string, ref: string, m: string) => med(p, m) / med(ref, m);
  const pct = (x: number) => `${((x - 1) * 100).toFixed(1)}%`;
  if (table) {
    if (table['bpf-vxlan'] && table['kernel-vxlan']) {
      for (const m of ['tcp1Gbps', 'tcp4Gbps']) {
        const x = r('bpf-vxlan', 'kernel-vxlan', m);
        out.push({ target: `bpf-vxlan ${m} >= 1.0x kernel-vxlan`, value: `${x.toFixed(3)}x`, met: x >= 1, note: x >= 1 ? '' : `${((1 - x) * 100).toFixed(1)}% below`, why: noise('bpf-vxlan', 'kernel-vxlan', m) });
      }
      const l = r('bpf-vxlan', 'kernel-vxlan', 'latP50us');
      out.push({ target: 'bpf-vxlan latency p50 <= 1.0x kernel-vxlan', value: `${l.toFixed(3)}x`, met: l <= 1, note: l <= 1 ? '' : `${((l - 1) * 100).toFixed(1)}% above`, why: noise('bpf-vxlan', 'kernel-vxlan', 'latP50us') });
    }
    // Issue #14's moonshot: the overlay paths at least as fast as plain routing, as low in latency.
    for (const p of ['bpf-vxlan', 'bpf-ipip'].filter((n) => table[n])) {
      for (const m of ['tcp1Gbps', 'tcp4Gbps', 'udpKpps']) {
        const x = r(p, 'plain', m);
        out.push({ target: `${p} ${m} >= 1.0x plain`, value: `${x.toFixed(3)}x`, met: x >= 1, note: x >= 1 ? '' : `${((1 - x) * 100).toFixed(1)}% below`, why: noise(p, 'plain', m) });
      }
      const l = r(p, 'plain', 'latP50us');
      out.push({ target: `${p} latency p50 <= 1.0x plain`, value: `${l.toFixed(3)}x`, met: l <= 1, note: l <= 1 ? '' : `${((l - 1) * 100).toFixed(1)}% above`, why: noise(p, 'plain', 'latP50us') });
    }
    // CrossSubnet within one subnet encapsulates nothing: it must cost no more than plain routing (within 3%).
    for (const m of table['bpf-crosssubnet-local'] ? ['tcp1Gbps', 'tcp4Gbps', 'latP50us'] : []) {
      const x = r('bpf-crosssubnet-local', 'plain', m);
      const lowerIsBetter = m === 'latP50us';
      const met = lowerIsBetter ? x <= 1.03 : x >= 0.97;
      out.push({
        target: `bpf-crosssubnet-local ${m} ${lowerIsBetter ? '<= 1.03x' : '>= 0.97x'} plain`,
        value: `${x.toFixed(3)}x`,
        met,
        note: met ? '' : `${lowerIsBetter ? 'above' : 'below'} by ${pct(x)}`,
        why: noise('bpf-crosssubnet-local', 'plain', m),
      });
    }
  }
  if (prog) {
    // A program's pass path is its parse + route lookup + counter; what a path costs beyond that is the work
    // of its own helpers.
    const passPath = prog.cases.find((c) => c.hook === 'tc' && /pass/.test(c.label));
    const helpersOf = (label: string): string =>
      /encap/.test(label)
        ? 'bpf_skb_change_head (bpf_skb_adjust_room for GSO or checksum-offloaded packets), cached route and next-hop lookups, inline outer IPv4 checksum, bpf_redirect (bpf_redirect_neigh without a pre-resolved next hop)'
        : /decap/.test(label)
          ? 'outer checksum check, cached known-node lookup, inner-source check, room adjustment (bpf_skb_adjust_room in tc, bpf_xdp_adjust_head in XDP), MAC rewrite, redirect'
          : /local/.test(label)
            ? 'MAC rewrite, TTL checksum update, bpf_redirect_peer'
            : /plain/.test(label)
              ? 'TTL checksum update, bpf_redirect_neigh'
              : /outside/.test(label)
                ? 'a second LPM lookup (the source, for natOutgoing)'
                : 'none beyond the lookup';
    // Issue #14: encapsulation and decapsulation <= 100 ns, every other path (pass, local delivery) <= 50 ns.
    const budgetOf = (label: string): number => (/encap|decap/.test(label) ? 100 : 50);
    for (const c of prog.cases.filter((c) => c.target)) {
      const budget = budgetOf(c.label);
      const extra = passPath && c.hook === 'tc' && c !== passPath ? ` ${Math.max(0, c.netNs - passPath.netNs).toFixed(0)} ns more than the pass path (${passPath.netNs.toFixed(0)} ns: parse, LPM lookup, counter);` : '';
      out.push({
        target: `${c.label} <= ${budget} ns/packet`,
        value: `net ${c.netNs.toFixed(1)} ns (fresh ${c.freshNs.toFixed(1)}, repeat=${prog.repeat} ${c.repeatNs})`,
        met: c.netNs <= budget,
        note: c.netNs <= budget ? '' : `over by ${(c.netNs - budget).toFixed(1)} ns`,
        why:
          c.netNs <= budget
            ? ''
            : `${extra} helpers on this path: ${helpersOf(c.label)}` + (HAS_PMU ? '' : '; no CPU PMU here, so bpftool prog profile cannot attribute cycles further'),
      });
    }
  }
  const s5 = scale?.find((s) => s.nodes === 5000);
  if (s5) {
    out.push({
      target: '5,000 nodes full sync < 1 s',
      value: `${s5.full.totalMs.toFixed(0)} ms`,
      met: s5.full.totalMs < 1000,
      note: s5.full.totalMs < 1000 ? '' : `${(s5.full.totalMs / 1000).toFixed(2)}x the budget`,
      why: `compile ${s5.full.compileMs.toFixed(0)} ms, map writes ${s5.full.syncMs.toFixed(0)} ms for ${s5.full.writes} entries`,
    });
    // One node's change and the memory of a running agent are the incremental compiler's targets below and
    // bench/scale.ts's (a real agent at 5,000 nodes): the full recompile in the table above is the start path only.
    out.push(...incrementalTargets(s5.incremental));
  }
  return out;
}

// ---- main --------------------------------------------------------------------------------------------------
async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root (namespaces, BPF): run it as root');
  const facts = machine();
  log(`${quick ? 'quick' : 'full'} mode: ${MODE.rounds} rounds, ${MODE.seconds} s TCP, ${MODE.latencySeconds} s latency, ${MODE.udpSeconds} s UDP; ${facts.cpuModel}, ${facts.cores} cores, ${facts.kernel}`);

  let prog: ProgCostReport | undefined;
  if (want('prog')) {
    log('BPF_PROG_TEST_RUN per-program cost');
    prog = measureProgramCosts({ repeat: MODE.progRepeat, samples: MODE.progSamples });
  }
  let helpers: HelperCostReport | undefined;
  if (want('helpers')) {
    log('BPF_PROG_TEST_RUN per-helper cost');
    helpers = measureHelperCosts({ rounds: MODE.helperRounds, samplesPerRound: MODE.helperSamples });
  }

  let scale: ScaleResult[] | undefined;
  let writes: WriteRates | undefined;
  if (want('control')) {
    scale = [];
    for (const n of MODE.sizes) {
      log(`control plane: ${n} nodes x ${BLOCKS_PER_NODE} blocks, ${POOLS} pools (child process)`);
      scale.push(await runChild<ScaleResult>(['scale', String(n), String(MODE.repeats)], trackChild, 600_000));
    }
    log('control plane: map write rates');
    writes = await runChild<WriteRates>(['writes', '10000', '1024'], trackChild, 120_000);
  }

  let scaleBench: ScaleBenchResult | undefined;
  if (want('scale')) {
    log('scale: one real agent against 5,000 nodes / 20,000 blocks / 100,000 WorkloadEndpoints (SQLite, etcd)');
    scaleBench = await runScaleBench({
      backends: ['sqlite', 'etcd'],
      ...scaleSettings(quick),
      log,
      track: (kill) => {
        const token = {};
        children.set(token, kill);
        return () => children.delete(token);
      },
    });
  }

  let data: Awaited<ReturnType<typeof traffic>> | undefined;
  if (want('traffic')) {
    try {
      data = await traffic();
    } finally {
      log('tearing down clusters');
      await cleanup();
    }
  }

  const date = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
  const tg = targets(data?.table, prog, scale);
  if (scaleBench) tg.push(...scaleTargets(scaleBench));
  const result = {
    date,
    mode: quick ? 'quick' : 'full',
    settings: {
      ...MODE,
      udpPayloadBytes: UDP_PAYLOAD,
      pingPongMessageBytes: PINGPONG_MSG,
      latency: 'sockperf ping-pong --tcp; sockperf reports one-way latency = RTT/2',
      cpu: 'cpuSecPerGB / cpu4SecPerGB / udpCpuUsPerPkt: transfer CPU = iperf3 cpu_utilization_percent (host_total + remote_total) x seconds + ksoftirqd utime+stime over the run, per GB received / per delivered datagram; latCpuUsPerTx: both sockperf processes (client via bash times, server via /proc/PID/stat) + ksoftirqd per ping-pong transaction; iperfCpuSecPerGB: without ksoftirqd; cpuSecPerGBProcStat: whole-machine busy jiffies from /proc/stat over the same run',
      pinning: `clients on CPU ${CLIENT_CPU}, servers on CPU ${SERVER_CPU} (taskset), every path`,
    },
    machine: { ...facts, loadavgAtEnd: os.loadavg() },
    paths: data?.paths.map((p) => ({ name: p.name, description: p.description, clientMtu: p.client.mtu, serverMtu: p.server.mtu, counters: p.counters })),
    traffic: data ? { table: data.table, pairedRatiosToPlain: data.paired, samples: data.samples, loadPerRound: data.load } : undefined,
    programs: prog,
    helpers,
    controlPlane: scale ? { scale, writes } : undefined,
    scaleBench,
    targets: tg,
    durationSeconds: (Date.now() - started) / 1000,
  };
  mkdirSync(RESULTS, { recursive: true });
  const base = path.join(RESULTS, date);
  writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(`${base}.md`, markdown(result, data?.table, data?.paired ?? {}, data?.paths.map((p) => p.name) ?? [], data?.load, prog, scale, writes, tg) + (scaleBench ? scaleMarkdown(scaleBench).join('\n') : ''));
  const names = PATH_NAMES.filter((n) => data?.table[n]);
  writeFileSync(`${base}.svg`, ratioSvg(names, data?.table ?? {}, `bpf-overlay pod-to-pod, ${date} (${result.mode}, median of ${MODE.rounds} rounds)`));
  for (const ext of ['json', 'md', 'svg']) copyFileSync(`${base}.${ext}`, path.join(RESULTS, `latest.${ext}`));
  log(`wrote ${base}.{json,md,svg} and latest.*`);
  console.log(readFileSync(`${base}.md`, 'utf8'));
}

function markdown(
  result: {
    date: string;
    mode: string;
    machine: ReturnType<typeof machine> & { loadavgAtEnd: number[] };
    paths?: { name: string; description: string; clientMtu: number; serverMtu: number }[];
    helpers?: HelperCostReport;
    durationSeconds: number;
  },
  table: TrafficTable | undefined,
  paired: TrafficTable,
  names: string[],
  load: RoundLoad[] | undefined,
  prog: ProgCostReport | undefined,
  scale: ScaleResult[] | undefined,
  writes: WriteRates | undefined,
  tg: Target[],
): string {
  const m = result.machine;
  const L: string[] = [
    `# bpf-overlay benchmark ${result.date} (${result.mode})`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGB} GB, kernel ${m.kernel}, Node ${m.node}, ${m.iperf3}, ${m.sockperf}. ` +
      `Load average at start ${m.loadavgAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ${m.loadavgAtEnd.map((x) => x.toFixed(2)).join(' ')} (the host is shared: figures are noisy, compare ratios from this run only).`,
    '',
    `Method: pod to pod across two nodes of one underlay subnet (veth + bridge in a router namespace, default offloads on every path). ` +
      `The bpf-overlay agents run during the measurements, as deployed (they keep the next-hop MACs pre-resolved). ` +
      `Every client (iperf3, sockperf) runs pinned to CPU ${CLIENT_CPU} and every server to CPU ${SERVER_CPU} (taskset), the same on every path. ` +
      `Each round runs every metric on every path in turn (the starting path rotates per round); each figure is the median of ${MODE.rounds} rounds${quick ? ' (quick mode: 1 s per test)' : ''}, min and max beside it; ` +
      `"range vs plain" says whether the path's min–max overlaps plain's (then the median ratio is not a measured difference on this host); "per-round × plain" divides each round's figure by plain's of the same round (seconds apart, so slow load changes cancel) and gives the median and min–max of those ratios: a min–max that contains 1.0 is no measured difference either. ` +
      `TCP: iperf3 -t ${MODE.seconds} (-P 1 and -P 4), bits received per second. Latency: sockperf ping-pong --tcp -m ${PINGPONG_MSG} -t ${MODE.latencySeconds}; sockperf prints one-way latency (RTT/2). ` +
      `UDP: iperf3 -u -l ${UDP_PAYLOAD} -b 0 -t ${MODE.udpSeconds}, datagrams delivered per second (sent minus lost). ` +
      `Transfer CPU (load-independent: what the transfer itself cost, not how much CPU it got): user+system time of both iperf3 processes (iperf3's cpu_utilization_percent; this kernel charges softirq ticks to the running task, so the veth, forwarding and BPF work done in their context is in it) plus the ksoftirqd threads' time over the run, per GB received (TCP) or per delivered datagram (UDP); for ping-pong the same of both sockperf processes per transaction; "whole-host" = /proc/stat busy time over the run (includes other tenants' load).`,
    '',
  ];
  if (load?.length) {
    L.push(`Load average (1 min) per round, start → end: ${load.map((l) => `${l.start[0].toFixed(2)} → ${l.end[0].toFixed(2)}`).join(', ')}.`, '');
  }
  if (result.paths) {
    L.push('## Paths', '', '| path | what | pod MTU |', '|---|---|---:|');
    for (const p of result.paths) L.push(`| ${p.name} | ${p.description} | ${p.clientMtu} |`);
    L.push('');
  }
  if (table) L.push('## Pod-to-pod figures', '', trafficMarkdown(names, table, paired));
  if (prog) {
    L.push(
      '## Per-program cost (BPF_PROG_TEST_RUN, 64-byte UDP payloads)',
      '',
      `net = fresh − near-empty program of the same type (tc ${prog.baselineFreshNs.tc.toFixed(1)} ns, XDP ${prog.baselineFreshNs.xdp.toFixed(1)} ns); fresh = mean of ${prog.samples / (prog.loads * prog.rounds)} repeat=1 runs on a fresh packet (the named path, plus test-run overhead), in each of ${prog.rounds} rounds (which measure both programs in turn) of ${prog.loads} separate loads of the objects; the figures are medians over all rounds; ` +
        `repeat=${prog.repeat}: the kernel's average over one run repeating on the same buffer, which after the first pass is the program's steady state on its own output (mostly the pass path), not the named path.`,
      '',
      '| program / path | net ns | fresh ns | repeat ns |',
      '|---|---:|---:|---:|',
      ...prog.cases.map((c) => `| ${c.label} | ${c.netNs.toFixed(1)} | ${c.freshNs.toFixed(1)} | ${c.repeatNs} |`),
      '',
    );
  }
  if (result.helpers) L.push(helperCostMarkdown(result.helpers));
  if (scale) {
    L.push(
      `## Control plane (real compile() + syncMap() into real BPF maps; ${POOLS} pools, ${BLOCKS_PER_NODE} blocks per node; one child process per size)`,
      '',
      '| nodes | routes | full: compile ms | full: sync ms | full total ms | +1 node ms (median, min–max) | −1 node ms (median, min–max) | RSS after full MB | peak RSS MB |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...scale.map(
        (s) =>
          `| ${s.nodes} | ${s.full.routes} | ${s.full.compileMs.toFixed(0)} | ${s.full.syncMs.toFixed(0)} | ${s.full.totalMs.toFixed(0)} | ${s.addNode.medianMs.toFixed(1)} (${s.addNode.minMs.toFixed(1)}–${s.addNode.maxMs.toFixed(1)}) | ${s.removeNode.medianMs.toFixed(1)} (${s.removeNode.minMs.toFixed(1)}–${s.removeNode.maxMs.toFixed(1)}) | ${s.rssAfterFullMB.toFixed(0)} | ${s.peakRssMB.toFixed(0)} |`,
      ),
      '',
      `Incremental = the agent's real path: full compile of the changed input, then the mirrored sync (diff against the reconciler's memory of each map, which read the kernel once on the full sync; write only the 5 changed entries). Map sizes: routes max ${scale[0]?.routesMapMaxEntries}, known nodes max ${scale[0]?.knownNodesMapMaxEntries} (large enough for 10,000 nodes, no resize needed). ${MODE.repeats} add/remove pairs per size.`,
      '',
    );
    L.push(...incrementalMarkdown(scale));
  }
  if (writes) {
    L.push(
      `## Map writes per second (${writes.entries} entries, best of 3, into an empty map)`,
      '',
      '| map | single | batch (' + writes.batchSize + ' per call) | batch / single |',
      '|---|---:|---:|---:|',
      `| known_nodes (hash) | ${writes.hashSinglePerSec.toFixed(0)} | ${writes.hashBatchPerSec.toFixed(0)} | ${(writes.hashBatchPerSec / writes.hashSinglePerSec).toFixed(2)} |`,
      `| routes (LPM trie) | ${writes.lpmSinglePerSec.toFixed(0)} | ${writes.lpmBatchPerSec?.toFixed(0) ?? 'n/a'} | ${writes.lpmBatchPerSec ? (writes.lpmBatchPerSec / writes.lpmSinglePerSec).toFixed(2) : 'n/a'} |`,
      '',
      `LPM batch update on this kernel: ${writes.lpmBatch} (the kernel's generic batch implementation: one update per entry inside one syscall).`,
      '',
    );
  }
  L.push('## Targets', '', '| target | value | met | note | why (from this run) |', '|---|---|---|---|---|');
  for (const t of tg) L.push(`| ${t.target} | ${t.value} | ${t.met === null ? '–' : t.met ? 'yes' : '**no**'} | ${t.note} | ${t.met ? '' : (t.why ?? '')} |`);
  L.push('', `Total bench time ${result.durationSeconds.toFixed(0)} s.`, '');
  return L.join('\n');
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
