// SPDX-License-Identifier: Apache-2.0
import type { IPAMBlock } from '../datastore/types.js';
import { hostVethName, ipamHandle, NETWORK_ANNOTATION } from '../cni/names.js';
import { parseCidr, parseIp } from '../model/cidr.js';
import { isPlainObject } from '../model/parse.js';
import type { Node } from '../model/types.js';
import { checkIntRange, checkKnownFields, checkString, checkUnicastMac, isDns1123Subdomain } from './common.js';
import type { Reporter } from './problem.js';

export const WORKLOAD_SPEC_FIELDS = [
  'node',
  'containerID',
  'interfaceName',
  'hostInterface',
  'hostIfindex',
  'hostMac',
  'mac',
  'ipNetworks',
  'pool',
  'pod',
  'namespace',
  'netns',
  'allowSpoofedSourcePrefixes',
];

export function validateWorkloadEndpointSpec(r: Reporter, spec: Record<string, unknown>): void {
  checkKnownFields(r, 'spec', spec, WORKLOAD_SPEC_FIELDS);
  if (typeof spec.node !== 'string' || !isDns1123Subdomain(spec.node)) {
    r.error('spec.node', spec.node, 'must name a node (a DNS-1123 subdomain)');
  }
  checkString(r, 'spec.containerID', spec.containerID);
  checkString(r, 'spec.interfaceName', spec.interfaceName);
  if (checkString(r, 'spec.hostInterface', spec.hostInterface) && !/^[^\s/]{1,15}$/.test(spec.hostInterface)) {
    r.error('spec.hostInterface', spec.hostInterface, 'must be an interface name of 1 to 15 characters');
  }
  // The agent attaches the workload program to hostInterface and CNI GC deletes it: it must be the veth the
  // CNI itself names for this container, never a host interface such as the uplink.
  if (typeof spec.hostInterface === 'string' && typeof spec.containerID === 'string' && typeof spec.interfaceName === 'string') {
    const expected = hostVethName(spec.containerID, spec.interfaceName);
    if (spec.hostInterface !== expected) {
      r.error('spec.hostInterface', spec.hostInterface, `must be "${expected}", the CNI's veth name for this containerID and interfaceName`);
    }
  }
  if (spec.hostIfindex === undefined) r.error('spec.hostIfindex', undefined, 'must be specified');
  checkIntRange(r, 'spec.hostIfindex', spec.hostIfindex, 1, 2 ** 31 - 1, 'must be a positive interface index');
  for (const field of ['mac', 'hostMac'] as const) {
    if (spec[field] === undefined || spec[field] === '') r.error(`spec.${field}`, spec[field], 'must be specified');
    else checkUnicastMac(r, `spec.${field}`, spec[field]);
  }
  const nets = spec.ipNetworks;
  if (!Array.isArray(nets) || nets.length === 0) {
    r.error('spec.ipNetworks', nets, 'must list the workload addresses, e.g. ["192.168.1.5/32"]');
  } else {
    nets.forEach((n, i) => {
      const c = typeof n === 'string' ? parseCidr(n) : null;
      if (!c || c.prefix !== (c.family === 4 ? 32 : 128)) {
        r.error(`spec.ipNetworks.${i}`, n, 'must be a single address with /32 (IPv4) or /128 (IPv6)');
      }
    });
  }
  checkString(r, 'spec.pool', spec.pool);
  const allowed = spec.allowSpoofedSourcePrefixes;
  if (allowed !== undefined) {
    if (!Array.isArray(allowed)) {
      r.error('spec.allowSpoofedSourcePrefixes', allowed, 'must be a list of CIDRs, e.g. ["10.1.0.0/16"]');
    } else {
      allowed.forEach((p, i) => {
        if (typeof p !== 'string' || !parseCidr(p)) r.error(`spec.allowSpoofedSourcePrefixes.${i}`, p, 'must be a CIDR such as 10.1.0.0/16');
      });
    }
  }
}

/** Who holds each address: IPAM handles, and the nodes' own underlay and tunnel addresses. */
export interface AddressOwners {
  /** Dotted address -> IPAM handle. */
  heldBy: ReadonlyMap<string, string>;
  /** "family/value" -> which node address it is. */
  nodeAddress: ReadonlyMap<string, string>;
}

const ipKey = (family: number, value: bigint) => `${family}/${value}`;

export function addressOwners(blocks: readonly IPAMBlock[], nodes: readonly Pick<Node, 'metadata' | 'spec'>[]): AddressOwners {
  const heldBy = new Map<string, string>();
  for (const b of blocks) {
    for (const [address, a] of Object.entries(b.spec.allocations)) heldBy.set(address, a.handle);
  }
  const nodeAddress = new Map<string, string>();
  const add = (text: string | undefined, what: string) => {
    const ip = text ? parseIp(text.split('/')[0]) : null;
    if (ip) nodeAddress.set(ipKey(ip.family, ip.value), what);
  };
  for (const n of nodes) {
    add(n.spec.bgp?.ipv4Address, `Node(${n.metadata.name}) address (spec.bgp.ipv4Address)`);
    add(n.spec.bgp?.ipv4IPIPTunnelAddr, `Node(${n.metadata.name}) IPIP tunnel address`);
    add(n.spec.ipv4VXLANTunnelAddr, `Node(${n.metadata.name}) VXLAN tunnel address`);
  }
  return { heldBy, nodeAddress };
}

/**
 * An endpoint's addresses must be held in IPAM by its own handle (the one the CNI allocates under for this
 * network, container and interface) and must not be any node's underlay or tunnel address: the agent routes
 * them to the workload, which would otherwise hijack them.
 */
export function checkWorkloadAddresses(r: Reporter, metadata: unknown, spec: Record<string, unknown>, owners: AddressOwners): void {
  const nets = Array.isArray(spec.ipNetworks) ? spec.ipNetworks : [];
  if (typeof spec.containerID !== 'string' || typeof spec.interfaceName !== 'string') return;
  const annotations = isPlainObject(metadata) && isPlainObject(metadata.annotations) ? metadata.annotations : {};
  const network = Object.hasOwn(annotations, NETWORK_ANNOTATION) ? annotations[NETWORK_ANNOTATION] : undefined;
  if (typeof network !== 'string' || network === '') {
    r.error('metadata.annotations', NETWORK_ANNOTATION, `must name the CNI network whose IPAM handle holds the addresses (annotation ${NETWORK_ANNOTATION})`);
    return;
  }
  const handle = ipamHandle(network, spec.containerID, spec.interfaceName);
  nets.forEach((n, i) => {
    const c = typeof n === 'string' ? parseCidr(n) : null;
    if (!c || c.prefix !== (c.family === 4 ? 32 : 128)) return; // already reported as no single address
    const owner = owners.nodeAddress.get(ipKey(c.family, c.addr));
    if (owner) {
      r.error(`spec.ipNetworks.${i}`, n, `is the ${owner}; a workload may not take a node's address`);
      return;
    }
    const holder = owners.heldBy.get(c.network.split('/')[0]);
    if (holder !== handle) {
      const why = holder === undefined ? 'IPAM holds it for nobody' : `IPAM holds it for ${JSON.stringify(holder)}`;
      r.error(`spec.ipNetworks.${i}`, n, `must be allocated in IPAM to this endpoint's handle ${JSON.stringify(handle)}; ${why}`);
    }
  });
}
