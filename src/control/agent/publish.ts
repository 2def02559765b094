// SPDX-License-Identifier: Apache-2.0
// What this node's agent publishes in its own Node (model/node-record.ts): the workload MTU the CNI gives new
// workloads, the VTEP MAC (spec.vxlanTunnelMACAddr, as Calico nodes do) and the records it quarantined, for
// `status` on any host. Written only when something differs, in a transaction that leaves every other field
// (labels, IPAM's tunnel addresses) as it is.
import type { Datastore } from '../datastore/types.js';
import {
  MAX_PUBLISHED_QUARANTINE,
  QUARANTINE_ANNOTATION,
  WORKLOAD_MTU_ANNOTATION,
} from '../model/node-record.js';
import { vtepMacOf } from '../model/vtep.js';

export interface NodeRecord {
  workloadMtu: number;
  /** "Kind name: reason" lines. */
  quarantined: string[];
}

/** Returns true when the Node was written. */
export async function publishNodeRecord(ds: Datastore, name: string, record: NodeRecord): Promise<boolean> {
  return ds.transact(async (tx) => {
    const node = await tx.get('Node', name);
    if (!node) throw new Error(`Node "${name}" is gone from the datastore; it is registered again on the agent's next start`);
    const shown = record.quarantined.slice(0, MAX_PUBLISHED_QUARANTINE);
    if (record.quarantined.length > shown.length) shown.push(`... and ${record.quarantined.length - shown.length} more (see the agent's /metrics and log)`);
    const annotations: Record<string, string> = { ...node.metadata.annotations, [WORKLOAD_MTU_ANNOTATION]: String(record.workloadMtu) };
    if (shown.length > 0) annotations[QUARANTINE_ANNOTATION] = JSON.stringify(shown);
    else delete annotations[QUARANTINE_ANNOTATION];
    const mac = node.spec.vxlanTunnelMACAddr ?? vtepMacOf(node);
    const before = node.metadata.annotations ?? {};
    const same =
      node.spec.vxlanTunnelMACAddr === mac &&
      Object.keys(annotations).length === Object.keys(before).length &&
      Object.entries(annotations).every(([k, v]) => before[k] === v);
    if (same) return false;
    tx.put({ ...node, metadata: { ...node.metadata, annotations }, spec: { ...node.spec, vxlanTunnelMACAddr: mac } });
    return true;
  });
}
