// SPDX-License-Identifier: Apache-2.0
// The agent's kernel work split into independent steps (maps, host routes, tunnel addresses, nft, workload
// links, ...), each the only writer of its objects. A step that fails keeps its pending work and is retried
// with exponential backoff while the others go on: one bad route never holds back a map write.
import { backoffDelay } from '../backoff.js';

export interface SyncStep {
  readonly name: string;
  /** Whether work is recorded and not yet applied. */
  readonly pending: boolean;
  /** Applies the recorded work; throws to be retried later (the work stays recorded). */
  run(): void | Promise<void>;
}

export interface StepFailure {
  step: string;
  error: string;
  attempts: number;
  retryAt: number;
}

export interface StepRunnerOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  now?: () => number;
  onFailure?: (f: StepFailure) => void;
  onRecovered?: (step: string, attempts: number) => void;
  /** How long a step's run took (ms), successful or not; an asynchronous step's, once it settled. */
  onRan?: (step: string, ms: number) => void;
  /** An asynchronous step (a datastore write) finished: its outcome is recorded, the caller may run again. */
  onSettled?: () => void;
}

export class StepRunner {
  private readonly steps: SyncStep[] = [];
  private readonly failures = new Map<string, StepFailure>();
  /** Asynchronous steps still running: never started twice, never waited for by the others. */
  private readonly inFlight = new Set<string>();
  private readonly initial: number;
  private readonly max: number;
  private readonly now: () => number;

  constructor(private readonly opts: StepRunnerOptions = {}) {
    this.initial = opts.initialBackoffMs ?? 100;
    this.max = opts.maxBackoffMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  add(...steps: SyncStep[]): void {
    this.steps.push(...steps);
  }

  /** True when no step has work left (failed steps count as having work). */
  get settled(): boolean {
    return this.inFlight.size === 0 && this.steps.every((s) => !s.pending);
  }

  /** Resolves when the asynchronous steps in flight have finished (or after maxMs). */
  async idle(maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  failing(): StepFailure[] {
    return [...this.failures.values()];
  }

  /** Milliseconds until the earliest failed step may retry; undefined when none is waiting. */
  nextRetryIn(): number | undefined {
    let soonest: number | undefined;
    for (const s of this.steps) {
      if (!s.pending || this.inFlight.has(s.name)) continue;
      const f = this.failures.get(s.name);
      if (!f) return 0;
      soonest = Math.min(soonest ?? Infinity, Math.max(0, f.retryAt - this.now()));
    }
    return soonest;
  }

  /**
   * Runs, in order, every step with work whose retry time has come. Synchronous steps (kernel writes) finish
   * here; asynchronous ones (datastore writes) are started and report through onSettled, so a slow datastore
   * never holds back the kernel. With `only`, just the steps it picks (still in order).
   */
  runDue(only?: (step: SyncStep) => boolean): void {
    for (const s of this.steps) {
      if (!s.pending || this.inFlight.has(s.name) || (only && !only(s))) continue;
      const failed = this.failures.get(s.name);
      if (failed && failed.retryAt > this.now()) continue;
      let result: void | Promise<void>;
      const started = performance.now();
      try {
        result = s.run();
      } catch (err) {
        this.opts.onRan?.(s.name, performance.now() - started);
        this.failed(s.name, err);
        continue;
      }
      if (result instanceof Promise) {
        this.inFlight.add(s.name);
        result.then(
          () => this.succeeded(s.name),
          (err: unknown) => this.failed(s.name, err),
        ).finally(() => {
          this.opts.onRan?.(s.name, performance.now() - started);
          this.inFlight.delete(s.name);
          this.opts.onSettled?.();
        });
      } else {
        this.opts.onRan?.(s.name, performance.now() - started);
        this.succeeded(s.name);
      }
    }
  }

  private succeeded(name: string): void {
    const failed = this.failures.get(name);
    if (!failed) return;
    this.failures.delete(name);
    this.opts.onRecovered?.(name, failed.attempts);
  }

  private failed(name: string, err: unknown): void {
    const attempts = (this.failures.get(name)?.attempts ?? 0) + 1;
    const delay = backoffDelay({ initialMs: this.initial, maxMs: this.max }, attempts - 1);
    const f = { step: name, error: (err as Error).message, attempts, retryAt: this.now() + delay };
    this.failures.set(name, f);
    this.opts.onFailure?.(f);
  }
}

/** A step whose work is "bring the whole object to its desired state": one flag, set by mark(). */
export class FlagStep implements SyncStep {
  private dirty = true;

  constructor(
    readonly name: string,
    private readonly apply: () => void | Promise<void>,
  ) {}

  get pending(): boolean {
    return this.dirty;
  }

  mark(): void {
    this.dirty = true;
  }

  run(): void | Promise<void> {
    // Marks made while an asynchronous apply is in flight must survive it.
    this.dirty = false;
    try {
      const done = this.apply();
      if (done instanceof Promise) {
        return done.catch((err: unknown) => {
          this.dirty = true;
          throw err;
        });
      }
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }
}
