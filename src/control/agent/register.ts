// SPDX-License-Identifier: Apache-2.0
// The agent's own Node: created on first start, its underlay address kept current and its start time recorded
// on every start (among nodes claiming one address, the latest agent start keeps it), everything else on it
// (labels, declared VTEP MAC, tunnel addresses written by IPAM) left as it is.
import type { Datastore } from '../datastore/types.js';
import { AGENT_STARTED_ANNOTATION } from '../model/node-record.js';
import { API_VERSION, type Node } from '../model/types.js';

export async function registerNode(ds: Datastore, name: string, address: string, startedAt = new Date()): Promise<Node> {
  return ds.transact(async (tx) => {
    const existing = await tx.get('Node', name);
    const base: Node = existing ?? { apiVersion: API_VERSION, kind: 'Node', metadata: { name }, spec: {} };
    const node: Node = {
      ...base,
      metadata: {
        ...base.metadata,
        annotations: { ...base.metadata.annotations, [AGENT_STARTED_ANNOTATION]: startedAt.toISOString() },
      },
      spec: { ...base.spec, bgp: { ...base.spec.bgp, ipv4Address: address } },
    };
    tx.put(node);
    return node;
  });
}
