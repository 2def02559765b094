// SPDX-License-Identifier: Apache-2.0
// How long a watch delta takes from its arrival at the agent (the watch callback) to the BPF map writes that
// carry it: the agent's own share of a remote change's latency, without the datastore's watch delivery.
//
// A pass hands its deltas over together with the map steps its change set marked. The pass is done when none
// of those steps has work left: a step that failed keeps its work and is retried with backoff, so a delta is
// measured to the write that succeeded. Each delta counts with its own arrival time, also when a burst was
// coalesced into one pass. The pass's delta array is held as it is (no copy, nothing allocated per delta).
import type { SyncStep } from '../reconcile/steps.js';

/** What a delta brings for the measurement: its kind (the label) and when the watch callback saw it. */
export interface TimedDelta {
  readonly kind: string;
  /** performance.now() at the watch callback; deltas without it (not from a watch) are not measured. */
  readonly receivedAt?: number;
}

export interface EventLatencyOptions {
  /** Records one delta's latency; returns nothing, so a kind that does not count is simply not recorded. */
  observe: (kind: string, seconds: number) => void;
  /** Monotonic milliseconds, the clock receivedAt was taken with. */
  now?: () => number;
  /**
   * Passes waiting at most (a map step failing for minutes while changes keep coming): beyond this the oldest
   * pass is dropped unmeasured, so memory stays bounded. Counted in `dropped`.
   */
  maxWaiting?: number;
}

interface WaitingPass {
  readonly deltas: readonly TimedDelta[];
  readonly steps: readonly Pick<SyncStep, 'pending'>[];
}

export class EventToMapLatency {
  private waiting: WaitingPass[] = [];
  private readonly now: () => number;
  private readonly maxWaiting: number;
  /** Passes dropped unmeasured because too many were waiting. */
  dropped = 0;

  constructor(private readonly opts: EventLatencyOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.maxWaiting = opts.maxWaiting ?? 4096;
  }

  /** Passes whose map writes are not done yet. */
  get size(): number {
    return this.waiting.length;
  }

  /**
   * The deltas of one pass wait for these map steps (already marked with the pass's keys). A pass that marked
   * no map step changed no map: nothing is recorded for it.
   */
  expect(deltas: readonly TimedDelta[], steps: readonly Pick<SyncStep, 'pending'>[]): void {
    if (deltas.length === 0 || steps.length === 0) return;
    if (this.waiting.length >= this.maxWaiting) {
      this.waiting.shift();
      this.dropped++;
    }
    this.waiting.push({ deltas, steps });
  }

  /** A map step ran: every waiting pass none of whose steps has work left is recorded now. */
  settle(): void {
    if (this.waiting.length === 0) return;
    let t: number | undefined;
    let kept = 0;
    for (const pass of this.waiting) {
      if (pass.steps.some((s) => s.pending)) {
        this.waiting[kept++] = pass;
        continue;
      }
      t ??= this.now();
      for (const d of pass.deltas) {
        if (d.receivedAt !== undefined) this.opts.observe(d.kind, Math.max(0, t - d.receivedAt) / 1000);
      }
    }
    this.waiting.length = kept;
  }
}
