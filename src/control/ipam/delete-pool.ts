// SPDX-License-Identifier: Apache-2.0
// Deleting an IPPool. Addresses still held in its blocks belong to running workloads and node tunnels: deleting
// the pool under them needs --force, and even then their blocks stay (claimed, so no new pool can hand those
// addresses out again) until the addresses are released. The pool's empty blocks go with it.
import { describeRef, NotFoundError, type IPAMBlock, type Txn } from '../datastore/types.js';
import { affinityName } from './blocks.js';
import { tunnelHandleNode } from './owners.js';
import type { Step } from './steps.js';
import { IpamError } from './types.js';

export interface PoolUsage {
  addresses: number;
  workload: number;
  tunnel: number;
  /** Blocks of the pool that hold at least one address. */
  busyBlocks: number;
  emptyBlocks: number;
}

/** The pool's address use, from the blocks carved from it. */
export function poolUsage(pool: string, blocks: readonly IPAMBlock[]): PoolUsage {
  const usage: PoolUsage = { addresses: 0, workload: 0, tunnel: 0, busyBlocks: 0, emptyBlocks: 0 };
  for (const b of blocks) {
    if (b.spec.pool !== pool) continue;
    const handles = Object.values(b.spec.allocations).map((a) => a.handle);
    if (handles.length === 0) usage.emptyBlocks++;
    else usage.busyBlocks++;
    usage.addresses += handles.length;
    usage.tunnel += handles.filter((h) => tunnelHandleNode(h) !== undefined).length;
  }
  usage.workload = usage.addresses - usage.tunnel;
  return usage;
}

/** Refused deletion of a pool whose blocks still hold addresses (no --force). */
export class PoolInUseError extends IpamError {
  override name = 'PoolInUseError';
}

function checkedUsage(name: string, blocks: readonly IPAMBlock[], opts: DeletePoolOptions): PoolUsage {
  const usage = poolUsage(name, blocks);
  if (usage.addresses > 0 && !opts.force) {
    throw new PoolInUseError(
      `IPPool "${name}": ${usage.addresses} address(es) in use in ${usage.busyBlocks} of its blocks ` +
        `(${usage.workload} workload, ${usage.tunnel} tunnel); release them first, or delete with --force ` +
        `(the blocks holding them are kept until they are released)`,
    );
  }
  return usage;
}

export interface DeletePoolOptions {
  force?: boolean;
  ignoreMissing?: boolean;
}

export interface DeletePoolResult {
  deleted: boolean;
  usage: PoolUsage;
}

/**
 * Plan the deletion of one pool; `result` is filled in as the plan is made. Every block is read with a kind
 * guard, so an address allocated from the pool between this check and the commit makes the commit re-run.
 */
export async function planPoolDeletion(tx: Txn, name: string, opts: DeletePoolOptions, result: DeletePoolResult): Promise<Step[]> {
  const pool = await tx.get('IPPool', name);
  if (!pool) {
    if (opts.ignoreMissing) return [];
    throw new NotFoundError(`${describeRef({ kind: 'IPPool', name })} not found`, { kind: 'IPPool', name });
  }
  const blocks = await tx.list('IPAMBlock', { guardKind: true });
  Object.assign(result, { deleted: true, usage: checkedUsage(name, blocks, opts) });
  const steps: Step[] = [
    async (t) => {
      if (!(await t.get('IPPool', name))) return;
      // Checked again when this runs as a step of its own (a batch too large for one transaction).
      checkedUsage(name, await t.list('IPAMBlock', { guardKind: true }), opts);
      t.delete('IPPool', name);
    },
  ];
  for (const b of blocks) {
    if (b.spec.pool !== name || Object.keys(b.spec.allocations).length > 0) continue;
    steps.push(async (t) => {
      // Only while still empty, and only once its pool is gone (a re-created pool of that name keeps it).
      const current = await t.get('IPAMBlock', b.metadata.name);
      if (!current || Object.keys(current.spec.allocations).length > 0 || (await t.get('IPPool', name))) return;
      t.delete('IPAMBlock', b.metadata.name);
      const affinity = affinityName(current.spec.node, current.spec.cidr);
      if (await t.get('BlockAffinity', affinity)) t.delete('BlockAffinity', affinity);
    });
  }
  return steps;
}
