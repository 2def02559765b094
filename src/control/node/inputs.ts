// SPDX-License-Identifier: Apache-2.0
// Everything the compiler needs about one node, read from the datastore in one place for the CLI's
// `get routes` / `status`: the same admission (quarantine) as the agent, then the pure compiler, so both see
// exactly the same desired state. The agent itself never lists: it runs on a watch-fed cache.
import { compile, type CompileInput, type DesiredState } from '../compile/index.js';
import type { Datastore } from '../datastore/types.js';
import type { Node, WorkloadEndpoint } from '../model/types.js';
import { resolveConfig } from './config.js';
import { Admission, type QuarantineEntry } from './quarantine.js';

export const DEFAULT_UPLINK_MTU = 1500;

export interface NodeSnapshot {
  self: Node;
  state: DesiredState;
  config: ReturnType<typeof resolveConfig>;
  /** Workloads attached on this node (their host veths carry the from_workload program). */
  localWorkloads: WorkloadEndpoint[];
  /** Records the node's agent skips (as far as the datastore alone tells). */
  quarantined: QuarantineEntry[];
}

export async function compileForNode(
  ds: Datastore,
  node: string,
  uplinkMtu = DEFAULT_UPLINK_MTU,
  learnedRoutes: CompileInput['learnedRoutes'] = [],
): Promise<NodeSnapshot> {
  const [pools, nodes, blockAffinities, workloads, configs] = await Promise.all([
    ds.list('IPPool'),
    ds.list('Node'),
    ds.list('BlockAffinity'),
    ds.list('WorkloadEndpoint', { node }),
    ds.list('OverlayConfiguration'),
  ]);
  const self = nodes.find((n) => n.metadata.name === node);
  if (!self) throw new Error(`Node "${node}" is not in the datastore (is its agent running, or was it applied?)`);
  const address = self.spec.bgp?.ipv4Address;
  const admission = address ? new Admission({ node, address }) : undefined;
  const admitted = admission?.reset({ pools, nodes, blockAffinities, workloads, configs }) ?? { pools, nodes, blockAffinities, workloads, configs };
  const config = resolveConfig(admitted.configs);
  const state = compile({ ...admitted, localNode: node, config, uplinkMtu, learnedRoutes });
  const localWorkloads = admitted.workloads.filter((w) => w.spec.node === node);
  return { self, state, config, localWorkloads, quarantined: admission?.quarantined() ?? [] };
}
