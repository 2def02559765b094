// SPDX-License-Identifier: Apache-2.0
// Workload address allocation and release. Each function has a Txn form (composable: the tunnel logic runs
// release + allocate + Node update in one transaction) and a Datastore form that wraps it in transact().
// Uniqueness comes from the store: every allocation rewrites its block record guarded by the version it read,
// and every new block is created guarded by "absent", so two allocators can never both commit the same address.
import type { Datastore, IPAMBlock, Txn } from '../datastore/types.js';
import type { IPPool, Node } from '../model/types.js';
import { parseCidr4 } from '../model/cidr.js';
import { namespaceSelectorAdmits } from '../selector/namespace.js';
import { affinityName, blockInPool, byName, claimBlock, eligiblePools, firstFreeAddress, firstUnclaimedBlock, takenBlocks } from './blocks.js';
import {
  IpamError,
  IpamExhaustedError,
  type AddressUse,
  type AssignRequest,
  type Assignment,
  type PoolSelectsNode,
} from './types.js';

export async function getNode(tx: Txn, name: string): Promise<Node> {
  const node = await tx.get('Node', name);
  if (!node) throw new IpamError(`Node "${name}" does not exist; create it before allocating addresses on it`);
  return node;
}

export function withAllocation(block: IPAMBlock, address: string, req: AssignRequest): IPAMBlock {
  const entry = req.attributes ? { handle: req.handle, attributes: req.attributes } : { handle: req.handle };
  return { ...block, spec: { ...block.spec, allocations: { ...block.spec.allocations, [address]: entry } } };
}

/** Addresses held by the handle, from the given blocks. */
export function findHandle(blocks: IPAMBlock[], handle: string): Assignment[] {
  const out: Assignment[] = [];
  for (const b of blocks) {
    for (const [address, a] of Object.entries(b.spec.allocations)) {
      if (a.handle === handle) out.push({ address, block: b.spec.cidr, pool: b.spec.pool });
    }
  }
  return out;
}

/**
 * Guard the pools at the version listed, which is before the blocks are listed: an allocation that carved a block
 * from a pool deleted or re-created (say with another blockSize) before it commits fails and re-runs, so its block
 * can never land beside an overlapping block claimed from the new pool, which saw every block committed before it.
 */
function guardPools(tx: Txn, pools: IPPool[]): IPPool[] {
  for (const p of pools) tx.guard('IPPool', p.metadata.name);
  return pools;
}

export async function assignInTxn(
  tx: Txn,
  req: AssignRequest,
  selects: PoolSelectsNode,
  use: AddressUse = 'Workload',
  restrictTo?: (poolName: string) => boolean,
): Promise<Assignment> {
  const node = await getNode(tx, req.node);
  let pools = guardPools(tx, eligiblePools(await tx.list('IPPool'), node, use, selects, req.pool));
  if (restrictTo) pools = pools.filter((p) => restrictTo(p.metadata.name));
  // Like nodeSelector, namespaceSelector yields to an explicitly requested pool.
  if (use === 'Workload' && req.pool === undefined) pools = pools.filter((p) => namespaceSelectorAdmits(p.spec.namespaceSelector, req.namespace));
  if (pools.length === 0) {
    const ns = req.namespace === undefined ? '' : ` and admits namespace "${req.namespace}"`;
    throw new IpamError(`no enabled IPv4 IPPool for ${use} addresses selects node "${req.node}"${ns}`);
  }
  // Only the node's own blocks: this IPAM never lends a block to another node, so every address the node's
  // handles hold is in them, and an ADD with room in them reads O(node's blocks), not the cluster's.
  const ownBlocks = await tx.listOwnedBy('IPAMBlock', req.node);
  // A retried CNI ADD for the same container gets the address it already has.
  const held = findHandle(ownBlocks, req.handle).find((a) => pools.some((p) => p.metadata.name === a.pool));
  if (held) return held;

  for (const pool of pools) {
    const own = ownBlocks
      .filter((b) => blockInPool(b, pool))
      .sort(byName);
    for (const block of own) {
      const address = firstFreeAddress(block, pool);
      if (address) {
        tx.put(withAllocation(block, address, req));
        return { address, block: block.spec.cidr, pool: pool.metadata.name };
      }
    }
  }
  // Claiming a new block must steer clear of every claimed range: only here is the whole cluster read.
  const taken = await takenBlocks(tx, await tx.list('IPAMBlock'));
  for (const pool of pools) {
    for (let cidr = firstUnclaimedBlock(pool, taken); cidr; cidr = firstUnclaimedBlock(pool, taken)) {
      const block = claimBlock(tx, pool, req.node, cidr);
      const address = firstFreeAddress(block, pool);
      if (address) {
        tx.put(withAllocation(block, address, req));
        return { address, block: cidr, pool: pool.metadata.name };
      }
      // A block with no usable address (a /32 block on the pool's reserved address) stays claimed, never retried.
      taken.push(parseCidr4(cidr)!);
    }
  }
  throw new IpamExhaustedError(
    `no free address for node "${req.node}": every block of pool(s) ${pools.map((p) => `"${p.metadata.name}"`).join(', ')} ` +
      `is claimed and the node's own blocks are full`,
  );
}

/** Free every address held by the handle; returns what was freed (empty when nothing was held: idempotent). */
/**
 * Releases what `handle` holds. With `node`, only that node's blocks are read: a handle allocated for a node lives
 * in its own blocks (blocks are never lent to another node), so a workload's or tunnel's release stays O(node).
 */
export async function releaseInTxn(tx: Txn, handle: string, keep?: (a: Assignment) => boolean, node?: string): Promise<Assignment[]> {
  const released: Assignment[] = [];
  for (const block of await (node ? tx.listOwnedBy('IPAMBlock', node) : tx.list('IPAMBlock'))) {
    const remaining = { ...block.spec.allocations };
    let changed = false;
    for (const [address, a] of Object.entries(block.spec.allocations)) {
      if (a.handle !== handle) continue;
      const assignment = { address, block: block.spec.cidr, pool: block.spec.pool };
      if (keep?.(assignment)) continue;
      delete remaining[address];
      released.push(assignment);
      changed = true;
    }
    if (!changed) continue;
    if (Object.keys(remaining).length === 0 && !(await tx.get('IPPool', block.spec.pool))) {
      // The last address of a block whose pool was deleted (--force): nothing holds the range any more.
      tx.delete('IPAMBlock', block.metadata.name);
      const affinity = affinityName(block.spec.node, block.spec.cidr);
      if (await tx.get('BlockAffinity', affinity)) tx.delete('BlockAffinity', affinity);
    } else {
      tx.put({ ...block, spec: { ...block.spec, allocations: remaining } });
    }
  }
  return released;
}

export function assignAddress(ds: Datastore, req: AssignRequest, selects: PoolSelectsNode): Promise<Assignment> {
  if (!req.handle) throw new IpamError('assign: handle must be a non-empty string');
  // Every ADD on a node rewrites the same block record: queue on the store's lock rather than conflict.
  return ds.transact((tx) => assignInTxn(tx, req, selects), { holdWriteLock: true });
}

export function releaseByHandle(ds: Datastore, handle: string, node?: string): Promise<Assignment[]> {
  // Fifty DELs of one node rewrite its blocks as fifty ADDs do: they queue on the lock too (a release without a
  // node reads the cluster's blocks, too long to hold anyone up for).
  return ds.transact((tx) => releaseInTxn(tx, handle, undefined, node), node ? { holdWriteLock: true } : {});
}

export async function addressesOfHandle(ds: Datastore, handle: string, node?: string): Promise<Assignment[]> {
  return findHandle(await (node ? ds.listOwnedBy('IPAMBlock', node) : ds.list('IPAMBlock')), handle);
}
