// SPDX-License-Identifier: Apache-2.0
// The incremental compiler's passes, each keyed by what it reads:
//   pools            -> pool routes, pool warnings, encapsInUse, localEncaps, natOutgoing, and the blocks inside
//                       the pool's old and new CIDR (block index) whose owning pool may change;
//   block affinities -> their own route claim;
//   nodes            -> known node and cluster host at the old and new address (node table), the claims of the
//                       node's blocks (blocks by node); the local node -> address (every remote block's
//                       CrossSubnet decision), labels (localEncaps), tunnel addresses, MTU, warnings;
//   local workloads  -> their own route claims and source allow-list entries (allow table);
//   other workloads  -> (only those with allowSpoofedSourcePrefixes) their allow-list entries, which read their
//                       node's address;
//   configuration    -> workload MTU.
// Claims meet in the route table, which arbitrates only the prefixes that changed.
import { Encap, RouteFlags, RouteKind, ZERO_IP, type KnownNodeEntry, type RouteEntry, type SourceAllowEntry } from '../maps/layout.js';
import { compareCidrText, parseCidr, type Cidr } from '../model/cidr.js';
import { overlayConfigWithDefaults } from '../model/parse.js';
import type { BlockAffinity, IPPool, Node, OverlayConfiguration, WorkloadEndpoint } from '../model/types.js';
import { matchesSelector } from '../selector/index.js';
import { AllowTable, type AllowChanges } from './allow-table.js';
import { BlockIndex } from './block-index.js';
import { workloadMtu } from './mtu.js';
import { NodeTable, type NodeChanges } from './node-table.js';
import {
  blockOutcome,
  learnedOutcome,
  type LearnedRoute,
  cidrKey,
  compareText,
  localNodeWarnings,
  nodeAddress,
  poolContaining,
  poolOutcome,
  resolvePool,
  sameNodeAddress,
  tunnelOutcomes,
  uniqueSortedEncaps,
  workloadOutcomes,
  type BlockContext,
  type NodeAddress,
  type PoolInfo,
} from './resolve.js';
import { BLOCK_PHASE, LEARNED_PHASE, POOL_PHASE, RouteTable, compareClaimOrder, TUNNEL_PHASE, WORKLOAD_PHASE, type RouteChanges, type SourceItem } from './route-table.js';
import type { DesiredState } from './types.js';

/** The kinds the compiler reads. */
export type CompilerKind = 'IPPool' | 'Node' | 'BlockAffinity' | 'WorkloadEndpoint' | 'OverlayConfiguration';

export type CompilerResource = IPPool | Node | BlockAffinity | WorkloadEndpoint | OverlayConfiguration;

export type CompilerEvent =
  | { type: 'put'; kind: CompilerKind; name: string; resource: CompilerResource }
  | { type: 'delete'; kind: CompilerKind; name: string };

/** What a batch of events touched: each key with the value it had before the batch. */
export class ChangeTracker implements RouteChanges, NodeChanges, AllowChanges {
  readonly routes = new Map<string, RouteEntry | undefined>();
  readonly knownNodes = new Map<string, KnownNodeEntry | undefined>();
  readonly clusterHosts = new Map<string, boolean>();
  readonly sourceAllow = new Map<string, boolean>();
  readonly localWorkloads = new Set<string>();
  warnings = false;

  reset(): void {
    this.routes.clear();
    this.knownNodes.clear();
    this.clusterHosts.clear();
    this.sourceAllow.clear();
    this.localWorkloads.clear();
    this.warnings = false;
  }

  noteRoute(cidr: string, before: RouteEntry | undefined): void {
    if (!this.routes.has(cidr)) this.routes.set(cidr, before);
  }

  noteKnownNode(addr: string, before: KnownNodeEntry | undefined): void {
    if (!this.knownNodes.has(addr)) this.knownNodes.set(addr, before);
  }

  noteClusterHost(addr: string, wasPresent: boolean): void {
    if (!this.clusterHosts.has(addr)) this.clusterHosts.set(addr, wasPresent);
  }

  noteSourceAllow(key: string, wasPresent: boolean): void {
    if (!this.sourceAllow.has(key)) this.sourceAllow.set(key, wasPresent);
  }

  noteWarnings(): void {
    this.warnings = true;
  }
}

/** The workloads the compiler reads: this node's, and other nodes' that allow spoofed sources (source-allow.ts). */
function compilerReads(w: WorkloadEndpoint, localNode: string): boolean {
  return w.spec.node === localNode || (w.spec.allowSpoofedSourcePrefixes?.length ?? 0) > 0;
}

/** The scalar outputs, compared before and after a batch. */
export interface Scalars {
  tunnelAddr: string;
  natPools: readonly string[];
  allPools: readonly string[];
  workloadMtu: number;
  encapsInUse: readonly Encap[];
  localEncaps: readonly Encap[];
  localNodeAddress: string | null;
  warnings: readonly string[];
}


export class Resolvers {
  readonly inputs = {
    IPPool: new Map<string, IPPool>(),
    Node: new Map<string, Node>(),
    BlockAffinity: new Map<string, BlockAffinity>(),
    WorkloadEndpoint: new Map<string, WorkloadEndpoint>(),
    OverlayConfiguration: new Map<string, OverlayConfiguration>(),
  };
  readonly tracker = new ChangeTracker();
  /** Cluster hosts by address: a remote route holding none of them is flagged NoClusterNode. */
  private readonly hostIndex = new BlockIndex();
  readonly routes = new RouteTable(this.tracker, (w) =>
    w.kind === RouteKind.RemoteBlock && !this.holdsClusterHost(w.cidr) ? { ...w, flags: w.flags | RouteFlags.NoClusterNode } : w,
  );
  readonly nodes: NodeTable;
  private readonly allow: AllowTable;
  /** Other nodes' workloads that allow spoofed sources, by node: their entries read the node's address. */
  private readonly allowByNode = new Map<string, Set<string>>();
  /** compile() emits allow-list warnings in workload input order: the order each name was first put. */
  private readonly workloadSeq = new Map<string, number>();
  private readonly blocks = new BlockIndex();
  /** Block names by node, in the order put (a node has a few: a short array weighs less than a Set). */
  private readonly blocksByNode = new Map<string, string[]>();
  private nextSeq = 0;
  /** Valid pools, sorted by name (the order poolOf searches). */
  private pools: PoolInfo[] = [];
  private readonly poolWarnings = new Map<string, string>();
  private localAddr: NodeAddress | null = null;
  /** Routes BIRD learned over BGP, as last set. */
  private learnedRoutes: readonly LearnedRoute[] = [];
  private blockCtx: BlockContext;
  private out: Scalars;

  constructor(
    readonly localNode: string,
    readonly uplinkMtu: number,
  ) {
    this.nodes = new NodeTable(localNode, (n) => this.inputs.Node.get(n), this.tracker, (addr, present) => this.onClusterHost(addr, present));
    this.allow = new AllowTable(localNode, (n) => this.nodes.address(n)?.addr ?? null, this.tracker);
    this.blockCtx = this.makeBlockCtx();
    this.out = {
      tunnelAddr: ZERO_IP,
      natPools: [],
      allPools: [],
      workloadMtu: workloadMtu(uplinkMtu, [], 0),
      encapsInUse: [],
      localEncaps: [],
      localNodeAddress: null,
      warnings: [],
    };
    this.out.warnings = this.assembleWarnings();
  }

  get scalars(): Scalars {
    return this.out;
  }

  get learned(): readonly LearnedRoute[] {
    return this.learnedRoutes;
  }

  /** Replaces the learned routes; they are resolved when the batch finishes. */
  setLearned(routes: readonly LearnedRoute[]): void {
    this.learnedRoutes = [...routes];
    this.learnedDirty = true;
  }

  private learnedDirty = false;

  /** Fills an empty instance (the block index sorts once, after the last block). */
  loadAll(events: Iterable<Parameters<Resolvers['apply']>[0]>): void {
    this.blocks.appending = true;
    for (const ev of events) this.apply(ev);
    this.blocks.finishAppending();
    this.finishBatch();
  }

  apply(ev: CompilerEvent): void {
    const resource = ev.type === 'put' ? ev.resource : undefined;
    switch (ev.kind) {
      case 'IPPool':
        return this.onPool(ev.name, resource as IPPool | undefined);
      case 'Node':
        return this.onNode(ev.name, resource as Node | undefined);
      case 'BlockAffinity':
        return this.onBlock(ev.name, resource as BlockAffinity | undefined);
      case 'WorkloadEndpoint':
        return this.onWorkload(ev.name, resource as WorkloadEndpoint | undefined);
      case 'OverlayConfiguration':
        return this.onConfig(ev.name, resource as OverlayConfiguration | undefined);
    }
  }

  /** Settles what is computed per batch rather than per event (the ordered warning list). */
  finishBatch(): void {
    // Learned routes read every datastore claim near them, pools, nodes and the local address: with few of them
    // (a BGP peering), resolving them all per batch costs less than indexing what each reads.
    if (this.learnedRoutes.length > 0 || this.learnedDirty) this.resolveLearned();
    this.learnedDirty = false;
    if (!this.tracker.warnings) return;
    const warnings = this.assembleWarnings();
    const prev = this.out.warnings;
    if (warnings.length !== prev.length || warnings.some((w, i) => w !== prev[i])) this.out = { ...this.out, warnings };
  }

  private set<T>(map: Map<string, T>, name: string, value: T | undefined): void {
    if (value === undefined) map.delete(name);
    else map.set(name, value);
  }

  private onPool(name: string, pool: IPPool | undefined): void {
    const before = this.pools.find((p) => p.pool.metadata.name === name);
    this.set(this.inputs.IPPool, name, pool);
    const { info, warning } = pool ? resolvePool(pool) : { info: null, warning: null };
    this.pools = this.pools.filter((p) => p !== before);
    if (info) {
      let i = 0;
      while (i < this.pools.length && this.pools[i].pool.metadata.name < name) i++;
      this.pools.splice(i, 0, info);
    }
    if ((this.poolWarnings.get(name) ?? null) !== warning) {
      this.set(this.poolWarnings, name, warning ?? undefined);
      this.tracker.noteWarnings();
    }
    const order = { phase: POOL_PHASE, num: 0, text: '', name, seq: 0, sub: 0 };
    this.routes.setSource('pool', name, info ? [{ order, outcome: poolOutcome(info) }] : []);
    // Only blocks inside the pool's old or new CIDR can change owner, flags or encapsulation.
    const affected = new Set<string>();
    for (const p of [before, info]) if (p) for (const b of this.blocks.within(p.cidr)) affected.add(b);
    for (const b of affected) this.resolveBlock(b);
    for (const w of this.inputs.WorkloadEndpoint.keys()) this.resolveWorkload(w);
    const sorted = [...this.pools].sort((a, b) => compareCidrText(a.cidr.network, b.cidr.network));
    this.out = {
      ...this.out,
      encapsInUse: uniqueSortedEncaps(this.pools.map((p) => p.encap)),
      natPools: sorted.filter((p) => p.pool.spec.natOutgoing).map((p) => p.cidr.network),
      allPools: sorted.map((p) => p.cidr.network),
    };
    this.refreshLocalEncaps();
  }

  private onNode(name: string, node: Node | undefined): void {
    this.set(this.inputs.Node, name, node);
    this.nodes.update(name, node);
    if (name === this.localNode) {
      this.refreshLocalNode();
      return;
    }
    for (const b of this.blocksByNode.get(name) ?? []) this.resolveBlock(b);
    for (const w of this.allowByNode.get(name) ?? []) this.allow.update(w, this.inputs.WorkloadEndpoint.get(w));
  }

  private refreshLocalNode(): void {
    const addr = nodeAddress(this.inputs.Node.get(this.localNode));
    this.tracker.noteWarnings();
    if (!sameNodeAddress(addr, this.localAddr)) {
      this.localAddr = addr;
      this.out = { ...this.out, localNodeAddress: addr?.addr ?? null };
      this.blockCtx = this.makeBlockCtx();
      // Every remote block's CrossSubnet decision reads the local address.
      for (const b of this.inputs.BlockAffinity.keys()) this.resolveBlock(b);
    }
    this.refreshLocalEncaps();
  }

  /** localEncaps reads the pools' selectors and the local labels; the tunnel addresses and MTU read it. */
  private refreshLocalEncaps(): void {
    const labels = this.inputs.Node.get(this.localNode)?.metadata.labels ?? {};
    const localEncaps = uniqueSortedEncaps(this.pools.filter((p) => p.selector !== null && matchesSelector(p.selector, labels)).map((p) => p.encap));
    if (localEncaps.length !== this.out.localEncaps.length || localEncaps.some((e, i) => e !== this.out.localEncaps[i])) {
      this.out = { ...this.out, localEncaps };
    }
    this.resolveTunnel();
    this.refreshMtu();
  }

  private refreshMtu(): void {
    const config = overlayConfigWithDefaults(this.inputs.OverlayConfiguration.get('default')?.spec);
    const mtu = workloadMtu(this.uplinkMtu, this.out.localEncaps, config.mtu);
    if (mtu !== this.out.workloadMtu) this.out = { ...this.out, workloadMtu: mtu };
  }

  private onBlock(name: string, ba: BlockAffinity | undefined): void {
    const before = this.inputs.BlockAffinity.get(name);
    // compile() breaks ties between equal block claims by input order: the order each name was first put. The
    // number lives in the block's own claim (every held block states exactly one), not in a map of its own.
    const seq = before ? this.blockSeqOf(name) : this.nextSeq++;
    if (before) {
      const names = this.blocksByNode.get(before.spec.node);
      if (names) {
        names.splice(names.indexOf(name), 1);
        if (names.length === 0) this.blocksByNode.delete(before.spec.node);
      }
      this.blocks.delete(name, parseCidr(before.spec.cidr));
    }
    if (ba) {
      this.inputs.BlockAffinity.set(name, ba);
      const names = this.blocksByNode.get(ba.spec.node);
      if (names) names.push(name);
      else this.blocksByNode.set(ba.spec.node, [name]);
      this.blocks.set(name, parseCidr(ba.spec.cidr));
    } else {
      this.inputs.BlockAffinity.delete(name);
    }
    this.resolveBlock(name, seq);
  }

  /** The input-order number of held block `name`, from its claim. */
  private blockSeqOf(name: string): number {
    return this.routes.sourceItems('ba', name)![0].order.seq;
  }

  private onWorkload(name: string, w: WorkloadEndpoint | undefined): void {
    const before = this.inputs.WorkloadEndpoint.get(name);
    if (before?.spec.node === this.localNode || w?.spec.node === this.localNode) this.tracker.localWorkloads.add(name);
    if (before && before.spec.node !== this.localNode) this.allowByNode.get(before.spec.node)?.delete(name);
    if (w && compilerReads(w, this.localNode)) {
      if (!before) this.workloadSeq.set(name, this.nextSeq++);
      this.inputs.WorkloadEndpoint.set(name, w);
      if (w.spec.node !== this.localNode) {
        let set = this.allowByNode.get(w.spec.node);
        if (!set) this.allowByNode.set(w.spec.node, (set = new Set()));
        set.add(name);
      }
    } else {
      this.inputs.WorkloadEndpoint.delete(name);
      this.workloadSeq.delete(name);
    }
    this.resolveWorkload(name);
    this.allow.update(name, this.inputs.WorkloadEndpoint.get(name));
  }

  localWorkloadNames(): string[] {
    return [...this.inputs.WorkloadEndpoint.values()].filter((w) => w.spec.node === this.localNode).map((w) => w.metadata.name);
  }

  hasSourceAllow(key: string): boolean {
    return this.allow.has(key);
  }

  sourceAllowEntry(key: string): SourceAllowEntry | undefined {
    return this.allow.entry(key);
  }

  private onConfig(name: string, c: OverlayConfiguration | undefined): void {
    this.set(this.inputs.OverlayConfiguration, name, c);
    this.refreshMtu();
  }

  private makeBlockCtx(): BlockContext {
    return {
      localNode: this.localNode,
      localAddr: this.localAddr,
      poolOf: (c) => poolContaining(this.pools, c),
      nodeOf: (n) => this.inputs.Node.get(n),
    };
  }

  private flagsOf = (c: Cidr): number => poolContaining(this.pools, c)?.flags ?? 0;

  private resolveBlock(name: string, seq?: number): void {
    const ba = this.inputs.BlockAffinity.get(name);
    // An array literal is allocated at its size; one grown by push reserves room for 17 (per block, kept).
    const items: SourceItem[] = ba
      ? [{ order: { phase: BLOCK_PHASE, num: cidrKey(ba.spec.cidr), text: ba.spec.cidr, name: ba.spec.node, seq: seq ?? this.blockSeqOf(name), sub: 0 }, outcome: blockOutcome(ba, this.blockCtx) }]
      : [];
    this.routes.setSource('ba', name, items);
  }

  private resolveWorkload(name: string): void {
    const w = this.inputs.WorkloadEndpoint.get(name);
    const items = w?.spec.node === this.localNode
      ? workloadOutcomes(w, this.localNode, this.flagsOf).map((outcome, sub) => ({
          order: { phase: WORKLOAD_PHASE, num: 0, text: '', name, seq: 0, sub },
          outcome,
        }))
      : [];
    this.routes.setSource('wl', name, items);
  }

  private resolveTunnel(): void {
    const { outcomes, tunnelAddr } = tunnelOutcomes(this.inputs.Node.get(this.localNode), this.localNode, this.out.localEncaps, this.flagsOf);
    const items = outcomes.map(({ slot, outcome }) => ({ order: { phase: TUNNEL_PHASE, num: slot, text: '', name: '', seq: 0, sub: 0 }, outcome }));
    this.routes.setSource('tunnel', '', items);
    if (tunnelAddr !== this.out.tunnelAddr) this.out = { ...this.out, tunnelAddr };
  }

  private holdsClusterHost(cidr: string): boolean {
    return this.hostIndex.within(parseCidr(cidr)!).length > 0;
  }

  /** A host address came or went: the remote routes whose prefix holds it change their NoClusterNode flag. */
  private onClusterHost(addr: string, present: boolean): void {
    const host = parseCidr(`${addr}/32`)!;
    if (present) this.hostIndex.set(addr, host);
    else this.hostIndex.delete(addr, host);
    const ip = Number(host.addr);
    for (let p = 0; p <= 32; p++) {
      const net = p === 0 ? 0 : (ip & (0xffffffff << (32 - p))) >>> 0;
      this.routes.refresh(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${p}`);
    }
  }

  private resolveLearned(): void {
    const ctx = {
      localAddr: this.localAddr,
      poolOf: (c: Cidr) => poolContaining(this.pools, c),
      nodeAt: (addr: string) => {
        const name = this.nodes.lastNodeAt(addr);
        return name === undefined ? undefined : this.inputs.Node.get(name);
      },
      overlapsClaim: (c: Cidr) => this.routes.overlapsDatastoreClaim(c),
    };
    const items: SourceItem[] = [];
    this.learnedRoutes.forEach((l, seq) => {
      const outcome = learnedOutcome(l, ctx);
      if (outcome) items.push({ order: { phase: LEARNED_PHASE, num: cidrKey(l.cidr), text: l.cidr, name: '', seq, sub: 0 }, outcome });
    });
    items.sort((a, b) => compareClaimOrder(a.order, b.order));
    this.routes.setSource('learned', '', items);
  }

  private assembleWarnings(): string[] {
    const poolWarnings = [...this.poolWarnings].sort((a, b) => compareText(a[0], b[0])).map(([, w]) => w);
    return [
      ...poolWarnings,
      ...localNodeWarnings(this.localNode, this.inputs.Node.get(this.localNode), this.localAddr),
      ...this.routes.conflictWarnings(),
      ...this.nodes.sharedWarnings(),
      ...[...this.workloadSeq].sort((a, b) => a[1] - b[1]).flatMap(([name]) => this.allow.warningsOf(name)),
    ];
  }

  materialize(): DesiredState {
    const o = this.out;
    return {
      localNode: this.localNode,
      routes: this.routes.routeValues() as RouteEntry[],
      knownNodes: this.nodes.knownValues() as KnownNodeEntry[],
      settings: { tunnelAddr: o.tunnelAddr, uplinkMtu: this.uplinkMtu },
      sourceAllow: this.allow.values() as DesiredState['sourceAllow'],
      natOutgoing: { natPools: [...o.natPools], allPools: [...o.allPools], clusterHosts: this.nodes.clusterHosts() as string[] },
      workloadMtu: o.workloadMtu,
      encapsInUse: [...o.encapsInUse],
      localEncaps: [...o.localEncaps],
      localNodeAddress: o.localNodeAddress,
      routeDecisions: this.routes.decisions() as DesiredState['routeDecisions'],
      warnings: [...o.warnings],
    };
  }
}
