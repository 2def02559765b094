// SPDX-License-Identifier: Apache-2.0
// Multi-record changes (deleting a pool's empty blocks, a node's records): one transaction where the backend
// can commit it atomically, else the same steps one transaction each, in an order where every intermediate state
// is safe and a re-run finishes the job (etcd refuses transactions over --max-txn-ops).
import { BatchTooLargeError, type Datastore, type Txn } from '../datastore/types.js';

/** One step: re-reads (guarded) whatever it changes, so it is correct on its own as well as inside a batch. */
export type Step = (tx: Txn) => Promise<void>;

export interface StepsOutcome {
  /** 'one transaction', or 'N transactions' when the batch was too large for the backend. */
  mode: string;
}

/**
 * plan() is called inside the single transaction (so its reads are guarded too) and, for the fallback, once
 * against the store. Steps run in the order given.
 */
export async function runSteps(ds: Datastore, plan: (tx: Txn) => Promise<Step[]>): Promise<StepsOutcome> {
  try {
    await ds.transact(async (tx) => {
      for (const step of await plan(tx)) await step(tx);
    });
    return { mode: 'one transaction' };
  } catch (err) {
    if (!(err instanceof BatchTooLargeError)) throw err;
  }
  const steps = await ds.transact(plan);
  for (const step of steps) await ds.transact(step);
  return { mode: `${steps.length} transactions` };
}
