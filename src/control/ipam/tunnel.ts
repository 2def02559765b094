// SPDX-License-Identifier: Apache-2.0
// Tunnel addresses: each node gets one address per encapsulation (VXLAN, IPIP) from a pool that selects it and
// encapsulates that way, recorded on its Node the way Calico does (spec.ipv4VXLANTunnelAddr,
// spec.bgp.ipv4IPIPTunnelAddr). One transaction releases a stale address, allocates a new one and updates the
// Node, so the Node never names an address IPAM does not hold for it.
import type { Datastore, Txn } from '../datastore/types.js';
import type { IPPool, Node } from '../model/types.js';
import { assignInTxn, findHandle, getNode, releaseInTxn } from './allocate.js';
import { eligiblePools } from './blocks.js';
import type { PoolSelectsNode, TunnelAddresses, TunnelEncap } from './types.js';

/**
 * One handle per node and encapsulation: a node selected by a VXLAN pool and an IPIP pool needs both addresses
 * (Calico allocates them separately too).
 */
export function tunnelHandle(node: string, encap: TunnelEncap): string {
  return `tunnel:${node}:${encap}`;
}

function encapsulates(pool: IPPool, encap: TunnelEncap): boolean {
  return (encap === 'vxlan' ? pool.spec.vxlanMode : pool.spec.ipipMode) !== 'Never';
}

function recorded(node: Node, encap: TunnelEncap): string | undefined {
  return encap === 'vxlan' ? node.spec.ipv4VXLANTunnelAddr : node.spec.bgp?.ipv4IPIPTunnelAddr;
}

function withRecorded(node: Node, encap: TunnelEncap, address: string | undefined): Node {
  const spec = { ...node.spec };
  if (encap === 'vxlan') {
    if (address) spec.ipv4VXLANTunnelAddr = address;
    else delete spec.ipv4VXLANTunnelAddr;
  } else {
    const bgp = { ...spec.bgp };
    if (address) bgp.ipv4IPIPTunnelAddr = address;
    else delete bgp.ipv4IPIPTunnelAddr;
    if (Object.keys(bgp).length > 0) spec.bgp = bgp;
    else delete spec.bgp;
  }
  return { ...node, spec };
}

export async function ensureTunnelAddressInTxn(
  tx: Txn,
  nodeName: string,
  selects: PoolSelectsNode,
): Promise<TunnelAddresses> {
  let node = await getNode(tx, nodeName);
  const original = node;
  const tunnelPools = eligiblePools(await tx.list('IPPool'), node, 'Tunnel', selects);
  const result: TunnelAddresses = {};
  for (const encap of ['vxlan', 'ipip'] as const) {
    const handle = tunnelHandle(nodeName, encap);
    const wanted = new Set(tunnelPools.filter((p) => encapsulates(p, encap)).map((p) => p.metadata.name));
    // A tunnel address lives in one of the node's own blocks: read those, not the cluster's.
    const held = findHandle(await tx.listOwnedBy('IPAMBlock', nodeName), handle);
    // Keep one address that still comes from a wanted pool; everything else the handle holds goes back.
    const keep = held.find((a) => wanted.has(a.pool));
    await releaseInTxn(tx, handle, (a) => a.address === keep?.address, nodeName);
    let address = keep?.address;
    if (!address && wanted.size > 0) {
      const assigned = await assignInTxn(tx, { node: nodeName, handle, attributes: { node: nodeName, type: `${encap}-tunnel` } }, selects, 'Tunnel', (name) =>
        wanted.has(name),
      );
      address = assigned.address;
    }
    if (recorded(node, encap) !== address) node = withRecorded(node, encap, address);
    if (address) result[encap] = address;
  }
  if (node !== original) tx.put(node);
  return result;
}

/**
 * Make the Node's tunnel addresses match its pools: allocate when an encapsulating pool selects it, move the
 * address when its pool no longer qualifies, release and clear it when none does. Idempotent.
 */
export function ensureTunnelAddress(ds: Datastore, nodeName: string, selects: PoolSelectsNode): Promise<TunnelAddresses> {
  return ds.transact((tx) => ensureTunnelAddressInTxn(tx, nodeName, selects));
}
