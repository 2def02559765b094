// SPDX-License-Identifier: Apache-2.0
// The per-node agent: registers its Node, loads and attaches the data path, and keeps the kernel equal to what
// the datastore says. Data flows one way:
//
//   datastore --list once, then watch deltas--> WatchCache --> Admission (quarantine) --> IncrementalCompiler
//     --ChangeSet (changed keys)--> steps (maps, host routes, tunnel addresses, nft, workload links, ...) --> kernel
//
// Work grows with the change: only the keys a change touched are written, nothing lists the datastore after
// start (except a re-list after a lost watch), and remote WorkloadEndpoints never reach this node. Each step is
// the only writer of its kernel objects and fails alone: it is retried with backoff while the others go on.
import type { Server } from 'node:http';
import { backoffDelay, DEFAULT_BACKOFF } from '../backoff.js';
import { natOutgoingRuleset, nftTableName, NFT_FAMILY } from '../compile/index.js';
import {
  IncrementalCompiler,
  type ChangeSet,
  type CompilerEvent,
  type CompilerKind,
  type CompilerSnapshot,
} from '../compile/incremental.js';
import { BgpSyncer } from '../bgp/index.js';
import { openDatastore } from '../datastore/index.js';
import type { Datastore, StoredKind, StoredResource } from '../datastore/types.js';
import { listNeighbours, NeighbourMonitor } from '../host/neighbours.js';
import { NftTable } from '../host/nft.js';
import { hostRouteMetric, listHostNexthops, listHostRoutes, nexthopDeleteLine, routeDeleteLine, runRouteBatch, underlayGatewayResolver } from '../host/routes.js';
import { ensureRouterSysctls } from '../host/sysctl.js';
import { syncTunnelAddresses } from '../host/tunnel-addresses.js';
import { detectUplink, type UplinkInfo } from '../host/uplink.js';
import { ensureTunnelAddress } from '../ipam/index.js';
import type { Logger } from '../log.js';
import {
  Encap,
  encodeKnownNodeKey,
  encodeRouteKey,
  encodeSourceAllowKey,
  encodeU32Key,
  MAP_NAMES,
  RouteKind,
  type SourceAllowEntry,
} from '../maps/layout.js';
import type { BlockAffinity, IPPool, Node, OverlayConfiguration, WorkloadEndpoint } from '../model/types.js';
import { vtepMacOf } from '../model/vtep.js';
import { knownNodeEntries, routeEntries, settingsEntries, sourceAllowMapEntries } from '../reconcile/encode.js';
import { sourceAllowKey } from '../compile/source-allow.js';
import { HostRouteSyncer } from '../reconcile/host-routes.js';
import { NextHopSyncer } from '../reconcile/next-hops.js';
import { indexedSource, MapSyncer } from '../reconcile/map-syncer.js';
import { FlagStep, StepRunner, type SyncStep } from '../reconcile/steps.js';
import { lookupCachesSafe, nextCacheGen } from '../reconcile/cache-gen.js';
import { WorkloadLinkSyncer } from '../reconcile/workload-links.js';
import { selects } from '../selector/index.js';
import { resolveConfig } from '../node/config.js';
import { readCounters } from '../node/counters.js';
import { XdpDecapGate } from '../datapath/xdp-support.js';
import { DatapathHandle, type DatapathConstants, type MapCapacities } from './datapath.js';
import { startHealthServer, type HealthState } from './health.js';
import { EventToMapLatency } from './event-latency.js';
import { AgentMetrics, startMetricsServer } from './metrics.js';
import { PinLayout } from '../node/pins.js';
import { publishNodeRecord } from './publish.js';
import { Admission, type QuarantineEntry } from '../node/quarantine.js';
import { registerNode } from './register.js';
import { WatchCache, type CacheDelta } from './watch-cache.js';
import { collectGarbageNow } from './heap.js';

export interface AgentOptions {
  node: string;
  uplink?: string;
  address?: string;
  /** Decapsulate in XDP (the --xdp flag); the datastore's OverlayConfiguration decapHook may also ask for it. */
  xdp?: boolean;
  /** Attach XDP decap even on an uplink where it does not help (a veth: see datapath/xdp-support.ts). */
  forceXdp?: boolean;
  bpffs: string;
  datastoreUrl: string;
  healthAddr?: string;
  metricsAddr?: string;
  logger: Logger;
  /** Capacities of the routes and known-nodes maps when the agent creates them (default: the BPF objects'). */
  capacities?: MapCapacities;
  /** /readyz also requires every BGP session Established while BGP is on (Calico's -bird-ready). Default true. */
  bgpReadiness?: boolean;
  /** Period of the full resync that re-reads the kernel and repairs drift made behind our back (ms). */
  resyncMs?: number;
  /** Pre-resolve next-hop MACs into next_hop_map (default true); false keeps the map empty. */
  nextHopMacs?: boolean;
}

export const poolSelectsNode = (pool: IPPool, node: Node): boolean =>
  selects(pool.spec.nodeSelector, node.metadata.labels ?? {});

/** What of a Node its tunnel address depends on or records; undefined for no Node. */
function ipamInputOf(node: Node | undefined): string | undefined {
  if (!node) return undefined;
  return JSON.stringify([node.metadata.labels ?? {}, node.spec.ipv4VXLANTunnelAddr, node.spec.bgp?.ipv4IPIPTunnelAddr]);
}

const COMPILER_KINDS: readonly CompilerKind[] = ['IPPool', 'Node', 'BlockAffinity', 'WorkloadEndpoint', 'OverlayConfiguration'];
/** What the cache holds: the compiler's inputs, and BIRD's (its plan also reads nodes, pools, blocks, endpoints). */
const WATCHED_KINDS: readonly StoredKind[] = [...COMPILER_KINDS, 'BGPConfiguration', 'BGPPeer'];
const isCompilerKind = (k: string): k is CompilerKind => (COMPILER_KINDS as readonly string[]).includes(k);

/** The longest a stop waits for a step in flight (a datastore write) before letting go: exit stays fast. */
const STOP_GRACE_MS = 150;

function snapshotOf(items: readonly StoredResource[]): CompilerSnapshot {
  const of = <R>(kind: CompilerKind) => items.filter((r) => r.kind === kind) as R[];
  return {
    pools: of<IPPool>('IPPool'),
    nodes: of<Node>('Node'),
    blockAffinities: of<BlockAffinity>('BlockAffinity'),
    workloads: of<WorkloadEndpoint>('WorkloadEndpoint'),
    configs: of<OverlayConfiguration>('OverlayConfiguration'),
  };
}

/** The keys of a desired-state list, one at a time (no array of twenty thousand keys at once). */
function* keysOf<T>(items: readonly T[], keyOf: (t: T) => string): Iterable<string> {
  for (const t of items) yield keyOf(t);
}

const mapped = <T, U>(t: T | undefined, f: (t: T) => U): U | undefined => (t === undefined ? undefined : f(t));

const describe = (q: QuarantineEntry) => `${q.kind} ${q.name}: ${q.reason}`;

/** The entry a change-set key (sourceAllowKey) names: what a delete of an entry no longer desired encodes. */
function sourceAllowEntryOf(key: string): SourceAllowEntry {
  const [scope, owner, cidr] = key.split(' ');
  return scope === 'veth' ? { scope: 'veth', ifindex: Number(owner), cidr } : { scope: 'node', node: owner, cidr };
}

export class Agent {
  readonly pins: PinLayout;
  private readonly log: Logger;
  private ds!: Datastore;
  private uplink!: UplinkInfo;
  private xdpGate!: XdpDecapGate;
  private datapath!: DatapathHandle;
  private metrics!: AgentMetrics;
  private eventLatency!: EventToMapLatency;
  /** Deltas of the pass in progress not yet handed to eventLatency (a pass that throws hands them over as it fails). */
  private unmeasured?: readonly CacheDelta[];
  private cache!: WatchCache;
  private compiler!: IncrementalCompiler;
  private admission!: Admission;
  private readonly runner: StepRunner;
  private servers: Server[] = [];
  private timers: NodeJS.Timeout[] = [];
  private retryTimer?: NodeJS.Timeout;
  private looping = false;
  private stopped = false;
  /** Consecutive passes that threw (a compiler bug, say): each is retried from the cache's full contents. */
  private passFailures = 0;
  private readonly health: HealthState;
  /** settings.cache_gen: random at start, so that no cache slot of an earlier agent's generation can match; 0
   * (caches off) for good where the slots are not safe (PREEMPT_RT). */
  private cacheGen = lookupCachesSafe() ? nextCacheGen(0) : 0;
  /** Work handed over by the cache, taken by the loop. */
  private inbox: { reset?: readonly StoredResource[]; deltas: CacheDelta[] } = { deltas: [] };
  /**
   * Source allow-list entries and local workloads by key, rebuilt lazily after each change (the steps look keys
   * up). Routes and known nodes are looked up in the compiler itself, which keys them already: a copy here
   * would be one more map of every route of the cluster.
   */
  private index?: {
    sourceAllow: Map<string, SourceAllowEntry>;
    workloads: Map<string, WorkloadEndpoint>;
  };
  private readonly reported = new Set<string>();
  private steps!: ReturnType<Agent['makeSteps']>;
  private nft!: NftTable;
  private bgp!: BgpSyncer;
  /** Follows the uplink's neighbour table for the next-hops step. */
  private neighbourMonitor?: NeighbourMonitor;
  /** BIRD learned other routes since the last pass: the compiler takes them in the loop. */
  private learnedChanged = false;
  /** A full load ran since the last collection: collect its garbage once the maps hold it (heap.ts). */
  private loadGarbage = false;
  private gcTimer?: NodeJS.Timeout;

  constructor(private readonly opts: AgentOptions) {
    this.pins = new PinLayout(opts.bpffs, opts.node);
    this.log = opts.logger.child({ node: opts.node });
    this.health = {
      lastHeartbeat: Date.now(),
      inSync: false,
      detail: () => ({
        node: opts.node,
        routes: this.compiler?.state.routes.length ?? 0,
        quarantined: this.quarantined().map(describe),
        failing: this.runner.failing().map((f) => `${f.step}: ${f.error} (attempt ${f.attempts})`),
      }),
      checks: () => (opts.bgpReadiness === false ? [] : [this.bgp?.readyCheck()].flatMap((c) => (c ? [c] : []))),
    };
    this.runner = new StepRunner({
      onFailure: (f) => {
        this.metrics?.stepFailures.inc({ step: f.step });
        this.metrics?.reconcileErrors.inc();
        this.log.error({ step: f.step, err: f.error, attempt: f.attempts, retryInMs: f.retryAt - Date.now() }, 'sync step failed; retrying with backoff');
      },
      onRecovered: (step, attempts) => this.log.info({ step, attempts }, 'sync step recovered'),
      onSettled: () => this.schedule(),
      onRan: (step, ms) => {
        this.metrics?.stepSeconds.observe({ step }, ms / 1000);
        if (this.isMapStep(step)) this.eventLatency?.settle();
        if (ms >= 50) this.log.debug({ step, ms: Math.round(ms) }, 'slow step');
      },
    });
  }

  async start(): Promise<void> {
    this.uplink = detectUplink({ uplink: this.opts.uplink, address: this.opts.address });
    this.log.info({ uplink: this.uplink.ifname, address: this.uplink.address, mtu: this.uplink.mtu }, 'uplink');
    this.xdpGate = new XdpDecapGate(this.uplink.ifname, this.opts.forceXdp === true, (msg) => this.log.warn(msg));
    this.ds = await openDatastore(this.opts.datastoreUrl);
    const node = await registerNode(this.ds, this.opts.node, this.uplink.address);
    const changed = ensureRouterSysctls();
    if (changed.length > 0) this.log.info({ sysctls: changed }, 'enabled forwarding');

    this.compiler = new IncrementalCompiler({ localNode: this.opts.node, uplinkMtu: this.uplink.mtu });
    this.admission = new Admission({ node: this.opts.node, address: this.uplink.address });
    this.datapath = new DatapathHandle(this.pins, this.uplink, this.log, this.opts.capacities);
    this.datapath.ensure(this.constants(node, resolveConfig(await this.ds.list('OverlayConfiguration'))));
    this.metrics = new AgentMetrics(this.opts.node, () => readCounters(this.datapath.maps.counters));
    // Only the compiler's kinds reach the maps (BGP resources go to BIRD).
    this.eventLatency = new EventToMapLatency({
      observe: (kind, seconds) => {
        if (isCompilerKind(kind)) this.metrics.observeEventToMap(kind, seconds);
      },
    });
    this.nft = new NftTable(NFT_FAMILY, nftTableName(this.opts.node));
    this.bgp = new BgpSyncer({
      node: this.opts.node,
      logger: this.log,
      onLearnedRoutesChanged: () => {
        this.learnedChanged = true;
        this.schedule();
      },
    });
    this.bgp.registerMetrics(this.metrics.registry);
    this.steps = this.makeSteps();
    this.runner.add(...Object.values(this.steps));

    this.cache = new WatchCache({
      ds: this.ds,
      kinds: WATCHED_KINDS,
      filter: { node: this.opts.node },
      log: this.log,
      listener: {
        onReset: (items, revision) => {
          this.metrics.relists.inc();
          // A list at the very revision start ensured the tunnel address at needs no IPAM run: nothing changed.
          this.tunnelAddressCurrent = this.tunnelAddressAt === revision;
          this.tunnelAddressAt = undefined;
          this.ipamInputOfSelf = ipamInputOf(items.find((r): r is Node => r.kind === 'Node' && r.metadata.name === this.opts.node));
          this.inbox = { reset: items, deltas: [] };
          this.schedule();
        },
        onDeltas: (deltas) => {
          this.metrics.events.inc(deltas.length);
          this.inbox.deltas.push(...deltas);
          this.schedule();
        },
      },
    });
    // The tunnel address is the source of every encapsulated host route: taken before the first list, the first
    // pass writes each of those routes once, rather than all of them again when the address arrives later.
    this.tunnelAddressAt = await this.ensureTunnelAddressBeforeList(node.metadata.name);
    await this.cache.start(); // the first pass runs as the list is delivered
    // After the first pass: a pass before it would bring every map to an empty desired state.
    if (this.opts.nextHopMacs !== false) {
      this.neighbourMonitor = new NeighbourMonitor({
        dev: this.uplink.ifname,
        onEvent: (e) => {
          if (this.steps.nextHops.applyEvent(e)) this.schedule();
        },
        onStart: () => this.readNeighbours(),
        onLinkAddress: (mac) => {
          this.steps.nextHops.setUplinkMac(mac);
          this.schedule();
        },
        onError: (message) => this.log.warn(message),
      });
      this.neighbourMonitor.start();
    }
    // That pass ran before the watch was established (not yet in sync): readiness is decided again now, or it
    // would wait for whatever happens to run the next pass.
    this.schedule();
    // The first pass's datastore writes (tunnel address, Node record) are part of starting.
    await this.runner.idle(5_000);

    if (this.opts.healthAddr) this.servers.push(await startHealthServer(this.opts.healthAddr, this.health));
    if (this.opts.metricsAddr) this.servers.push(await startMetricsServer(this.opts.metricsAddr, this.metrics));
    this.timers.push(setInterval(() => (this.health.lastHeartbeat = Date.now()), 1000));
    this.timers.push(setInterval(() => this.resync(), this.opts.resyncMs ?? 30_000));
    this.log.info({ pins: this.pins.root }, 'agent started');
  }

  /**
   * Ensures the tunnel address; returns the revision after it when nothing but this (its Node write) happened
   * meanwhile, so that a list at that revision needs no IPAM run. Undefined when that is not known for sure.
   */
  private async ensureTunnelAddressBeforeList(node: string): Promise<number | undefined> {
    try {
      const before = await this.ds.revision();
      await ensureTunnelAddress(this.ds, node, poolSelectsNode);
      const after = await this.ds.revision();
      if (after === before) return after;
      const self = after === before + 1 ? await this.ds.get('Node', node) : undefined;
      return self?.metadata.resourceVersion === String(after) ? after : undefined;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'tunnel address not taken before the first pass; the IPAM step retries');
      return undefined;
    }
  }

  /** Stops reconciling and lets go of file descriptors; the pinned data path keeps forwarding. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.gcTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.neighbourMonitor?.stop();
    await this.cache?.stop();
    // A pass is synchronous kernel work; a datastore write in flight is waited for briefly, never for long.
    await this.runner.idle(STOP_GRACE_MS);
    await this.bgp?.stop({ graceful: true });
    if (this.neighbourMonitor) {
      try {
        this.steps.nextHops.clear();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'next_hop_map not emptied: its entries stay as they are until the next agent');
      }
    }
    for (const s of this.servers) s.closeAllConnections();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
    this.datapath?.close();
    await this.ds?.close();
    this.log.info('agent stopped; data path left in place');
  }

  get inSync(): boolean {
    return this.health.inSync;
  }

  /** Records held back from the compiler, workloads whose veth is missing, and entries a full map left out. */
  quarantined(): QuarantineEntry[] {
    const out = this.admission?.quarantined() ?? [];
    for (const [name, reason] of this.steps?.links.missing ?? []) out.push({ kind: 'WorkloadEndpoint', name, reason });
    for (const [, key] of this.steps?.routes.overflow ?? []) out.push({ kind: 'RouteEntry', name: key, reason: `${MAP_NAMES.routes} is full` });
    for (const [, key] of this.steps?.knownNodes.overflow ?? []) out.push({ kind: 'KnownNodeEntry', name: key, reason: `${MAP_NAMES.knownNodes} is full` });
    return out;
  }

  /**
   * Periodic full resync of the kernel side only: read the kernel again, so that anything changed behind our
   * back is repaired. The datastore is not read (the watch keeps the cache current) and IPAM is not run. Each
   * group of steps is re-read in a pass of its own, one turn of the event loop apart: a watch event arriving
   * meanwhile waits for one full read (a map of 20,000 routes, the host's routing table), not for all of them.
   */
  private resync(): void {
    const s = this.steps;
    const groups: Array<() => void> = [
      () => s.routes.resync(),
      () => s.knownNodes.resync(),
      () => {
        s.sourceAllow.resync();
        s.settings.resync();
      },
      () => {
        this.gateways = undefined;
        s.hostRoutes.resync();
      },
      () => s.links.resync(),
      () => {
        s.nextHops.resync();
        if (this.neighbourMonitor) this.readNeighbours();
      },
      () => {
        this.nft.forget();
        for (const step of [s.datapath, s.tunnelAddresses, s.nft]) step.mark();
      },
    ];
    const next = (i: number) => {
      if (this.stopped || i >= groups.length) return;
      groups[i]();
      this.schedule();
      setImmediate(() => next(i + 1));
    };
    next(0);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.health.inSync = false;
    if (this.looping) return; // the running loop takes whatever arrived before it returns
    this.looping = true;
    try {
      this.loop();
    } catch (err) {
      // Nothing the datastore holds may stop the agent: start over from the cache's contents, with backoff.
      const delay = backoffDelay(DEFAULT_BACKOFF, this.passFailures++);
      this.metrics.reconcileErrors.inc();
      this.log.error({ err: (err as Error).message, retryInMs: delay }, 'reconcile pass failed; recompiling from the cache');
      this.inbox = { reset: this.cache.items(), deltas: [] };
      // Their changes reach the maps with the recompile's full resync, whenever that succeeds.
      if (this.unmeasured) this.eventLatency.expect(this.unmeasured, this.mapSteps());
      this.unmeasured = undefined;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.schedule(), delay);
    } finally {
      this.looping = false;
    }
  }

  private loop(): void {
    while (!this.stopped) {
      const { reset, deltas } = this.inbox;
      this.inbox = { deltas: [] };
      this.unmeasured = deltas;
      const started = process.hrtime.bigint();
      if (reset) {
        this.take(this.compiler.load(this.admission.reset(snapshotOf(reset))), true);
        this.loadGarbage = true;
      }
      if (deltas.length > 0) this.applyDeltas(deltas);
      if (this.learnedChanged) {
        this.learnedChanged = false;
        this.take(this.compiler.setLearnedRoutes(this.bgp.learnedRoutes), false);
      }
      this.passFailures = 0;
      const compiled = process.hrtime.bigint();
      // A full pass starts the host routes first (tunnel addresses before them: a route's source must be a local
      // address): their batch keeps the kernel busy in a child process while the maps are written. Passes for
      // watch events keep the maps first.
      if (reset) this.runner.runDue((s) => s === this.steps.tunnelAddresses || s === this.steps.hostRoutes);
      this.runner.runDue();
      // Steps find some records to skip too (a full map, a missing veth): noted after they ran.
      if (this.noteQuarantine()) this.runner.runDue();
      this.eventLatency.settle();
      const ms = (from: bigint, to: bigint) => Number(to - from) / 1e6;
      const done = process.hrtime.bigint();
      this.log.debug({ events: deltas.length, relisted: !!reset, compileMs: ms(started, compiled), stepsMs: ms(compiled, done) }, 'pass');
      this.metrics.reconciles.inc();
      this.metrics.reconcileSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.metrics.mapEntries.set({ map: MAP_NAMES.routes }, this.steps.routes.size);
      this.metrics.mapEntries.set({ map: MAP_NAMES.knownNodes }, this.steps.knownNodes.size);
      this.metrics.mapEntries.set({ map: MAP_NAMES.nextHops }, this.steps.nextHops.size);
      if (this.inbox.reset || this.inbox.deltas.length > 0) continue;
      const retryIn = this.runner.nextRetryIn();
      this.health.inSync = this.cache.synced && this.runner.settled;
      if (this.health.inSync && this.loadGarbage) {
        this.loadGarbage = false;
        // Not in this pass: a burst of events right after a load is served first.
        clearTimeout(this.gcTimer);
        this.gcTimer = setTimeout(collectGarbageNow, 1000).unref();
      }
      if (retryIn !== undefined) {
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.schedule(), retryIn);
      }
      return;
    }
  }

  private applyDeltas(deltas: readonly CacheDelta[]): void {
    const events: CompilerEvent[] = [];
    let ipam = false;
    let datapath = false;
    let self = false;
    let bgp = false;
    for (const d of deltas) {
      // BIRD's plan reads BGP resources, nodes (mesh, peer selectors), pools and this node's blocks and endpoints.
      if (d.kind === 'BGPConfiguration' || d.kind === 'BGPPeer' || d.kind === 'Node' || d.kind === 'IPPool') bgp = true;
      if (d.kind === 'WorkloadEndpoint') bgp = true;
      if (d.kind === 'BlockAffinity' && (d.type === 'delete' || (d.resource as BlockAffinity).spec.node === this.opts.node)) bgp = true;
      if (!isCompilerKind(d.kind)) continue;
      events.push(
        d.type === 'put'
          ? { type: 'put', kind: d.kind, name: d.name, resource: d.resource as IPPool }
          : { type: 'delete', kind: d.kind, name: d.name },
      );
      // IPAM and the load-time constants depend on the pools, this node's Node and the configuration only.
      const local = d.kind === 'Node' && d.name === this.opts.node;
      if (d.kind === 'IPPool' || (local && this.ipamInputChanged(d))) ipam = true;
      if (d.kind === 'OverlayConfiguration' || local) datapath = true;
      if (local) self = true;
    }
    const admitted = this.admission.apply(events);
    if (admitted.length > 0) {
      const c = this.compiler.applyAll(admitted);
      this.take(c, false);
      this.eventLatency.expect(deltas, this.mapSteps(c));
    }
    this.unmeasured = undefined;
    if (ipam) {
      this.tunnelAddressCurrent = false;
      this.steps.ipam.mark();
    }
    if (datapath) this.steps.datapath.mark();
    if (self) this.steps.publish.mark(); // someone else may have changed or deleted what we publish
    if (bgp) this.steps.bgp.mark();
  }

  /**
   * Whether a change of this node's Node touches what its tunnel address depends on (labels, for the pools'
   * node selectors) or records (the tunnel addresses): its own Node record writes (annotations) do not, and
   * re-running IPAM for them costs a read of every block.
   */
  private ipamInputChanged(d: CacheDelta): boolean {
    const input = ipamInputOf(d.type === 'put' ? (d.resource as Node) : undefined);
    const changed = input === undefined || input !== this.ipamInputOfSelf;
    this.ipamInputOfSelf = input;
    return changed;
  }

  /** Hands each step the keys a change touched. */
  private take(c: ChangeSet, everything: boolean): void {
    this.updateIndex(c, everything);
    const s = this.steps;
    if (everything) {
      for (const step of Object.values(s)) if ('resync' in step) step.resync();
      else step.mark();
      return;
    }
    if (c.routes.size > 0) {
      s.routes.mark(c.routes);
      s.hostRoutes.mark(c.routes);
      if ([...c.routes].some((k) => this.compiler.route(k)?.kind === RouteKind.LocalHost || this.tunnelAddrs.has(k.split('/')[0]))) {
        s.tunnelAddresses.mark();
      }
    }
    if (c.knownNodes.size > 0) {
      s.knownNodes.mark(c.knownNodes);
      s.nextHops.mark(c.knownNodes);
    }
    if (c.sourceAllow.size > 0) s.sourceAllow.mark(c.sourceAllow);
    if (c.settings) {
      s.settings.mark(['0']);
      s.tunnelAddresses.mark();
      s.hostRoutes.resync(); // the tunnel address is every encapsulated route's source
    }
    if (c.natOutgoing) s.nft.mark();
    if (c.workloadMtu) s.publish.mark();
    if (c.localWorkloads.size > 0) s.links.mark(c.localWorkloads);
    if (c.datapath) s.datapath.mark();
  }

  /**
   * The map steps a change set marked (all of them without one): its deltas are in the kernel when these have
   * no work left. A routes or known-nodes write also needs the new cache generation the settings step writes
   * (until then a CPU's cached lookup may still answer); settings has no work when nothing was written.
   */
  private mapSteps(c?: ChangeSet): SyncStep[] {
    const s = this.steps;
    if (!c) return [s.routes, s.knownNodes, s.sourceAllow, s.settings];
    const steps: SyncStep[] = [];
    if (c.routes.size > 0) steps.push(s.routes);
    if (c.knownNodes.size > 0) steps.push(s.knownNodes);
    if (c.sourceAllow.size > 0) steps.push(s.sourceAllow);
    if (c.settings || steps.length > 0) steps.push(s.settings);
    return steps;
  }

  private isMapStep(name: string): boolean {
    const s = this.steps;
    return name === s?.routes.name || name === s?.knownNodes.name || name === s?.sourceAllow.name || name === s?.settings.name;
  }

  private routeIndex(): NonNullable<Agent['index']> {
    this.index ??= {
      sourceAllow: new Map(this.compiler.state.sourceAllow.map((e) => [sourceAllowKey(e), e])),
      workloads: this.admittedWorkloads(),
    };
    return this.index;
  }

  /**
   * Brings the index up to a change: only the changed keys are looked up in the compiler and set or removed,
   * without building its full desired state (copies of twenty thousand routes) before the map writes.
   */
  private updateIndex(c: ChangeSet, everything: boolean): void {
    if (!this.index || everything) {
      this.index = undefined;
      return;
    }
    const refresh = <T>(index: Map<string, T>, changed: ReadonlySet<string>, lookup: (key: string) => T | undefined) => {
      for (const k of changed) {
        const item = lookup(k);
        if (item === undefined) index.delete(k);
        else index.set(k, item);
      }
    };
    const compiler = this.compiler;
    refresh(this.index.sourceAllow, c.sourceAllow, (k) => compiler.sourceAllowEntry(k));
    if (c.localWorkloads.size > 0) this.index.workloads = this.admittedWorkloads();
  }

  private tunnelAddrs = new Set<string>();
  /** Datastore revision right after start ensured the tunnel address (until the first full pass). */
  private tunnelAddressAt?: number;
  /** This node's Node as IPAM reads it, as of the last delta (see ipamInputChanged). */
  private ipamInputOfSelf?: string;
  /** Nothing IPAM depends on changed since start ensured the tunnel address: the IPAM step may skip once. */
  private tunnelAddressCurrent = false;
  /**
   * First underlay hops, from one read of the main routing table (which also holds our thousands of overlay
   * routes, so it is not read per change): read again on every resync, so an underlay change lands within one.
   */
  private gateways?: (addr: string) => string;

  /** Logs each newly quarantined record once, counts them by kind, has the Node record republished; true if any changed. */
  private noteQuarantine(): boolean {
    const now = this.quarantined();
    const lines = new Set(now.map(describe));
    let changed = false;
    for (const q of now) {
      const line = describe(q);
      if (this.reported.has(line)) continue;
      this.reported.add(line);
      changed = true;
      this.log.warn({ kind: q.kind, name: q.name, reason: q.reason }, 'record quarantined: skipped, everything else proceeds');
    }
    for (const line of this.reported) {
      if (lines.has(line)) continue;
      this.reported.delete(line);
      changed = true;
      this.log.info({ record: line }, 'record released from quarantine');
    }
    if (!changed) return false;
    this.metrics.quarantined.reset();
    const byKind = new Map<string, number>();
    for (const q of now) byKind.set(q.kind, (byKind.get(q.kind) ?? 0) + 1);
    for (const [kind, n] of byKind) this.metrics.quarantined.set({ kind }, n);
    this.steps.publish.mark();
    return true;
  }

  private constants(node: Node, config: ReturnType<typeof resolveConfig>): DatapathConstants {
    return {
      nodeAddr: this.uplink.address.split('/')[0],
      uplinkIfindex: this.uplink.ifindex,
      vxlanPort: config.vxlanPort,
      vxlanVni: config.vxlanVNI,
      vtepMac: vtepMacOf(node),
      xdp: this.xdpGate.allow(this.opts.xdp === true || config.decapHook === 'xdp'),
    };
  }

  private makeSteps() {
    const node = this.opts.node;
    const maps = () => this.datapath.maps;
    const state = () => this.compiler.state;
    const metric = hostRouteMetric(node);
    const tunnelMtu = (encap: Encap) => this.uplink.mtu - (encap === Encap.Vxlan ? 50 : 20);
    const overflow = (map: string) => (keys: string[], capacity: number) =>
      this.log.error({ map, capacity, skipped: keys.length, first: keys.slice(0, 5) }, 'map full: entries beyond its capacity are not written; the map keeps what it holds');
    return {
      // Load-time constants (VNI, port, VTEP MAC, XDP): a change reloads the programs and swaps them in place.
      datapath: new FlagStep('datapath', () => {
        const self = this.cache.get<Node>('Node', node);
        if (self) this.datapath.ensure(this.constants(self, resolveConfig(this.cache.all<OverlayConfiguration>('OverlayConfiguration'))));
      }),
      // Tunnel addresses come from IPAM: only a pool or this node's Node can change them, not the data path loop.
      ipam: new FlagStep('ipam-tunnel-address', async () => {
        const current = this.tunnelAddressCurrent;
        this.tunnelAddressCurrent = false;
        if (!current) await ensureTunnelAddress(this.ds, node, poolSelectsNode);
      }),
      routes: new MapSyncer(
        MAP_NAMES.routes,
        () => maps().routes,
        {
          allKeys: () => keysOf(state().routes, (r) => r.cidr),
          entry: (k) => mapped(this.compiler.route(k), (r) => routeEntries([r])[0]),
          encodeKey: encodeRouteKey,
        },
        { onOverflow: overflow(MAP_NAMES.routes), onWritten: () => this.newCacheGeneration() },
      ),
      knownNodes: new MapSyncer(
        MAP_NAMES.knownNodes,
        () => maps().knownNodes,
        {
          allKeys: () => keysOf(state().knownNodes, (n) => n.addr),
          entry: (k) => mapped(this.compiler.knownNode(k), (n) => knownNodeEntries([n])[0]),
          encodeKey: encodeKnownNodeKey,
        },
        { onOverflow: overflow(MAP_NAMES.knownNodes), onWritten: () => this.newCacheGeneration() },
      ),
      sourceAllow: new MapSyncer(
        MAP_NAMES.sourceAllow,
        () => maps().sourceAllow,
        indexedSource(() => this.routeIndex().sourceAllow, (e) => sourceAllowMapEntries([e])[0], (k) => encodeSourceAllowKey(sourceAllowEntryOf(k))),
        { onOverflow: overflow(MAP_NAMES.sourceAllow) },
      ),
      settings: new MapSyncer(MAP_NAMES.settings, () => maps().settings, {
        allKeys: () => ['0'],
        entry: () => settingsEntries({ ...this.compiler.settings, cacheGen: this.cacheGen })[0],
        encodeKey: () => encodeU32Key(0),
      }),
      tunnelAddresses: new FlagStep('tunnel-addresses', () => {
        const addrs = state().routes.filter((r) => r.kind === RouteKind.LocalHost).map((r) => r.cidr.split('/')[0]);
        syncTunnelAddresses(node, addrs);
        this.tunnelAddrs = new Set(addrs);
      }),
      hostRoutes: new HostRouteSyncer(metric, {
        allKeys: () => keysOf(state().routes, (r) => r.cidr),
        route: (k) => this.compiler.route(k),
        context: () => ({
          uplink: this.uplink.ifname,
          tunnelAddr: this.compiler.settings.tunnelAddr !== '0.0.0.0' ? this.compiler.settings.tunnelAddr : undefined,
          tunnelMtu,
          gatewayFor: (this.gateways ??= underlayGatewayResolver()),
        }),
      }),
      nextHops: new NextHopSyncer(MAP_NAMES.nextHops, () => maps().nextHops, {
        nodes: () => ({
          keys: () => keysOf(this.compiler.knownNodes(), (n) => n.addr),
          has: (addr: string) => this.compiler.knownNode(addr) !== undefined,
        }),
        gatewayFor: () => (this.gateways ??= underlayGatewayResolver()),
        uplink: { ifindex: this.uplink.ifindex, mac: this.uplink.mac },
        enabled: this.opts.nextHopMacs !== false && this.uplink.mac !== '',
        onOverflow: overflow(MAP_NAMES.nextHops),
        generation: { mapRef: () => maps().nextHopGen, cachesSafe: this.cacheGen !== 0 },
      }),
      nft: new FlagStep('nft', () => {
        this.nft.apply(natOutgoingRuleset(node, state().natOutgoing));
      }),
      links: new WorkloadLinkSyncer(this.datapath, {
        allNames: () => this.routeIndex().workloads.keys(),
        workload: (name) => this.routeIndex().workloads.get(name),
      }),
      // BIRD: configured from the cache (never a datastore list); it stays off while no BGPConfiguration asks.
      bgp: new FlagStep('bgp', async () => {
        await this.bgp.update({
          localNode: node,
          configs: this.cache.all('BGPConfiguration'),
          peers: this.cache.all('BGPPeer'),
          nodes: this.cache.all('Node'),
          pools: this.cache.all('IPPool'),
          blockAffinities: this.cache.all('BlockAffinity'),
          workloads: this.cache.all<WorkloadEndpoint>('WorkloadEndpoint').filter((w) => w.spec.node === node),
        });
      }),
      publish: new FlagStep('publish-node-record', async () => {
        // A Node deleted under a running agent is registered again, as on start.
        if (!this.cache.get<Node>('Node', node)) await registerNode(this.ds, node, this.uplink.address);
        const record = { workloadMtu: state().workloadMtu, quarantined: this.quarantined().map(describe) };
        if (await publishNodeRecord(this.ds, node, record)) this.log.debug(record, 'published the Node record');
      }),
    };
  }

  /**
   * The programs cache routes_map and known_nodes_map lookups per CPU, valid for one generation: after a write
   * to either (or a failed one, which may have written part), a new generation goes out with the settings step,
   * which runs after the map steps in the same pass, so slots filled before the write miss from then on.
   */
  private newCacheGeneration(): void {
    if (this.cacheGen === 0) return;
    this.cacheGen = nextCacheGen(this.cacheGen);
    this.steps.settings.mark(['0']);
  }

  /** The uplink's neighbour table, read whole (monitor start, resync): the next-hops step takes it. */
  private readNeighbours(): void {
    try {
      this.steps.nextHops.replaceNeighbours(listNeighbours(this.uplink.ifname));
      this.schedule();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'neighbour table not read; next hops keep what they had until the next resync');
    }
  }

  /** This node's admitted WorkloadEndpoints (the cache holds only this node's; admission may hold some back). */
  private admittedWorkloads(): Map<string, WorkloadEndpoint> {
    const out = new Map<string, WorkloadEndpoint>();
    const held = new Set(this.admission.quarantined().filter((q) => q.kind === 'WorkloadEndpoint').map((q) => q.name));
    for (const w of this.cache.all<WorkloadEndpoint>('WorkloadEndpoint')) {
      if (w.spec.node === this.opts.node && !held.has(w.metadata.name)) out.set(w.metadata.name, w);
    }
    return out;
  }
}

/** Removes everything an agent put on this host: links, pins, nftables table and this node's host routes. */
export function unloadNode(pins: PinLayout, logger: Logger): { detachedLinks: number } {
  const detachedLinks = DatapathHandle.removeAll(pins, logger);
  new NftTable(NFT_FAMILY, nftTableName(pins.node)).remove();
  const metric = hostRouteMetric(pins.node);
  runRouteBatch(listHostRoutes(metric).map((r) => routeDeleteLine(r.dst, metric)));
  runRouteBatch(listHostNexthops(metric).map((n) => nexthopDeleteLine(n.id)));
  syncTunnelAddresses(pins.node, []);
  return { detachedLinks };
}
