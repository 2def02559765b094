// SPDX-License-Identifier: Apache-2.0
// The per-program costs of bench/prog-cost.ts for two or more builds of the objects, alternated round by round
// in one session so that host load hits every build alike (a before/after figure from two separate sessions
// on a shared host differs by more than most changes save). Run as root:
//   BENCH_AB_DIRS=/tmp/old-bpf,build/bpf npx vitest run --config bench/vitest.config.ts bench/prog-cost-ab.ts
// Each directory holds a full set of objects (BPF_OVERLAY_BPF_DIR); the figure is the median over
// BENCH_AB_ROUNDS rounds of each case's net ns (mean of BENCH_SAMPLES fresh runs minus the near-empty program).
import { it } from 'vitest';
import { kernelDescribe } from '../test/harness/privileges.js';
import { measureProgramCosts, type ProgCost } from './lib/prog-cost.js';

const DIRS = (process.env.BENCH_AB_DIRS ?? '').split(',').filter(Boolean);
const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 5);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 50_000);
// BENCH_CACHE_GEN=0 measures with the lookup caches off; BENCH_BUSY_NODE=1 with a 256-node cluster's routes_map.
const CACHE_GEN = Number(process.env.BENCH_CACHE_GEN ?? 1);
const BUSY_NODE = process.env.BENCH_BUSY_NODE === '1';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

kernelDescribe('data path cost per packet, builds alternated (BPF_PROG_TEST_RUN)', () => {
  it(`compares ${DIRS.length} builds over ${ROUNDS} rounds`, () => {
    if (DIRS.length < 2) throw new Error('BENCH_AB_DIRS: give at least two object directories, comma-separated');
    const saved = process.env.BPF_OVERLAY_BPF_DIR;
    const runs = new Map<string, ProgCost[][]>(DIRS.map((d) => [d, []]));
    try {
      for (let r = 0; r < ROUNDS; r++) {
        for (const dir of r % 2 ? [...DIRS].reverse() : DIRS) {
          process.env.BPF_OVERLAY_BPF_DIR = dir;
          runs.get(dir)!.push(measureProgramCosts({ repeat: 1000, samples: SAMPLES, cacheGen: CACHE_GEN, busyNode: BUSY_NODE }).cases);
        }
      }
    } finally {
      if (saved === undefined) delete process.env.BPF_OVERLAY_BPF_DIR;
      else process.env.BPF_OVERLAY_BPF_DIR = saved;
    }
    const first = runs.get(DIRS[0]!)![0]!;
    const net = (dir: string, key: string) => median(runs.get(dir)!.map((cases) => cases.find((c) => c.key === key)!.netNs));
    const header = `${'path'.padEnd(36)}${DIRS.map((d) => d.slice(-18).padStart(20)).join('')}`;
    const lines = first.map((c) => `${c.label.padEnd(36)}${DIRS.map((d) => net(d, c.key).toFixed(1).padStart(20)).join('')}`);
    console.log(`net ns per packet, median of ${ROUNDS} alternated rounds of ${SAMPLES} fresh runs, cache_gen ${CACHE_GEN}, ${BUSY_NODE ? 'busy node' : 'fixture'} routes\n${header}\n${lines.join('\n')}`);
    console.log(JSON.stringify({ rounds: ROUNDS, samples: SAMPLES, cacheGen: CACHE_GEN, busyNode: BUSY_NODE, dirs: DIRS, net: Object.fromEntries(DIRS.map((d) => [d, Object.fromEntries(first.map((c) => [c.key, net(d, c.key)]))])) }));
  });
});
