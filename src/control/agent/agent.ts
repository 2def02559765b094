// The per-node agent: registers its Node, loads and attaches the data path, and keeps the kernel equal to what
// the datastore says. Data flows one way: datastore -> model -> compiler -> reconciler -> kernel.
import type { Server } from 'node:http';
import { natOutgoingRuleset, nftTableName, NFT_FAMILY, type DesiredState } from '../compile/index.js';
import { openDatastore } from '../datastore/index.js';
import type { Datastore, WatchHandle } from '../datastore/types.js';
import { ensureTunnelAddress } from '../ipam/index.js';
import type { Logger } from '../log.js';
import { Encap, MAP_NAMES, RouteKind } from '../maps/layout.js';
import type { IPPool, Node, OverlayConfigurationSpec } from '../model/types.js';
import { knownNodeEntries, routeEntries, settingsEntries, sourceAllowMapEntries } from '../reconcile/encode.js';
import { planHostRoutes, removeHostRoutes, syncHostRoutes, underlayGatewayResolver } from '../reconcile/host-routes.js';
import { MirroredMap } from '../reconcile/map-sync.js';
import { syncTunnelAddresses } from '../reconcile/tunnel-address.js';
import { NftTable } from '../reconcile/nft.js';
import { selects } from '../selector/index.js';
import { ensureRouterSysctls } from '../system/sysctl.js';
import { readCounters } from './counters.js';
import { DatapathHandle, type DatapathConstants } from './datapath.js';
import { startHealthServer, type HealthState } from './health.js';
import { AgentMetrics, startMetricsServer } from './metrics.js';
import { PinLayout } from './pins.js';
import { registerNode } from './register.js';
import { detectUplink, type UplinkInfo } from './uplink.js';
import { XdpDecapGate } from '../datapath/xdp-support.js';
import { resolveConfig } from './config.js';
import { compileForNode } from './inputs.js';
import { vtepMacOf } from '../model/vtep.js';

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
  /** Full resync period that repairs drift made behind our back (ms). */
  resyncMs?: number;
}

export const poolSelectsNode = (pool: IPPool, node: Node): boolean =>
  selects(pool.spec.nodeSelector, node.metadata.labels ?? {});

export class Agent {
  readonly pins: PinLayout;
  private readonly log: Logger;
  private ds!: Datastore;
  private uplink!: UplinkInfo;
  private xdpGate!: XdpDecapGate;
  private datapath!: DatapathHandle;
  private nft!: NftTable;
  private metrics!: AgentMetrics;
  private watch?: WatchHandle;
  private servers: Server[] = [];
  private timers: NodeJS.Timeout[] = [];
  private dirty = false;
  private running?: Promise<void>;
  private stopped = false;
  private readonly health: HealthState;
  private lastState?: DesiredState;
  /** The reconciler's memory of each map (one read at start, then diffs only; forgotten on every resync). */
  private readonly mirrors = {
    routes: new MirroredMap(() => this.datapath.maps.routes),
    knownNodes: new MirroredMap(() => this.datapath.maps.knownNodes),
    settings: new MirroredMap(() => this.datapath.maps.settings),
    sourceAllow: new MirroredMap(() => this.datapath.maps.sourceAllow),
  };

  constructor(private readonly opts: AgentOptions) {
    this.pins = new PinLayout(opts.bpffs, opts.node);
    this.log = opts.logger.child({ node: opts.node });
    this.health = {
      lastHeartbeat: Date.now(),
      inSync: false,
      detail: () => ({ node: opts.node, routes: this.lastState?.routes.length ?? 0 }),
    };
  }

  async start(): Promise<void> {
    this.uplink = detectUplink({ uplink: this.opts.uplink, address: this.opts.address });
    this.log.info({ uplink: this.uplink.ifname, address: this.uplink.address, mtu: this.uplink.mtu }, 'uplink');
    this.xdpGate = new XdpDecapGate(this.uplink.ifname, this.opts.forceXdp === true, (msg) => this.log.warn(msg));
    this.ds = await openDatastore(this.opts.datastoreUrl);
    const node = await registerNode(this.ds, this.opts.node, this.uplink.address);
    const changed = ensureRouterSysctls();
    if (changed.length > 0) this.log.info({ sysctls: changed }, 'enabled forwarding');
    this.nft = new NftTable(NFT_FAMILY, nftTableName(this.opts.node));

    const config = resolveConfig(await this.ds.list('OverlayConfiguration'));
    this.datapath = new DatapathHandle(this.pins, this.uplink, this.log);
    this.datapath.ensure(this.constants(node, config));
    this.metrics = new AgentMetrics(this.opts.node, () => readCounters(this.datapath.maps.counters));

    // Watch before the first sync, so that nothing written between the two is missed.
    this.watch = await this.ds.watch(
      ['IPPool', 'Node', 'BlockAffinity', 'WorkloadEndpoint', 'OverlayConfiguration'],
      (ev) => {
        this.log.debug({ kind: ev.kind, name: ev.name, type: ev.type, revision: ev.revision }, 'datastore change');
        this.schedule();
      },
      { onError: (err) => this.log.error({ err: err.message }, 'watch failed; resyncing periodically') },
    );
    this.schedule();
    await this.running;

    if (this.opts.healthAddr) this.servers.push(await startHealthServer(this.opts.healthAddr, this.health));
    if (this.opts.metricsAddr) this.servers.push(await startMetricsServer(this.opts.metricsAddr, this.metrics));
    this.timers.push(setInterval(() => (this.health.lastHeartbeat = Date.now()), 1000));
    this.timers.push(setInterval(() => this.resync(), this.opts.resyncMs ?? 30_000));
    this.log.info({ pins: this.pins.root }, 'agent started');
  }

  /** Stops reconciling and lets go of file descriptors; the pinned data path keeps forwarding. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.watch?.close();
    await this.running;
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
    this.datapath?.close();
    await this.ds?.close();
    this.log.info('agent stopped; data path left in place');
  }

  get inSync(): boolean {
    return this.health.inSync;
  }

  /** Periodic full resync: read the kernel again, so that anything changed behind our back is repaired. */
  private resync(): void {
    for (const m of Object.values(this.mirrors)) m.invalidate();
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.health.inSync = false;
    if (!this.running) this.running = this.loop().finally(() => (this.running = undefined));
  }

  private async loop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      const started = process.hrtime.bigint();
      try {
        await this.reconcile();
        this.metrics?.reconciles.inc();
        this.metrics?.reconcileSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        if (!this.dirty) this.health.inSync = true;
      } catch (err) {
        this.metrics?.reconcileErrors.inc();
        this.log.error({ err: (err as Error).message }, 'reconcile failed; retrying');
        this.dirty = true;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private constants(node: Node, config: Required<OverlayConfigurationSpec>): DatapathConstants {
    return {
      nodeAddr: this.uplink.address.split('/')[0],
      uplinkIfindex: this.uplink.ifindex,
      vxlanPort: config.vxlanPort,
      vxlanVni: config.vxlanVNI,
      vtepMac: vtepMacOf(node),
      xdp: this.xdpGate.allow(this.opts.xdp === true || config.decapHook === 'xdp'),
    };
  }

  private async reconcile(): Promise<void> {
    const node = this.opts.node;
    await ensureTunnelAddress(this.ds, node, poolSelectsNode);
    const { self, state, config, localWorkloads } = await compileForNode(this.ds, node, this.uplink.mtu);
    // VNI, port and VTEP MAC are load-time constants: a change reloads the programs and swaps them in place.
    this.datapath.ensure(this.constants(self, config));
    const stats = {
      routes: this.mirrors.routes.sync(routeEntries(state.routes)),
      knownNodes: this.mirrors.knownNodes.sync(knownNodeEntries(state.knownNodes)),
      settings: this.mirrors.settings.sync(settingsEntries(state.settings)),
      sourceAllow: this.mirrors.sourceAllow.sync(sourceAllowMapEntries(state.sourceAllow)),
    };
    for (const [name, s] of Object.entries(stats)) {
      this.metrics?.mapWrites.inc({ map: name, op: 'write' }, s.added + s.updated);
      this.metrics?.mapWrites.inc({ map: name, op: 'delete' }, s.deleted);
    }
    this.metrics?.mapEntries.set({ map: MAP_NAMES.routes }, state.routes.length);
    this.metrics?.mapEntries.set({ map: MAP_NAMES.knownNodes }, state.knownNodes.length);

    this.nft.apply(natOutgoingRuleset(node, state.natOutgoing));
    syncTunnelAddresses(state.routes.filter((r) => r.kind === RouteKind.LocalHost).map((r) => r.cidr.split('/')[0]));
    const tunnelMtu = (encap: Encap) => this.uplink.mtu - (encap === Encap.Vxlan ? 50 : 20);
    syncHostRoutes(
      planHostRoutes(state.routes, {
        uplink: this.uplink.ifname,
        tunnelAddr: state.settings.tunnelAddr !== '0.0.0.0' ? state.settings.tunnelAddr : undefined,
        tunnelMtu,
        gatewayFor: underlayGatewayResolver(),
      }),
    );
    this.datapath.syncWorkloadLinks(localWorkloads);
    this.lastState = state;
    this.log.debug({ maps: stats, routes: state.routes.length }, 'reconciled');
  }
}



/** Removes everything an agent put on this host: links, pins, nftables table and host routes. */
export function unloadNode(pins: PinLayout, logger: Logger): { detachedLinks: number } {
  const detachedLinks = DatapathHandle.removeAll(pins, logger);
  new NftTable(NFT_FAMILY, nftTableName(pins.node)).remove();
  removeHostRoutes();
  syncTunnelAddresses([]);
  return { detachedLinks };
}
