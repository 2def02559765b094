// SPDX-License-Identifier: Apache-2.0
// Exponential backoff shared by everything that retries (a re-list after a lost watch, a failing sync step).

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { initialMs: 100, maxMs: 10_000 };

/** Delay before attempt `attempt` (0-based) of something that keeps failing: doubles, capped. */
export function backoffDelay(b: Backoff, attempt: number): number {
  return Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 30));
}
