// SPDX-License-Identifier: Apache-2.0
// The workload MTU when the network config does not fix it: the node's agent computes it (an
// OverlayConfiguration mtu wins, else the uplink MTU minus the largest overhead among the encapsulations of
// the pools selecting this node) and publishes it in its Node, so ADD reads one small record.
import type { Datastore } from '../datastore/types.js';
import { publishedWorkloadMtu, WORKLOAD_MTU_ANNOTATION } from '../model/node-record.js';
import { CniCode, CniError } from './errors.js';

export async function workloadMtu(ds: Datastore, nodeName: string, configured?: number): Promise<number> {
  if (configured) return configured;
  const mtu = publishedWorkloadMtu(await ds.get('Node', nodeName));
  if (mtu === undefined) {
    throw new CniError(
      CniCode.TryAgainLater,
      `the bpf-overlay agent of node "${nodeName}" has not published the workload MTU yet (Node annotation ` +
        `${WORKLOAD_MTU_ANNOTATION}); is "bpf-overlay load --node ${nodeName}" running? (or set "mtu" in the network config)`,
    );
  }
  return mtu;
}
