// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lookupCachesSafe, nextCacheGen } from '../../src/control/reconcile/cache-gen.js';

describe('nextCacheGen', () => {
  it('starts at a random nonzero 32-bit generation', () => {
    const starts = new Set(Array.from({ length: 20 }, () => nextCacheGen(0)));
    for (const g of starts) expect(g >= 1 && g <= 0xffffffff && Number.isInteger(g)).toBe(true);
    expect(starts.size).toBeGreaterThan(15);
  });

  it('then counts up, wrapping past 0 (the value that turns the cache off)', () => {
    expect(nextCacheGen(41)).toBe(42);
    expect(nextCacheGen(0xfffffffe)).toBe(0xffffffff);
    expect(nextCacheGen(0xffffffff)).toBe(1);
  });
});

describe('lookupCachesSafe', () => {
  it('is false on a PREEMPT_RT kernel (/sys/kernel/realtime is 1), true otherwise or without the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bo-cachegen-'));
    try {
      const flag = join(dir, 'realtime');
      expect(lookupCachesSafe(flag)).toBe(true);
      writeFileSync(flag, '1\n');
      expect(lookupCachesSafe(flag)).toBe(false);
      writeFileSync(flag, '0\n');
      expect(lookupCachesSafe(flag)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
