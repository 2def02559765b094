// SPDX-License-Identifier: Apache-2.0
// The incremental compiler's contract: the agent feeds it datastore deltas and gets back the keys of desired
// state that changed, so each syncer touches only those. `compile()` stays the oracle: after any sequence of
// events, `state` deep-equals `compile()` of the same inputs.
//
// This baseline recompiles everything on each event and diffs the result; it is correct but costs a full
// compile per event. Resolver passes keyed by the resources they read replace its internals, not its API.
import { compile } from './compile.js';
import { sourceAllowKey } from './source-allow.js';
import { overlayConfigWithDefaults } from '../model/parse.js';
import type { CompileInput, DesiredState } from './types.js';
import type { BlockAffinity, IPPool, Node, OverlayConfiguration, WorkloadEndpoint } from '../model/types.js';

/** The kinds the compiler reads. */
export type CompilerKind = 'IPPool' | 'Node' | 'BlockAffinity' | 'WorkloadEndpoint' | 'OverlayConfiguration';

type CompilerResource = IPPool | Node | BlockAffinity | WorkloadEndpoint | OverlayConfiguration;

export type CompilerEvent =
  | { type: 'put'; kind: CompilerKind; name: string; resource: CompilerResource }
  | { type: 'delete'; kind: CompilerKind; name: string };

/** What one event (or a batch of them) changed in the desired state. Empty sets and false mean "untouched". */
export interface ChangeSet {
  /** routes_map keys (cidr) added, updated or removed. */
  routes: Set<string>;
  /** known_nodes_map keys (underlay address) added, updated or removed. */
  knownNodes: Set<string>;
  settings: boolean;
  /** source_allow_map keys (sourceAllowKey) added or removed. */
  sourceAllow: Set<string>;
  natOutgoing: boolean;
  workloadMtu: boolean;
  /** The set of local workloads (names) whose attachment may need work. */
  localWorkloads: Set<string>;
  /** Load-time constants or hook choice may differ (encapsInUse, localEncaps, local node address, config). */
  datapath: boolean;
  warnings: boolean;
}

export function emptyChangeSet(): ChangeSet {
  return {
    routes: new Set(),
    knownNodes: new Set(),
    settings: false,
    sourceAllow: new Set(),
    natOutgoing: false,
    workloadMtu: false,
    localWorkloads: new Set(),
    datapath: false,
    warnings: false,
  };
}

export function isEmptyChangeSet(c: ChangeSet): boolean {
  return (
    c.routes.size === 0 &&
    c.knownNodes.size === 0 &&
    !c.settings &&
    c.sourceAllow.size === 0 &&
    !c.natOutgoing &&
    !c.workloadMtu &&
    c.localWorkloads.size === 0 &&
    !c.datapath &&
    !c.warnings
  );
}

export interface IncrementalCompilerOptions {
  localNode: string;
  uplinkMtu: number;
}

/** The workloads the compiler reads: this node's, and other nodes' that allow spoofed sources (source-allow.ts). */
function compilerReads(w: WorkloadEndpoint, localNode: string): boolean {
  return w.spec.node === localNode || (w.spec.allowSpoofedSourcePrefixes?.length ?? 0) > 0;
}

const isLocalWorkload = (r: CompilerResource | undefined, localNode: string): boolean =>
  r?.kind === 'WorkloadEndpoint' && r.spec.node === localNode;

export interface CompilerSnapshot {
  pools: readonly IPPool[];
  nodes: readonly Node[];
  blockAffinities: readonly BlockAffinity[];
  /** Only this node's workloads (and others' with allowSpoofedSourcePrefixes) are needed; others are ignored. */
  workloads: readonly WorkloadEndpoint[];
  configs: readonly OverlayConfiguration[];
}

export class IncrementalCompiler {
  private readonly inputs = {
    IPPool: new Map<string, IPPool>(),
    Node: new Map<string, Node>(),
    BlockAffinity: new Map<string, BlockAffinity>(),
    WorkloadEndpoint: new Map<string, WorkloadEndpoint>(),
    OverlayConfiguration: new Map<string, OverlayConfiguration>(),
  };
  private current: DesiredState;
  private learnedRoutes: NonNullable<CompileInput['learnedRoutes']> = [];

  constructor(private readonly opts: IncrementalCompilerOptions) {
    this.current = compile(this.compileInput());
  }

  /** The desired state for the inputs seen so far; equal to compile() of them. */
  get state(): DesiredState {
    return this.current;
  }

  /** Replaces every input (start-up, or a re-list after a lost watch) and reports what differs. */
  load(snapshot: CompilerSnapshot): ChangeSet {
    for (const m of Object.values(this.inputs)) m.clear();
    for (const r of snapshot.pools) this.inputs.IPPool.set(r.metadata.name, r);
    for (const r of snapshot.nodes) this.inputs.Node.set(r.metadata.name, r);
    for (const r of snapshot.blockAffinities) this.inputs.BlockAffinity.set(r.metadata.name, r);
    for (const r of snapshot.workloads) if (compilerReads(r, this.opts.localNode)) this.inputs.WorkloadEndpoint.set(r.metadata.name, r);
    for (const r of snapshot.configs) this.inputs.OverlayConfiguration.set(r.metadata.name, r);
    const changes = this.recompile();
    for (const [name, w] of this.inputs.WorkloadEndpoint) if (isLocalWorkload(w, this.opts.localNode)) changes.localWorkloads.add(name);
    return changes;
  }

  /** Applies one datastore delta. */
  apply(ev: CompilerEvent): ChangeSet {
    return this.applyAll([ev]);
  }

  /** Applies several deltas (a burst coalesced by the agent) and reports their combined effect. */
  applyAll(events: readonly CompilerEvent[]): ChangeSet {
    const workloads = new Set<string>();
    for (const ev of events) {
      const m = this.inputs[ev.kind] as Map<string, CompilerResource>;
      const held = m.get(ev.name);
      const put = ev.type === 'put' ? ev.resource : undefined;
      const keep = put !== undefined && (ev.kind !== 'WorkloadEndpoint' || compilerReads(put as WorkloadEndpoint, this.opts.localNode));
      if (keep) m.set(ev.name, put);
      else m.delete(ev.name);
      if (isLocalWorkload(held, this.opts.localNode) || isLocalWorkload(put, this.opts.localNode)) workloads.add(ev.name);
    }
    const changes = this.recompile();
    for (const w of workloads) changes.localWorkloads.add(w);
    return changes;
  }

  /** Replaces the routes BIRD learned over BGP (used only where the datastore has no route) and reports what differs. */
  setLearnedRoutes(routes: CompileInput['learnedRoutes'] = []): ChangeSet {
    this.learnedRoutes = [...routes];
    return this.recompile();
  }

  /** The inputs as compile() takes them, for the oracle comparison in tests. */
  compileInput(): CompileInput {
    return {
      pools: [...this.inputs.IPPool.values()],
      nodes: [...this.inputs.Node.values()],
      blockAffinities: [...this.inputs.BlockAffinity.values()],
      workloads: [...this.inputs.WorkloadEndpoint.values()],
      localNode: this.opts.localNode,
      config: overlayConfigWithDefaults(this.inputs.OverlayConfiguration.get('default')?.spec),
      uplinkMtu: this.opts.uplinkMtu,
      learnedRoutes: this.learnedRoutes,
    };
  }

  private recompile(): ChangeSet {
    const before = this.current;
    const after = compile(this.compileInput());
    this.current = after;
    return diffStates(before, after);
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function diffKeyed<T>(before: readonly T[], after: readonly T[], keyOf: (t: T) => string, into: Set<string>): void {
  const old = new Map(before.map((e) => [keyOf(e), e]));
  for (const e of after) {
    const k = keyOf(e);
    const prev = old.get(k);
    if (!prev || !same(prev, e)) into.add(k);
    old.delete(k);
  }
  for (const k of old.keys()) into.add(k);
}

/** What differs between two desired states, in ChangeSet terms. */
export function diffStates(before: DesiredState, after: DesiredState): ChangeSet {
  const c = emptyChangeSet();
  diffKeyed(before.routes, after.routes, (r) => r.cidr, c.routes);
  diffKeyed(before.knownNodes, after.knownNodes, (n) => n.addr, c.knownNodes);
  c.settings = !same(before.settings, after.settings);
  diffKeyed(before.sourceAllow, after.sourceAllow, sourceAllowKey, c.sourceAllow);
  c.natOutgoing = !same(before.natOutgoing, after.natOutgoing);
  c.workloadMtu = before.workloadMtu !== after.workloadMtu;
  c.datapath =
    !same(before.encapsInUse, after.encapsInUse) ||
    !same(before.localEncaps, after.localEncaps) ||
    before.localNodeAddress !== after.localNodeAddress;
  c.warnings = !same(before.warnings, after.warnings);
  return c;
}
