// SPDX-License-Identifier: Apache-2.0
// A specific address asked for by the runtime (podman --ip, CNI_ARGS IP=, runtimeConfig.ips), allocated in one
// transaction from the pool that contains it. The address goes into the node's own block, which is claimed when
// nobody holds it yet; an address in another node's block is refused, because the overlay routes that block
// to the other node and the workload would be unreachable. Released by handle like any other address.
import type { Datastore, IPAMBlock, Txn } from '../datastore/types.js';
import type { IPPool } from '../model/types.js';
import { findHandle, getNode, withAllocation } from './allocate.js';
import { claimBlock, isReserved, overlaps, poolUnusableReason } from './blocks.js';
import { cidr4ContainsIp, formatCidr4, parseCidr4, parseIp } from '../model/cidr.js';
import { namespaceSelectorAdmits } from '../selector/namespace.js';
import { IpamError, type AddressUse, type AssignRequest, type Assignment } from './types.js';

/** The requested address cannot be had: outside every pool, in an unusable pool, or held by someone else. */
export class RequestedAddressError extends IpamError {
  override name = 'RequestedAddressError';
}

export interface RequestedAssignRequest extends AssignRequest {
  /** Dotted IPv4 address. */
  address: string;
}

function containingPool(pools: IPPool[], ip: number, address: string): IPPool {
  const pool = pools.find((p) => {
    const range = parseCidr4(p.spec.cidr);
    return range !== undefined && cidr4ContainsIp(range, ip);
  });
  if (!pool) {
    const known = pools.map((p) => `${p.metadata.name} ${p.spec.cidr}`).join(', ') || 'none exist';
    throw new RequestedAddressError(`requested address ${address} is outside every IPPool (${known})`);
  }
  return pool;
}

/** The node's block that holds the address: an existing one, or a newly claimed block of the pool's size. */
async function blockFor(tx: Txn, blocks: IPAMBlock[], pool: IPPool, node: string, ip: number, address: string): Promise<IPAMBlock> {
  const existing = blocks.find((b) => {
    const range = parseCidr4(b.spec.cidr);
    return range !== undefined && cidr4ContainsIp(range, ip);
  });
  if (existing) {
    if (existing.spec.node !== node) {
      throw new RequestedAddressError(
        `requested address ${address} is in block ${existing.spec.cidr} of node "${existing.spec.node}"; ` +
          `a workload on node "${node}" can only take addresses from its own blocks or an unclaimed one`,
      );
    }
    return existing;
  }
  const size = 2 ** (32 - pool.spec.blockSize);
  const wanted = { base: ip - (ip % size), prefix: pool.spec.blockSize, size };
  const cidr = formatCidr4(wanted);
  const affinities = await tx.list('BlockAffinity');
  const claimed = [
    ...blocks.map((b) => ({ cidr: b.spec.cidr, node: b.spec.node })),
    ...affinities.map((a) => ({ cidr: a.spec.cidr, node: a.spec.node })),
  ].find((c) => {
    const range = parseCidr4(c.cidr);
    return range !== undefined && overlaps(range, wanted);
  });
  if (claimed) {
    throw new RequestedAddressError(
      `requested address ${address} needs block ${cidr}, which overlaps ${claimed.cidr} claimed by node "${claimed.node}"`,
    );
  }
  return claimBlock(tx, pool, node, cidr);
}

export async function assignRequestedInTxn(tx: Txn, req: RequestedAssignRequest, use: AddressUse = 'Workload'): Promise<Assignment> {
  const parsed = parseIp(req.address);
  if (parsed?.family !== 4) throw new RequestedAddressError(`requested address ${JSON.stringify(req.address)} is not a dotted IPv4 address`);
  const ip = Number(parsed.value);
  await getNode(tx, req.node);
  const pool = containingPool(await tx.list('IPPool'), ip, req.address);
  // A pool deleted or re-created meanwhile (another blockSize) makes the commit fail and re-run (see allocate.ts).
  tx.guard('IPPool', pool.metadata.name);
  if (req.pool !== undefined && pool.metadata.name !== req.pool) {
    throw new RequestedAddressError(
      `requested address ${req.address} is in IPPool "${pool.metadata.name}" (${pool.spec.cidr}), not in the network's ipPool "${req.pool}"`,
    );
  }
  // Like an explicit ipPool, a requested address overrides the pool's nodeSelector and its assignmentMode Manual
  // (Calico's AssignIP does too). The namespaceSelector still applies: the address comes from the workload, the
  // restriction from the operator; only the network's own ipPool (the operator's choice) overrides it.
  const reason = poolUnusableReason(pool, use);
  if (reason) throw new RequestedAddressError(`requested address ${req.address} is in IPPool "${pool.metadata.name}", which cannot be used: ${reason}`);
  if (use === 'Workload' && req.pool === undefined && !namespaceSelectorAdmits(pool.spec.namespaceSelector, req.namespace)) {
    throw new RequestedAddressError(
      `requested address ${req.address} is in IPPool "${pool.metadata.name}", whose namespaceSelector does not admit ` +
        (req.namespace === undefined ? 'a workload without a namespace' : `namespace "${req.namespace}"`),
    );
  }
  if (isReserved(parseCidr4(pool.spec.cidr)!, ip)) {
    throw new RequestedAddressError(
      `requested address ${req.address} is the network or broadcast address of IPPool "${pool.metadata.name}" (${pool.spec.cidr}), which is never handed out`,
    );
  }

  const blocks = await tx.list('IPAMBlock');
  const held = findHandle(blocks, req.handle);
  // A retried ADD for the same attachment gets the address it already holds.
  const same = held.find((a) => a.address === req.address);
  if (same) return same;
  if (held.length > 0) {
    throw new RequestedAddressError(
      `handle ${req.handle} already holds ${held.map((a) => a.address).join(', ')}; release it before requesting ${req.address}`,
    );
  }
  const block = await blockFor(tx, blocks, pool, req.node, ip, req.address);
  const holder = block.spec.allocations[req.address];
  if (holder) {
    const who = holder.attributes?.pod ? ` (pod ${holder.attributes.namespace ?? 'default'}/${holder.attributes.pod})` : '';
    throw new RequestedAddressError(`requested address ${req.address} is already held by ${holder.handle}${who}`);
  }
  tx.put(withAllocation(block, req.address, req));
  return { address: req.address, block: block.spec.cidr, pool: block.spec.pool };
}

/** Allocates exactly the requested address for the handle, or fails with a RequestedAddressError saying why. */
export function assignRequestedAddress(ds: Datastore, req: RequestedAssignRequest): Promise<Assignment> {
  if (!req.handle) throw new IpamError('assign: handle must be a non-empty string');
  return ds.transact((tx) => assignRequestedInTxn(tx, req), { holdWriteLock: true });
}
