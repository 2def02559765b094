// SPDX-License-Identifier: Apache-2.0
// Where a multi-stream TCP transfer's CPU goes, per CPU and per kernel symbol, for several pod-to-pod paths of
// the bench: which CPU is saturated, and what each path spends per GB on it that another path does not. With the
// bench's pinning (client on CPU 0, server on CPU 1) the sender's CPU also carries both nodes' forwarding and the
// receiver's softirq work, so a path's Gbit/s is set by its CPU 0 cost per GB; this script says what that cost is
// made of. Run as root (quiet host: the per-CPU split is only meaningful without other load):
//   npx tsc -p bench/tsconfig.json && node --import ./scripts/ts-loader.mjs bench/cpu-split.ts \
//     [--paths=plain,bpf-ipip,bpf-crosssubnet-local] [--streams=4] [--rounds=2] [--seconds=4] [--top=20]
// Writes bench/results/cpu-split-<date>.json; prints per run the Gbit/s and per-CPU busy/softirq jiffies, then per
// CPU the symbols whose samples per GB differ most between each path and the first one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster } from '../test/lab/cluster.js';
import { PATH_NAMES, PATH_SETUPS, type BenchPath } from './lib/paths.js';
import { perCpuJiffies } from './lib/proc-stat.js';
import { CLIENT_CPU, SERVER_CPU, startServers, tcpThroughput, waitForServers } from './lib/traffic.js';
import { TRANSFER_COMMS } from './lib/transfer-cpu.js';

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const PATHS = (flag('paths') ?? 'plain,bpf-ipip,bpf-crosssubnet-local').split(',');
const STREAMS = Number(flag('streams') ?? 4);
const ROUNDS = Number(flag('rounds') ?? 2);
const SECONDS = Number(flag('seconds') ?? 4);
const TOP = Number(flag('top') ?? 20);
const PERF_HZ = 999;
for (const p of PATHS) if (!(PATH_NAMES as readonly string[]).includes(p)) throw new Error(`--paths: unknown path ${p} (known: ${PATH_NAMES.join(', ')})`);

/** Samples per symbol on one CPU of a perf.data file, in the transfer's own processes (iperf3, ksoftirqd: with veths
 * every softirq step of the transfer runs in them), so other tenants' work does not count. */
function symbolSamples(file: string, cpu: number): Record<string, number> {
  const out = spawnSync('perf', ['report', '-i', file, '--cpu', String(cpu), '--comms', TRANSFER_COMMS, '--no-children', '--sort', 'sym', '--stdio', '-g', 'none', '-F', 'sample,sym'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  }).stdout;
  const samples: Record<string, number> = {};
  for (const line of out.split('\n')) {
    const m = /^\s*(\d+)\s+\[.\]\s+(\S+)/.exec(line);
    if (m) samples[m[2]] = (samples[m[2]] ?? 0) + Number(m[1]);
  }
  return samples;
}

interface Run {
  path: string;
  round: number;
  gbps: number;
  gb: number;
  retransmits: number;
  busyJiffies: number[];
  softirqJiffies: number[];
  /** Per CPU: samples per GB received, by symbol. */
  samplesPerGB: Record<string, number>[];
}

async function measure(p: BenchPath, round: number): Promise<Run> {
  const file = `/tmp/bo-cpu-split-${process.pid}-${p.name}-${round}.data`;
  const before = perCpuJiffies();
  const rec = spawn('perf', ['record', '-q', '-F', String(PERF_HZ), '-e', 'cpu-clock', '-a', '-g', '-o', file, '--', 'sleep', String(SECONDS - 1)], { stdio: 'ignore' });
  const recorded = new Promise((resolve) => rec.on('exit', resolve));
  const r = tcpThroughput(p, STREAMS, SECONDS);
  await recorded;
  const after = perCpuJiffies();
  // Bytes received while perf recorded (SECONDS - 1 of the run), assuming a steady rate.
  const gb = (r.bytes / 1e9) * ((SECONDS - 1) / r.seconds);
  try {
    const samplesPerGB = [CLIENT_CPU, SERVER_CPU].map((cpu) => {
      const s = symbolSamples(file, cpu);
      return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, +(v / gb).toFixed(2)]));
    });
    return {
      path: p.name,
      round,
      gbps: +(r.bitsPerSecond / 1e9).toFixed(2),
      gb: +gb.toFixed(2),
      retransmits: r.retransmits,
      busyJiffies: after.busy.map((v, i) => v - before.busy[i]),
      softirqJiffies: after.softirq.map((v, i) => v - before.softirq[i]),
      samplesPerGB,
    };
  } finally {
    rmSync(file, { force: true });
  }
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
function mean(runs: Run[], cpuIdx: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.samplesPerGB[cpuIdx])) out[k] = (out[k] ?? 0) + v / runs.length;
  return out;
}

async function main() {
  const clusters: Cluster[] = [];
  const cleanup = async () => {
    for (const c of clusters.splice(0)) await c.destroy().catch((e) => console.error(`cleanup: ${(e as Error).message}`));
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    const paths: BenchPath[] = [];
    let octet = 185;
    for (const setup of PATH_SETUPS.filter((s) => s.names.some((n) => PATHS.includes(n)))) {
      const built = await setup.build(octet++);
      clusters.push(built.cluster);
      for (const p of built.paths) {
        if (!PATHS.includes(p.name)) continue;
        for (const child of startServers(p)) built.cluster.topo.track(child as ChildProcess);
        await waitForServers(p);
        paths.push(p);
      }
    }
    paths.sort((a, b) => PATHS.indexOf(a.name) - PATHS.indexOf(b.name));
    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of round % 2 ? [...paths].reverse() : paths) {
        const run = await measure(p, round);
        runs.push(run);
        console.log(`${run.path} round ${round}: ${run.gbps} Gbit/s, retransmits ${run.retransmits}, busy jiffies per CPU ${run.busyJiffies.join('/')}, softirq ${run.softirqJiffies.join('/')}`);
      }
    }
    const [base, ...others] = paths.map((p) => p.name);
    const comparisons = others.map((name) => {
      const perCpu = [CLIENT_CPU, SERVER_CPU].map((cpu, idx) => {
        const a = mean(runs.filter((r) => r.path === name), idx);
        const b = mean(runs.filter((r) => r.path === base), idx);
        const symbols = [...new Set([...Object.keys(a), ...Object.keys(b)])]
          .map((sym) => ({ sym, path: +(a[sym] ?? 0).toFixed(2), base: +(b[sym] ?? 0).toFixed(2), diff: +((a[sym] ?? 0) - (b[sym] ?? 0)).toFixed(2) }))
          .sort((x, y) => Math.abs(y.diff) - Math.abs(x.diff))
          .slice(0, TOP);
        return { cpu, samplesPerGB: { path: +sum(a).toFixed(1), base: +sum(b).toFixed(1) }, symbols };
      });
      return { path: name, base, perCpu };
    });
    for (const c of comparisons) {
      for (const pc of c.perCpu) {
        console.log(`\n${c.path} against ${c.base}, CPU ${pc.cpu}: ${pc.samplesPerGB.path} against ${pc.samplesPerGB.base} samples per GB (${PERF_HZ} Hz)`);
        for (const s of pc.symbols) console.log(`  ${s.diff >= 0 ? '+' : ''}${s.diff.toFixed(1).padStart(6)}  ${s.sym} (${s.path} / ${s.base})`);
      }
    }
    const out = path.join(import.meta.dirname, 'results', `cpu-split-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
    writeFileSync(out, JSON.stringify({ streams: STREAMS, seconds: SECONDS, rounds: ROUNDS, perfHz: PERF_HZ, runs: runs.map(({ samplesPerGB, ...r }) => r), comparisons }, null, 2));
    console.log(`\nwrote ${out}`);
  } finally {
    await cleanup();
  }
}

await main();
