import { describe, expect, it } from 'vitest';
import { nextRoutesGen } from '../../src/control/reconcile/routes-gen.js';

describe('nextRoutesGen', () => {
  it('starts at a random nonzero 32-bit generation', () => {
    const starts = new Set(Array.from({ length: 20 }, () => nextRoutesGen(0)));
    for (const g of starts) expect(g >= 1 && g <= 0xffffffff && Number.isInteger(g)).toBe(true);
    expect(starts.size).toBeGreaterThan(15);
  });

  it('then counts up, wrapping past 0 (the value that turns the cache off)', () => {
    expect(nextRoutesGen(41)).toBe(42);
    expect(nextRoutesGen(0xfffffffe)).toBe(0xffffffff);
    expect(nextRoutesGen(0xffffffff)).toBe(1);
  });
});
