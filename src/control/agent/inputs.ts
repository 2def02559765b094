// Everything the compiler needs about one node, read from the datastore in one place: the agent's reconcile
// loop and the CLI's `get routes` / `status` see exactly the same inputs.
import { compile, type CompileInput, type DesiredState } from '../compile/index.js';
import type { Datastore } from '../datastore/types.js';
import type { Node, WorkloadEndpoint } from '../model/types.js';
import { resolveConfig } from './config.js';

export const DEFAULT_UPLINK_MTU = 1500;

export interface NodeSnapshot {
  self: Node;
  state: DesiredState;
  config: ReturnType<typeof resolveConfig>;
  /** Workloads attached on this node (their host veths carry the from_workload program). */
  localWorkloads: WorkloadEndpoint[];
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
    ds.list('WorkloadEndpoint'),
    ds.list('OverlayConfiguration'),
  ]);
  const self = nodes.find((n) => n.metadata.name === node);
  if (!self) throw new Error(`Node "${node}" is not in the datastore (is its agent running, or was it applied?)`);
  const config = resolveConfig(configs);
  const state = compile({ pools, nodes, blockAffinities, workloads, localNode: node, config, uplinkMtu, learnedRoutes });
  const localWorkloads = workloads.filter((w) => w.spec.node === node);
  return { self, state, config, localWorkloads };
}
