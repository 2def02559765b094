// The workload MTU when the network config does not fix it: exactly what the node's agent computes (the
// compiler's rule: an OverlayConfiguration mtu wins, else the uplink MTU minus the largest overhead among the
// encapsulations of the pools selecting this node), so that the veth and the data path agree.
import { compileForNode } from '../agent/inputs.js';
import { detectUplink } from '../agent/uplink.js';
import type { Datastore } from '../datastore/types.js';
import type { Node } from '../model/types.js';
import { runTool } from '../system/run.js';
import { CniCode, CniError } from './errors.js';

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
  const node = await ds.get('Node', nodeName);
  try {
    const { state } = await compileForNode(ds, nodeName, uplinkMtu(node));
    return state.workloadMtu;
  } catch (err) {
    throw new CniError(
      CniCode.DatastoreFailure,
      `cannot derive the workload MTU for node "${nodeName}" (set "mtu" in the network config to bypass): ${(err as Error).message}`,
    );
  }
}
