// SPDX-License-Identifier: Apache-2.0
// Who holds an IPAM handle: a node's tunnel (tunnel:<node>:<encap>) or a workload's WorkloadEndpoint (the CNI's
// handle cni:<network>:<containerID>:<ifname>). What node deletion releases and `ipam check` calls leaked.
import { ipamHandle, NETWORK_ANNOTATION } from '../cni/names.js';
import type { IPAMAllocation } from '../datastore/types.js';
import type { WorkloadEndpoint } from '../model/types.js';

const TUNNEL_HANDLE = /^tunnel:(.+):(vxlan|ipip)$/;

/** The node a tunnel handle belongs to, or undefined for any other handle. */
export function tunnelHandleNode(handle: string): string | undefined {
  return TUNNEL_HANDLE.exec(handle)?.[1];
}

/** The handles a WorkloadEndpoint's addresses are held under (one per network it could have come from). */
export function endpointHandles(wep: WorkloadEndpoint): string[] {
  const network = wep.metadata.annotations?.[NETWORK_ANNOTATION];
  return network ? [ipamHandle(network, wep.spec.containerID, wep.spec.interfaceName)] : [];
}

/** Does this allocation belong to the workload (same handle, or same container and interface recorded)? */
export function heldByEndpoint(a: IPAMAllocation, wep: WorkloadEndpoint): boolean {
  if (endpointHandles(wep).includes(a.handle)) return true;
  const at = a.attributes;
  return !!at && at.containerID === wep.spec.containerID && at.ifname === wep.spec.interfaceName && at.node === wep.spec.node;
}

/** The node an allocation was made for, as far as its handle and attributes say. */
export function allocationNode(a: IPAMAllocation): string | undefined {
  return tunnelHandleNode(a.handle) ?? a.attributes?.node;
}
