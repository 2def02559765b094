// SPDX-License-Identifier: Apache-2.0
// Cost of each data-path program per packet, as BPF_PROG_TEST_RUN measures it inside the kernel (the time of
// the program runs only, no syscall or JS overhead). Run as root:
//   npx vitest run --config bench/vitest.config.ts bench/prog-cost.ts
// (`npm run bench` reports the same cases, see bench/lib/prog-cost.ts for what each figure means.)
// With BENCH_BUDGET_NS set, fails when a "fresh" hot path exceeds it.
import { expect, it } from 'vitest';
import { kernelDescribe } from '../test/harness/privileges.js';
import { measureProgramCosts } from './lib/prog-cost.js';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 1_000_000);
const BUDGET_NS = Number(process.env.BENCH_BUDGET_NS ?? 0); // 0: report only
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200_000);

kernelDescribe('data path cost per packet (BPF_PROG_TEST_RUN)', () => {
  it(`measures every program with repeat=${REPEAT}`, () => {
    const report = measureProgramCosts({ repeat: REPEAT, samples: SAMPLES });
    const lines = report.cases.map(
      (c) =>
        `${c.label.padEnd(36)} repeat=${REPEAT} ${c.repeatNs.toString().padStart(4)} ns   fresh ${c.freshNs.toFixed(1).padStart(6)} ns   net ${c.netNs.toFixed(1).padStart(6)} ns`,
    );
    console.log(
      `BPF_PROG_TEST_RUN per packet, ${report.payloadBytes}-byte UDP payloads, fresh = median over ${report.rounds} rounds of ${report.loads} loads of the mean of ${report.samples / (report.loads * report.rounds)} repeat=1 runs, ` +
        `net = fresh - near-empty program of the same round (tc ${report.baselineFreshNs.tc.toFixed(1)} ns, xdp ${report.baselineFreshNs.xdp.toFixed(1)} ns)\n${lines.join('\n')}`,
    );
    if (BUDGET_NS) for (const c of report.cases) expect(c.freshNs, c.label).toBeLessThanOrEqual(BUDGET_NS);
  });
});
