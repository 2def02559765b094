// SPDX-License-Identifier: Apache-2.0
// After a full load (the start, or a re-list after a compaction) the heap holds that load's garbage: decoded
// snapshot pages, the first compile's intermediate lists, the first sync's batches. V8 collects the old
// generation only when it next fills, which an idle agent may never do, so its RSS would stay at the start-up
// peak for good (at 5,000 nodes ~190 MB against ~55 MB of live heap). One full collection once that load has
// reached the kernel gives the pages back. V8 offers no way to ask for it without --expose-gc, which a running
// process may still turn on for a fresh context; a process started with --expose-gc keeps its own.
import v8 from 'node:v8';
import vm from 'node:vm';

let collect: (() => void) | undefined;

export function collectGarbageNow(): void {
  collect ??= (globalThis as { gc?: () => void }).gc ?? exposedGc();
  // Compacting every page, not only the few V8 picks: the load's garbage lies between the records kept, and a
  // full collection that only sweeps leaves those pages resident, a third of them free (~30 MB at issue #12's
  // scale). Only for this one collection: the agent's later full collections stay as cheap as V8 makes them.
  v8.setFlagsFromString('--compact-on-every-full-gc');
  try {
    collect();
  } finally {
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

function exposedGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
