// SPDX-License-Identifier: Apache-2.0
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { collectGarbageNow } from '../../src/control/agent/heap.js';

describe('collectGarbageNow', () => {
  it('gives back the pages a load left fragmented, not only its garbage', () => {
    // A load's shape: records kept one in five, the rest garbage promoted between them (a sweep alone would
    // leave about 100 MB of pages resident for 20 MB of records).
    const kept: { name: string; spec: number[] }[] = [];
    let garbage: { name: string; spec: number[] }[] = [];
    for (let i = 0; i < 1_500_000; i++) {
      const record = { name: `r-${i}`, spec: [i] };
      if (i % 5 === 0) kept.push(record);
      else garbage.push(record);
      if (garbage.length > 100_000) garbage = [];
    }
    garbage = [];
    collectGarbageNow();
    // The old generation alone: the young one's size is the worker's --max-semi-space-size, not ours to judge.
    const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!;
    expect(kept).toHaveLength(300_000);
    expect(old.space_size - old.space_used_size).toBeLessThan(0.25 * old.space_used_size);
  });
});
