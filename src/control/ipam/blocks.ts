// SPDX-License-Identifier: Apache-2.0
// Block carving: which pools a node may use, which blocks of a pool are still unclaimed, which addresses of a
// block are free, and the records (IPAMBlock + BlockAffinity) that claim a block for a node.
import { boundedName, RESOURCE_NAME_MAX } from '../model/names.js';
import type { IPAMBlock, Txn } from '../datastore/types.js';
import { API_VERSION, type BlockAffinity, type IPPool, type Node } from '../model/types.js';
import { cidr4ContainsIp, formatCidr4, formatIPv4, parseCidr4, type Cidr4 } from '../model/cidr.js';
import { IpamError, type AddressUse, type PoolSelectsNode } from './types.js';

/** "10.244.0.64/26" -> "10-244-0-64-26": a datastore name that keeps the CIDR readable. */
export function blockName(cidr: string): string {
  return cidr.replace(/[./]/g, '-');
}

export function affinityName(node: string, cidr: string): string {
  return boundedName(node, `-${blockName(cidr)}`, RESOURCE_NAME_MAX, '.');
}

function poolCidr(pool: IPPool): Cidr4 | undefined {
  return parseCidr4(pool.spec.cidr);
}

function servesUse(pool: IPPool, use: AddressUse): boolean {
  const uses = pool.spec.allowedUses;
  return !uses || uses.length === 0 || uses.includes(use);
}

/** Why this pool cannot serve the request, or undefined when it can (nodeSelector aside). */
export function poolUnusableReason(pool: IPPool, use: AddressUse): string | undefined {
  if (pool.spec.disabled) return 'it is disabled';
  const cidr = poolCidr(pool);
  if (!cidr) return `its cidr "${pool.spec.cidr}" is not IPv4 (this IPAM serves IPv4 pools only)`;
  if (pool.spec.blockSize < cidr.prefix || pool.spec.blockSize > 32) {
    return `its blockSize ${pool.spec.blockSize} does not fit its cidr ${pool.spec.cidr}`;
  }
  if (!servesUse(pool, use)) return `its allowedUses (${pool.spec.allowedUses?.join(', ')}) exclude ${use}`;
  return undefined;
}

/**
 * Pools an allocation may draw from, in name order. An explicitly requested pool must exist and be usable, and,
 * as in Calico, overrides its own nodeSelector; otherwise every usable Automatic pool that selects the node
 * qualifies.
 */
export function eligiblePools(
  pools: IPPool[],
  node: Node,
  use: AddressUse,
  selects: PoolSelectsNode,
  requested?: string,
): IPPool[] {
  if (requested !== undefined) {
    const pool = pools.find((p) => p.metadata.name === requested);
    if (!pool) throw new IpamError(`ipPool "${requested}" does not exist`);
    const reason = poolUnusableReason(pool, use);
    if (reason) throw new IpamError(`ipPool "${requested}" cannot be used: ${reason}`);
    return [pool];
  }
  // As in Calico, a Manual pool serves only requests that name it.
  return pools
    .filter((p) => p.spec.assignmentMode !== 'Manual' && poolUnusableReason(p, use) === undefined && selects(p, node))
    .sort(byName);
}

/**
 * Resource names (DNS-1123: a-z, 0-9, '-', '.') in code-unit order, which for them is localeCompare's order. Not
 * localeCompare itself: its first call sets up ICU collation (7-25 ms), and allocation runs under the write lock.
 */
export function byName(a: { metadata: { name: string } }, b: { metadata: { name: string } }): number {
  const x = a.metadata.name;
  const y = b.metadata.name;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Addresses never handed out: the pool's own network and broadcast addresses. Calico hands them out (a /32 route
 * makes them work), but some stacks and middleboxes treat x.x.x.0/x.x.x.255-style addresses specially, and the
 * cost is two addresses per pool. Pools of /31 and /32 have no such addresses (RFC 3021), so nothing is reserved.
 */
export function isReserved(pool: Cidr4, ip: number): boolean {
  if (pool.prefix >= 31) return false;
  return ip === pool.base || ip === pool.base + pool.size - 1;
}

/** Lowest free address of the block, or undefined when it is full. */
export function firstFreeAddress(block: IPAMBlock, pool: IPPool): string | undefined {
  const cidr = parseCidr4(block.spec.cidr);
  const poolRange = poolCidr(pool);
  if (!cidr || !poolRange) return undefined;
  for (let ip = cidr.base; ip < cidr.base + cidr.size; ip++) {
    if (isReserved(poolRange, ip)) continue;
    const text = formatIPv4(ip);
    if (!(text in block.spec.allocations)) return text;
  }
  return undefined;
}

export function overlaps(a: Cidr4, b: Cidr4): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

/**
 * First block of the pool that overlaps nothing claimed (no IPAMBlock and no BlockAffinity covers any of its
 * addresses), if any. Overlap, not equal CIDR text: after a pool is re-created with another blockSize, its new
 * blocks must still steer clear of the old pool's live blocks.
 */
export function firstUnclaimedBlock(pool: IPPool, taken: readonly Cidr4[]): string | undefined {
  const range = poolCidr(pool)!;
  const blockAddresses = 2 ** (32 - pool.spec.blockSize);
  for (let base = range.base; base < range.base + range.size; ) {
    const candidate = { base, prefix: pool.spec.blockSize, size: blockAddresses };
    const hit = taken.find((t) => overlaps(t, candidate));
    if (!hit) return formatCidr4(candidate);
    // Skip every candidate the claimed range covers, staying on the pool's block grid.
    const end = hit.base + hit.size;
    base = Math.max(base + blockAddresses, Math.ceil((end - range.base) / blockAddresses) * blockAddresses + range.base);
  }
  return undefined;
}

export function blockInPool(block: IPAMBlock, pool: IPPool): boolean {
  const range = poolCidr(pool);
  const cidr = parseCidr4(block.spec.cidr);
  return !!range && !!cidr && block.spec.pool === pool.metadata.name && cidr4ContainsIp(range, cidr.base);
}

/** Claim a block for the node in the transaction: create its IPAMBlock and BlockAffinity, both must be new. */
export function claimBlock(tx: Txn, pool: IPPool, node: string, cidr: string): IPAMBlock {
  const block: IPAMBlock = {
    apiVersion: API_VERSION,
    kind: 'IPAMBlock',
    metadata: { name: blockName(cidr) },
    spec: { cidr, pool: pool.metadata.name, node, allocations: {} },
  };
  const affinity: BlockAffinity = {
    apiVersion: API_VERSION,
    kind: 'BlockAffinity',
    metadata: { name: affinityName(node, cidr) },
    spec: { node, cidr, state: 'confirmed', deleted: false },
  };
  tx.create(block);
  tx.create(affinity);
  return block;
}

/** Ranges already claimed by anyone: those of a block record or an affinity (unparseable ones claim nothing). */
export async function takenBlocks(tx: Txn, blocks: IPAMBlock[]): Promise<Cidr4[]> {
  const affinities = await tx.list('BlockAffinity');
  return [...blocks.map((b) => b.spec.cidr), ...affinities.map((a) => a.spec.cidr)]
    .map((c) => parseCidr4(c))
    .filter((c): c is Cidr4 => c !== undefined);
}
