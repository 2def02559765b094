import { describe, expect, it } from 'vitest';
import { nextCacheGen } from '../../src/control/reconcile/cache-gen.js';

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
