// SPDX-License-Identifier: Apache-2.0
// The incremental compiler's contract: the agent feeds it datastore deltas and gets back the keys of desired
// state that changed, so each syncer touches only those. `compile()` stays the oracle: after any sequence of
// events, `state` deep-equals `compile()` of the same inputs (test/unit/compile-incremental.test.ts).
//
// The work per event is that of the resolvers the event concerns (resolvers.ts): a remote block touches its
// own prefix, a remote node its address and its blocks, a pool the blocks inside it; only a change of the
// local node's address revisits every block (each CrossSubnet decision reads it).
import { checkUplinkMtu } from './compile.js';
import { overlayConfigWithDefaults } from '../model/parse.js';
import type { KnownNodeEntry, RouteEntry, SourceAllowEntry } from '../maps/layout.js';
import type { CompileInput, DesiredState } from './types.js';
import type { BlockAffinity, IPPool, Node, OverlayConfiguration, WorkloadEndpoint } from '../model/types.js';
import { sameKnownNode } from './node-table.js';
import { sameRoute } from './route-table.js';
import { sourceAllowKey } from './source-allow.js';
import { Resolvers, type CompilerEvent, type CompilerResource, type Scalars } from './resolvers.js';

export type { CompilerEvent, CompilerKind, CompilerResource } from './resolvers.js';

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

export interface CompilerSnapshot {
  pools: readonly IPPool[];
  nodes: readonly Node[];
  blockAffinities: readonly BlockAffinity[];
  /** Only this node's workloads (and others' with allowSpoofedSourcePrefixes) are needed; others are ignored. */
  workloads: readonly WorkloadEndpoint[];
  configs: readonly OverlayConfiguration[];
}

export class IncrementalCompiler {
  private core: Resolvers;
  private current: DesiredState | null = null;

  constructor(private readonly opts: IncrementalCompilerOptions) {
    checkUplinkMtu(opts.uplinkMtu);
    this.core = new Resolvers(opts.localNode, opts.uplinkMtu);
  }

  /**
   * The desired state for the inputs seen so far; equal to compile() of them. Built on read from the kept
   * sorted lists (a copy of a list that changed, the same array for one that did not): treat it as read-only.
   */
  get state(): DesiredState {
    this.current ??= this.core.materialize();
    return this.current;
  }

  /** The route at `cidr` now, without building `state`. */
  route(cidr: string): RouteEntry | undefined {
    return this.core.routes.route(cidr);
  }

  /** The known node at underlay address `addr` now, without building `state`. */
  knownNode(addr: string): KnownNodeEntry | undefined {
    return this.core.nodes.knownNode(addr);
  }

  /** Every known node now, without building `state`. */
  knownNodes(): readonly KnownNodeEntry[] {
    return this.core.nodes.knownValues();
  }

  /** The source allow-list entry with key `key` (sourceAllowKey) now, without building `state`. */
  sourceAllowEntry(key: string): SourceAllowEntry | undefined {
    return this.core.sourceAllowEntry(key);
  }

  /** state.settings, without building `state`. */
  get settings(): DesiredState['settings'] {
    return { tunnelAddr: this.core.scalars.tunnelAddr, uplinkMtu: this.opts.uplinkMtu };
  }

  /**
   * Replaces every input (start-up, or a re-list after a lost watch) and reports what differs. localWorkloads
   * holds the local workloads before and after: one that vanished in the re-list needs detaching too.
   */
  load(snapshot: CompilerSnapshot): ChangeSet {
    const before = this.state;
    const held = this.core.localWorkloadNames();
    const core = new Resolvers(this.opts.localNode, this.opts.uplinkMtu);
    core.setLearned(this.core.learned);
    // Pools and nodes first, so each block resolves once. One event at a time: an array of every event of the
    // snapshot would be tens of thousands of objects alive at once for nothing.
    function* puts(): Iterable<CompilerEvent> {
      const groups: Array<[CompilerEvent['kind'], readonly CompilerResource[]]> = [
        ['IPPool', snapshot.pools],
        ['Node', snapshot.nodes],
        ['BlockAffinity', snapshot.blockAffinities],
        ['WorkloadEndpoint', snapshot.workloads],
        ['OverlayConfiguration', snapshot.configs],
      ];
      for (const [kind, rs] of groups) for (const r of rs) yield { type: 'put', kind, name: r.metadata.name, resource: r };
    }
    core.loadAll(puts());
    this.core = core;
    this.current = null;
    const changes = diffStates(before, this.state);
    for (const name of [...held, ...core.localWorkloadNames()]) changes.localWorkloads.add(name);
    return changes;
  }

  /** Applies one datastore delta. */
  apply(ev: CompilerEvent): ChangeSet {
    return this.applyAll([ev]);
  }

  /** Applies several deltas (a burst coalesced by the agent) and reports their combined effect. */
  applyAll(events: readonly CompilerEvent[]): ChangeSet {
    for (const ev of events) checkEvent(ev);
    return this.batch(events.length > 0, (core) => {
      for (const ev of events) core.apply(ev);
    });
  }

  /** Replaces the routes BIRD learned over BGP (used only where the datastore has no route) and reports what differs. */
  setLearnedRoutes(routes: CompileInput['learnedRoutes'] = []): ChangeSet {
    return this.batch(true, (core) => core.setLearned(routes));
  }

  private batch(changes: boolean, fn: (core: Resolvers) => void): ChangeSet {
    const core = this.core;
    const before = core.scalars;
    core.tracker.reset();
    fn(core);
    core.finishBatch();
    if (changes) this.current = null;
    return this.changesSince(before);
  }

  /** The inputs as compile() takes them, for the oracle comparison in tests. */
  compileInput(): CompileInput {
    const inputs = this.core.inputs;
    return {
      pools: [...inputs.IPPool.values()],
      nodes: [...inputs.Node.values()],
      blockAffinities: [...inputs.BlockAffinity.values()],
      workloads: [...inputs.WorkloadEndpoint.values()],
      localNode: this.opts.localNode,
      config: overlayConfigWithDefaults(inputs.OverlayConfiguration.get('default')?.spec),
      uplinkMtu: this.opts.uplinkMtu,
      learnedRoutes: [...this.core.learned],
    };
  }

  private changesSince(before: Scalars): ChangeSet {
    const { tracker, routes, nodes, scalars: after } = this.core;
    const c = emptyChangeSet();
    for (const [cidr, was] of tracker.routes) if (!sameRoute(was, routes.route(cidr))) c.routes.add(cidr);
    for (const [addr, was] of tracker.knownNodes) if (!sameKnownNode(was, nodes.knownNode(addr))) c.knownNodes.add(addr);
    for (const w of tracker.localWorkloads) c.localWorkloads.add(w);
    for (const [key, was] of tracker.sourceAllow) if (was !== this.core.hasSourceAllow(key)) c.sourceAllow.add(key);
    const hostsChanged = [...tracker.clusterHosts].some(([addr, was]) => was !== nodes.hasClusterHost(addr));
    c.settings = before.tunnelAddr !== after.tunnelAddr;
    c.natOutgoing = hostsChanged || !sameList(before.natPools, after.natPools) || !sameList(before.allPools, after.allPools);
    c.workloadMtu = before.workloadMtu !== after.workloadMtu;
    c.datapath = datapathDiffers(before, after);
    c.warnings = !sameList(before.warnings, after.warnings);
    return c;
  }
}

interface DatapathInputs {
  encapsInUse: readonly number[];
  localEncaps: readonly number[];
  localNodeAddress: string | null;
}

/** Load-time constants or the hook choice may differ. */
function datapathDiffers(before: DatapathInputs, after: DatapathInputs): boolean {
  return !sameList(before.encapsInUse, after.encapsInUse) || !sameList(before.localEncaps, after.localEncaps) || before.localNodeAddress !== after.localNodeAddress;
}

/** A put must carry a resource of its kind and name: the batch is refused before any of it is applied. */
function checkEvent(ev: CompilerEvent): void {
  if (ev.type !== 'put') return;
  const r = ev.resource as { kind?: unknown; metadata?: { name?: unknown } } | undefined;
  if (r?.kind !== ev.kind) throw new TypeError(`${ev.kind} ${ev.name}: put event carries a resource of kind ${String(r?.kind)}`);
  if (r.metadata?.name !== ev.name) throw new TypeError(`${ev.kind} ${ev.name}: put event carries metadata.name ${JSON.stringify(r.metadata?.name)}`);
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a === b || (a.length === b.length && a.every((x, i) => x === b[i]));
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
  c.datapath = datapathDiffers(before, after);
  c.warnings = !same(before.warnings, after.warnings);
  return c;
}
