// SPDX-License-Identifier: Apache-2.0
// The store's write lock serialises every ADD of a node: fifty ADDs at once queue for it one by one. Most of them
// are busy starting up (two cores, fifty Node.js processes), and a lock holder with an ordinary share of the CPU
// gets a fiftieth of it, so a critical section of a few milliseconds of work stretched to hundreds and the queue
// behind it waited for all of them. While it takes and holds the lock the plugin raises its own scheduling priority
// (it runs as root; without the privilege it carries on at the priority it has) and drops it again right after.
import { getPriority, setPriority } from 'node:os';

/** The nice value while queueing for and holding the write lock: waiting costs no CPU, holding costs milliseconds. */
export const LOCK_HOLDER_NICE = -20;

/** Runs `work` at LOCK_HOLDER_NICE (this thread, which does the datastore's synchronous work), then restores. */
export async function withLockPriority<T>(work: () => Promise<T>): Promise<T> {
  let restore: number | undefined;
  try {
    const before = getPriority();
    if (before > LOCK_HOLDER_NICE) {
      setPriority(LOCK_HOLDER_NICE);
      restore = before;
    }
  } catch {
    // Not permitted (not root, no CAP_SYS_NICE): the same work at the same priority as before.
  }
  try {
    return await work();
  } finally {
    // Lowering the priority again is always permitted.
    if (restore !== undefined) setPriority(restore);
  }
}
