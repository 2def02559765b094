// SPDX-License-Identifier: Apache-2.0
// IPAM's public types: what the agent and the CNI plugin pass in and get back.
import type { IPPool, Node } from '../model/types.js';

/** Does the pool's nodeSelector select the node? Injected so IPAM does not depend on the selector engine. */
export type PoolSelectsNode = (pool: IPPool, node: Node) => boolean;

/** Calico's allowedUses values: a pool serves workloads, tunnel addresses, or both (the default). */
export type AddressUse = 'Workload' | 'Tunnel';

export interface AssignRequest {
  node: string;
  /** Owner of the address, used to release it: the CNI container ID. */
  handle: string;
  /** Recorded beside the allocation (pod, namespace, interface...). */
  attributes?: Record<string, string>;
  /** Allocate only from this pool (CNI `ipPool`); like Calico, an explicit pool overrides its nodeSelector. */
  pool?: string;
  /** The workload's Kubernetes namespace (K8S_POD_NAMESPACE): pools whose namespaceSelector rejects it are skipped. */
  namespace?: string;
}

export interface Assignment {
  /** Dotted IPv4 address, no prefix. */
  address: string;
  /** The block it came from, e.g. "10.244.0.64/26". */
  block: string;
  pool: string;
}

export type TunnelEncap = 'vxlan' | 'ipip';

export interface TunnelAddresses {
  vxlan?: string;
  ipip?: string;
}

export class IpamError extends Error {
  override name = 'IpamError';
}

/** Every block the node could use is full and no unclaimed block is left in the eligible pools. */
export class IpamExhaustedError extends IpamError {
  override name = 'IpamExhaustedError';
}
