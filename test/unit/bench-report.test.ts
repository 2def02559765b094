// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { pairedRatios, rangeVsPlain, trafficMarkdown } from '../../bench/lib/report.js';
import { spread } from '../../bench/lib/stats.js';

describe('bench report: how a path compares to plain', () => {
  it('calls overlapping ranges an overlap, and names the side of a clean separation by what is better', () => {
    const plain = spread([10, 12, 14]);
    expect(rangeVsPlain(spread([13, 15, 16]), plain, true)).toBe('overlaps');
    expect(rangeVsPlain(spread([15, 16]), plain, true)).toBe('**better, no overlap**');
    expect(rangeVsPlain(spread([15, 16]), plain, false)).toBe('**worse, no overlap**');
    expect(rangeVsPlain(spread([8, 9]), plain, false)).toBe('**better, no overlap**');
    expect(rangeVsPlain(spread([]), plain, true)).toBe('');
  });

  it('divides each round by plain of the same round, so a load change that hits both cancels', () => {
    // Round 2 ran on a loaded host: both paths halved. Absolute ranges overlap; per-round ratios are all 1.1.
    const samples = {
      plain: [{ tcp1Gbps: 10 }, { tcp1Gbps: 5 }, { tcp1Gbps: 10 }],
      'bpf-ipip': [{ tcp1Gbps: 11 }, { tcp1Gbps: 5.5 }, { tcp1Gbps: 11 }],
    };
    const paired = pairedRatios(['plain', 'bpf-ipip'], samples);
    expect(paired['bpf-ipip'].tcp1Gbps.median).toBeCloseTo(1.1);
    expect(paired['bpf-ipip'].tcp1Gbps.min).toBeCloseTo(1.1);
    expect(paired['bpf-ipip'].tcp1Gbps.max).toBeCloseTo(1.1);
    expect(paired.plain.tcp1Gbps.median).toBe(1);
    // A metric a round did not measure is left out, not counted as 0.
    expect(paired['bpf-ipip'].udpKpps.n).toBe(0);

    const table = { plain: { tcp1Gbps: spread([10, 5, 10]) }, 'bpf-ipip': { tcp1Gbps: spread([11, 5.5, 11]) } };
    const md = trafficMarkdown(['plain', 'bpf-ipip'], table, paired);
    expect(md).toContain('| bpf-ipip | 11.00 | 5.50 | 11.00 | 3 | 1.100 | overlaps | 1.100 (1.10–1.10) | n/a |');
  });
});
