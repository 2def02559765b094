// SPDX-License-Identifier: Apache-2.0
// The cache generation the agent publishes in settings.cache_gen (bpf/lib/maps.h): each program's per-CPU
// lookup caches (routes, known nodes) answer only for slots filled under the current generation, so a new one
// after every routes_map or known_nodes_map write makes every slot filled before it miss. 0 turns the caches off
// and is never produced here.
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The generation after `current`: a random start for 0 (no slot an earlier agent or build filled can match
 * it), else the next one, skipping 0. */
export function nextCacheGen(current: number): number {
  if (current === 0) return randomInt(1, 2 ** 32);
  return (current + 1) >>> 0 || 1;
}

/** Whether the programs' lock-free per-CPU cache slots are safe on this kernel (bpf/lib/cache.h): not on a
 * PREEMPT_RT kernel, where two runs of a program may interleave on one CPU. */
export function lookupCachesSafe(realtimeFlag = '/sys/kernel/realtime'): boolean {
  try {
    return readFileSync(realtimeFlag, 'utf8').trim() !== '1';
  } catch {
    return true; // absent: not a PREEMPT_RT kernel
  }
}
