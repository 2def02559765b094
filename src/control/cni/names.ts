// SPDX-License-Identifier: Apache-2.0
// Names derived from (container ID, interface): deterministic, so DEL and GC find what ADD made without any
// local state, even after the record in the datastore is gone.
import { createHash } from 'node:crypto';
import { boundedName, RESOURCE_NAME_MAX } from '../model/names.js';

/** Prefix of every host-side veth the plugin creates (Calico uses "cali"). */
export const HOST_VETH_PREFIX = 'bo';

function attachmentHash(containerId: string, ifname: string): string {
  return createHash('sha256').update(`${containerId}.${ifname}`).digest('hex');
}

/** "bo" + 11 hex digits: 13 characters, within the 15-character interface name limit. */
export function hostVethName(containerId: string, ifname: string): string {
  return HOST_VETH_PREFIX + attachmentHash(containerId, ifname).slice(0, 11);
}

/** Is this a name hostVethName() produces? Anything else on the host is not the plugin's to remove. */
export function isHostVethName(ifname: string): boolean {
  return new RegExp(`^${HOST_VETH_PREFIX}[0-9a-f]{11}$`).test(ifname);
}

/** Owner of the workload's addresses in IPAM. */
export function ipamHandle(network: string, containerId: string, ifname: string): string {
  return `cni:${network}:${containerId}:${ifname}`;
}

/** WorkloadEndpoint names are DNS-1123 subdomains; the container ID may be any case, so hash it. */
export function workloadEndpointName(node: string, containerId: string, ifname: string): string {
  return boundedName(node, `.wl-${attachmentHash(containerId, ifname).slice(0, 20)}`, RESOURCE_NAME_MAX, '.');
}

/** Annotations recording which CNI network made an endpoint, so GC of one network leaves others alone. */
export const NETWORK_ANNOTATION = 'cni.bpf-overlay.io/network';
