// SPDX-License-Identifier: Apache-2.0
// The incremental compiler's cost per event at cluster scale: one remote block or node change, or one pool
// mode change, through IncrementalCompiler.apply on a compiler loaded with the whole cluster. No kernel work:
// the map writes of the changed keys are measured by the mirrored-sync figures next to it.
import { IncrementalCompiler, type ChangeSet, type CompilerEvent } from '../../src/control/compile/incremental.js';
import type { BlockAffinity, IPPool, Node } from '../../src/control/model/types.js';

export interface EventTiming {
  /** apply() alone: what the agent pays before it syncs the changed keys (read with route()/knownNode()). */
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** apply() then reading `state` (the sorted lists brought up to date and copied). */
  withStateMedianMs: number;
  withStateMaxMs: number;
  /** Route and known-node keys the event changed (the same for every sample). */
  routesChanged: number;
  knownNodesChanged: number;
}

export interface IncrementalResult {
  loadMs: number;
  remoteBlockAdd: EventTiming;
  remoteBlockRemove: EventTiming;
  remoteNodeAdd: EventTiming;
  remoteNodeRemove: EventTiming;
  remoteNodeAddressChange: EventTiming;
  poolModeChange: EventTiming;
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

interface Sample {
  ms: number;
  stateMs: number;
  c: ChangeSet;
}

function timed(samples: Sample[]): EventTiming {
  const t = samples.map((s) => s.ms).sort((a, b) => a - b);
  const w = samples.map((s) => s.ms + s.stateMs).sort((a, b) => a - b);
  const last = samples[samples.length - 1].c;
  return {
    medianMs: t[Math.floor(t.length / 2)],
    minMs: t[0],
    maxMs: t[t.length - 1],
    withStateMedianMs: w[Math.floor(w.length / 2)],
    withStateMaxMs: w[w.length - 1],
    routesChanged: last.routes.size,
    knownNodesChanged: last.knownNodes.size,
  };
}

export interface SyntheticCluster {
  pools: IPPool[];
  nodes: Node[];
  blocks: BlockAffinity[];
  node: (i: number) => Node;
  blocksOf: (i: number) => BlockAffinity[];
}

const put = (kind: CompilerEvent['kind'], r: IPPool | Node | BlockAffinity): CompilerEvent => ({ type: 'put', kind, name: r.metadata.name, resource: r });
const del = (kind: CompilerEvent['kind'], r: { metadata: { name: string } }): CompilerEvent => ({ type: 'delete', kind, name: r.metadata.name });

/** Loads the cluster as node-0, then times `repeats` of each kind of change (each undone before the next). */
export function measureIncremental(cluster: SyntheticCluster, repeats: number): IncrementalResult {
  const inc = new IncrementalCompiler({ localNode: 'node-0', uplinkMtu: 1500 });
  let t0 = process.hrtime.bigint();
  inc.load({ pools: cluster.pools, nodes: cluster.nodes, blockAffinities: cluster.blocks, workloads: [], configs: [] });
  const loadMs = ms(t0);
  void inc.state;
  const run = (ev: CompilerEvent): Sample => {
    t0 = process.hrtime.bigint();
    const c = inc.apply(ev);
    const applied = ms(t0);
    t0 = process.hrtime.bigint();
    void inc.state;
    return { ms: applied, stateMs: ms(t0), c };
  };
  const samples = (make: (r: number) => CompilerEvent[]): Sample[][] => {
    const out: Sample[][] = [];
    for (let r = 0; r < repeats; r++) make(r).forEach((ev, i) => (out[i] ??= []).push(run(ev)));
    return out;
  };
  const n = cluster.nodes.length;
  // A new block of an existing remote node (the node's first block moved to a fresh CIDR name).
  const [blockAdd, blockRemove] = samples((r) => {
    const b = cluster.blocksOf(n + 100 + r)[0];
    const moved: BlockAffinity = { ...b, spec: { ...b.spec, node: `node-${1 + (r % (n - 1))}` } };
    return [put('BlockAffinity', moved), del('BlockAffinity', moved)];
  });
  const [nodeAdd, nodeRemove] = samples((r) => [put('Node', cluster.node(n + r)), del('Node', cluster.node(n + r))]);
  const [addrChange] = samples((r) => {
    const node = cluster.nodes[1 + (r % (n - 1))];
    const moved: Node = { ...node, spec: { ...node.spec, bgp: { ipv4Address: `172.31.${r % 250}.${1 + (r % 250)}/22` } } };
    return [put('Node', moved), put('Node', node)];
  });
  const [poolChange] = samples((r) => {
    const pool = cluster.pools[0];
    const modes: Array<Pick<IPPool['spec'], 'ipipMode' | 'vxlanMode'>> = [
      { ipipMode: 'Always', vxlanMode: 'Never' },
      { ipipMode: 'Never', vxlanMode: 'Always' },
    ];
    return [put('IPPool', { ...pool, spec: { ...pool.spec, ...modes[r % 2] } })];
  });
  return {
    loadMs,
    remoteBlockAdd: timed(blockAdd),
    remoteBlockRemove: timed(blockRemove),
    remoteNodeAdd: timed(nodeAdd),
    remoteNodeRemove: timed(nodeRemove),
    remoteNodeAddressChange: timed(addrChange),
    poolModeChange: timed(poolChange),
  };
}

const EVENTS: Array<[keyof Omit<IncrementalResult, 'loadMs'>, string]> = [
  ['remoteBlockAdd', 'remote block added'],
  ['remoteBlockRemove', 'remote block removed'],
  ['remoteNodeAdd', 'remote node added'],
  ['remoteNodeRemove', 'remote node removed'],
  ['remoteNodeAddressChange', 'remote node address changed'],
  ['poolModeChange', 'pool mode changed (all its blocks)'],
];

/** The per-event table of the control-plane section, one row per event kind and cluster size. */
export function incrementalMarkdown(scale: ReadonlyArray<{ nodes: number; blocks: number; incremental?: IncrementalResult }>): string[] {
  const rows = scale.filter((s) => s.incremental);
  if (rows.length === 0) return [];
  return [
    '### Incremental compiler (IncrementalCompiler.apply, one event, same clusters)',
    '',
    '| nodes | event | apply ms (median, min–max) | + read state ms (median, max) | routes changed | known nodes changed |',
    '|---:|---|---:|---:|---:|---:|',
    ...rows.flatMap((s) =>
      EVENTS.map(([k, label]) => {
        const e = s.incremental![k];
        return `| ${s.nodes} | ${label} | ${e.medianMs.toFixed(3)} (${e.minMs.toFixed(3)}–${e.maxMs.toFixed(3)}) | ${e.withStateMedianMs.toFixed(3)} (${e.withStateMaxMs.toFixed(3)}) | ${e.routesChanged} | ${e.knownNodesChanged} |`;
      }),
    ),
    '',
    `Load of the whole cluster into the incremental compiler: ${rows.map((s) => `${s.nodes} nodes ${s.incremental!.loadMs.toFixed(0)} ms`).join(', ')}. ` +
      '"read state" also brings the sorted lists (routes, decisions, known nodes) up to date and copies them; the agent can instead read the changed keys with route() / knownNode().',
    '',
  ];
}

export function incrementalTargets(r: IncrementalResult): Array<{ target: string; value: string; met: boolean; note: string; why?: string }> {
  const worst = Math.max(r.remoteBlockAdd.medianMs, r.remoteBlockRemove.medianMs, r.remoteNodeAdd.medianMs, r.remoteNodeRemove.medianMs, r.remoteNodeAddressChange.medianMs);
  return [
    {
      target: '5,000 nodes one node/block change through the incremental compiler < 10 ms',
      value: `worst median ${worst.toFixed(3)} ms`,
      met: worst < 10,
      note: '',
      why: worst < 10 ? '' : 'see the incremental compiler table',
    },
  ];
}
