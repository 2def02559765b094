// SPDX-License-Identifier: Apache-2.0
// Cost of each helper the data path calls, per packet, under BPF_PROG_TEST_RUN (see bench/lib/helper-cost.ts).
// Run as root:  npx vitest run --config bench/vitest.config.ts bench/helper-cost.ts   (writes bench/results/helper-cost-DATE.json)
// BENCH_HELPERS=hc_change_head_ipip,hc_adjust_room_ipip,... measures only the programs named.
// (`npm run bench` reports the same table; docs/datapath-costs.md explains the figures.)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { kernelDescribe } from '../test/harness/privileges.js';
import { measureHelperCosts } from './lib/helper-cost.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 20_000);

kernelDescribe('helper cost per packet (BPF_PROG_TEST_RUN)', () => {
  it(`measures every helper of the hot paths, ${ROUNDS} rounds of ${SAMPLES} fresh runs`, () => {
    const r = measureHelperCosts({ rounds: ROUNDS, samplesPerRound: SAMPLES });
    console.log(
      `empty program: tc ${r.emptyFreshNs.tc.toFixed(1)} ns, xdp ${r.emptyFreshNs.xdp.toFixed(1)} ns; LPM trie ${r.lpmEntries} entries\n` +
        r.cases.map((c) => `${c.what.padEnd(72)} net ${c.netNs.toFixed(1).padStart(6)} ns  [${c.minNs.toFixed(1)}, ${c.maxNs.toFixed(1)}]`).join('\n'),
    );
    const out = path.join(import.meta.dirname, 'results', `helper-cost-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(r, null, 2)}\n`);
    console.log(`wrote ${out}`);
    for (const c of r.cases) expect(Number.isFinite(c.netNs), c.program).toBe(true);
    // A helper that does real work costs more than reading a field: the method can tell them apart.
    const byProgram = Object.fromEntries(r.cases.map((c) => [c.program, c.netNs]));
    if (byProgram.hc_adjust_room_vxlan !== undefined && byProgram.hc_skb_hash_field !== undefined)
      expect(byProgram.hc_adjust_room_vxlan).toBeGreaterThan(byProgram.hc_skb_hash_field);
  });
});
