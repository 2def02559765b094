// The agent's own Node: created on first start, its underlay address kept current on every start, everything
// else on it (labels, declared VTEP MAC, tunnel addresses written by IPAM) left as it is.
import type { Datastore } from '../datastore/types.js';
import { API_VERSION, type Node } from '../model/types.js';

export async function registerNode(ds: Datastore, name: string, address: string): Promise<Node> {
  return ds.transact(async (tx) => {
    const existing = await tx.get('Node', name);
    const node: Node = existing
      ? { ...existing, spec: { ...existing.spec, bgp: { ...existing.spec.bgp, ipv4Address: address } } }
      : { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: { bgp: { ipv4Address: address } } };
    if (!existing || existing.spec.bgp?.ipv4Address !== address) tx.put(node);
    return node;
  });
}
