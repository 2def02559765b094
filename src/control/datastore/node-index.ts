// SPDX-License-Identifier: Apache-2.0
// Which node's index a stored resource is kept under. Both backends index the same records by the same rule (an
// etcd key under the node, a SQLite column), so that a node reads its own records without reading the cluster's.
import { EVERY_NODE, type StoredKind, type StoredResource } from './types.js';

/** The kinds kept in a per-node index: WorkloadEndpoints by audience, the node-owned kinds by owner. */
export const NODE_INDEXED_KINDS = ['WorkloadEndpoint', 'IPAMBlock', 'BlockAffinity'] as const satisfies readonly StoredKind[];

/**
 * For a WorkloadEndpoint, who must see it under a node filter: its node, or EVERY_NODE when it allows spoofed
 * source prefixes (every node accepts those from its node). For a node-owned kind, its owner (spec.node).
 * Undefined for every other kind, and for a record without a node.
 */
export function indexNodeOf(resource: StoredResource | undefined): string | undefined {
  if (resource?.kind === 'IPAMBlock' || resource?.kind === 'BlockAffinity') return resource.spec.node || undefined;
  if (resource?.kind !== 'WorkloadEndpoint') return undefined;
  return (resource.spec.allowSpoofedSourcePrefixes?.length ?? 0) > 0 ? EVERY_NODE : resource.spec.node || undefined;
}
