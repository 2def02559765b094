// SPDX-License-Identifier: Apache-2.0
// Several real processes allocating from one store at the same moment: the uniqueness check behind the IPAM
// tests of both backends.
import { childJson, runChildScript } from './child-scripts.js';

export interface ConcurrencyOutcome {
  addresses: string[];
  /** Slowest worker's wall time for its allocations. */
  slowestMs: number;
}

export async function allocateConcurrently(
  url: string,
  workers: { node: string; handlePrefix: string }[],
  perWorker: number,
): Promise<ConcurrencyOutcome> {
  const startAt = Date.now() + 2_000;
  const results = await Promise.all(
    workers.map((w) =>
      runChildScript('ipam-allocator', [url, w.node, w.handlePrefix, String(perWorker), String(startAt)], 120_000),
    ),
  );
  const parsed = results.map((r, i) => childJson<{ addresses: string[]; elapsedMs: number }>(r, `allocator ${i}`));
  return {
    addresses: parsed.flatMap((p) => p.addresses),
    slowestMs: Math.max(...parsed.map((p) => p.elapsedMs)),
  };
}
