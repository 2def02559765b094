// The workload MTU when the network config does not fix it. Same rule as the agent's: an explicit
// OverlayConfiguration mtu wins; otherwise the uplink MTU minus the largest encapsulation overhead any enabled
// pool may use (VXLAN 50, IPIP 20), so that an encapsulated full-size packet still fits the underlay.
import type { Datastore } from '../datastore/types.js';
import { detectUplink } from '../agent/uplink.js';
import type { IPPool, Node } from '../model/types.js';
import { runTool } from '../system/run.js';

export const VXLAN_OVERHEAD = 50;
export const IPIP_OVERHEAD = 20;

export function encapOverhead(pools: IPPool[]): number {
  let overhead = 0;
  for (const p of pools) {
    if (p.spec.disabled) continue;
    if (p.spec.vxlanMode !== 'Never') overhead = Math.max(overhead, VXLAN_OVERHEAD);
    if (p.spec.ipipMode !== 'Never') overhead = Math.max(overhead, IPIP_OVERHEAD);
  }
  return overhead;
}

/** MTU of the interface holding the node's underlay address, else of the default-route interface. */
export function uplinkMtu(node: Node | undefined): number {
  const address = node?.spec.bgp?.ipv4Address?.split('/')[0];
  if (address) {
    const out = JSON.parse(runTool('ip', ['-j', '-4', 'addr', 'show'])) as {
      mtu: number;
      addr_info?: { local: string }[];
    }[];
    const iface = out.find((i) => i.addr_info?.some((a) => a.local === address));
    if (iface) return iface.mtu;
  }
  return detectUplink().mtu;
}

export async function workloadMtu(ds: Datastore, nodeName: string, configured?: number): Promise<number> {
  if (configured) return configured;
  const overlay = await ds.get('OverlayConfiguration', 'default');
  if (overlay?.spec.mtu) return overlay.spec.mtu;
  const [node, pools] = await Promise.all([ds.get('Node', nodeName), ds.list('IPPool')]);
  return uplinkMtu(node) - encapOverhead(pools);
}
