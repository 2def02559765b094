// SPDX-License-Identifier: Apache-2.0
// The BGP syncer of one node: datastore resources -> plan -> BIRD configuration -> a running, supervised BIRD.
// BIRD runs only while the plan says BGP is on; it is reconfigured (`birdc configure`) only when the rendered
// text changes, so unrelated datastore edits never touch the sessions. A poll reads session states (readiness,
// metrics) and the routes learned from peers (handed to the compiler, which uses them where the datastore
// has nothing better).
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { Gauge, type Registry } from 'prom-client';
import type { Datastore } from '../datastore/types.js';
import type { Logger } from '../log.js';
import { birdc, BirdcError, parseLearnedRoutes, type LearnedRoute, type ProtocolStatus } from './birdc.js';
import { BirdPaths } from './paths.js';
import { planBgp, type BgpInputs, type BgpPlan } from './plan.js';
import { renderBirdConfig } from './render.js';
import { allPeersEstablished, bgpStatusOf, readProtocols, type BgpStatus } from './status.js';
import { BirdSupervisor, checkBirdConfig } from './supervisor.js';

export const BGP_READY_CHECK = 'BGP peers established';

/** Everything planBgp reads, in one pass over the datastore. */
export async function readBgpInputs(ds: Datastore, localNode: string): Promise<BgpInputs> {
  const [configs, peers, nodes, pools, blockAffinities, workloads] = await Promise.all([
    ds.list('BGPConfiguration'),
    ds.list('BGPPeer'),
    ds.list('Node'),
    ds.list('IPPool'),
    ds.list('BlockAffinity'),
    ds.list('WorkloadEndpoint'),
  ]);
  return { localNode, configs, peers, nodes, pools, blockAffinities, workloads };
}

/** Routes BIRD learned from its peers, or [] when it does not answer. */
export function readLearnedRoutes(paths: BirdPaths): LearnedRoute[] {
  if (!existsSync(paths.socket)) return [];
  try {
    return parseLearnedRoutes(birdc(paths.socket, ['show', 'route', 'where', 'source', '=', 'RTS_BGP', 'all']));
  } catch (err) {
    if (err instanceof BirdcError) return [];
    throw err;
  }
}

export interface BgpSyncerOptions {
  node: string;
  logger: Logger;
  paths?: BirdPaths;
  /** Session-state and learned-route poll period (ms). */
  pollMs?: number;
  /** Called when the set of learned routes changed: the agent recompiles. */
  onLearnedRoutesChanged?: () => void;
}

export class BgpSyncer {
  readonly paths: BirdPaths;
  private readonly log: Logger;
  private readonly bird: BirdSupervisor;
  private plan?: BgpPlan;
  private renderedText?: string;
  private protocols: ProtocolStatus[] | null = null;
  private learned: LearnedRoute[] = [];
  private poller?: NodeJS.Timeout;

  constructor(private readonly opts: BgpSyncerOptions) {
    this.paths = opts.paths ?? new BirdPaths(opts.node);
    this.log = opts.logger.child({ component: 'bgp' });
    this.bird = new BirdSupervisor(this.paths, { logger: this.log, onRestart: () => this.poll() });
  }

  get enabled(): boolean {
    return this.plan?.enabled === true;
  }

  get birdPid(): number | undefined {
    return this.bird.pid;
  }

  /** Learned routes for the compiler (empty while BGP is off). */
  get learnedRoutes(): readonly LearnedRoute[] {
    return this.enabled ? this.learned : [];
  }

  status(): BgpStatus {
    return bgpStatusOf(this.plan ?? planBgp({ localNode: this.opts.node, configs: [], peers: [], nodes: [], pools: [], blockAffinities: [], workloads: [] }), this.protocols);
  }

  /** The readiness check while BGP is on (Calico's -bird-ready), or null while it is off. */
  readyCheck(): { name: string; ok: boolean } | null {
    return this.enabled ? { name: BGP_READY_CHECK, ok: this.bird.running && allPeersEstablished(this.status()) } : null;
  }

  async update(inputs: BgpInputs): Promise<void> {
    const plan = planBgp(inputs);
    const wasEnabled = this.enabled;
    this.plan = plan;
    for (const w of plan.warnings) this.log.warn({ warning: w }, 'bgp plan');
    if (!plan.enabled) {
      if (wasEnabled || this.bird.running) {
        this.log.info({ reason: plan.reason }, 'BGP off: stopping bird');
        await this.stop();
      }
      return;
    }
    const text = renderBirdConfig(plan);
    if (text === this.renderedText && this.bird.running) return;
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    const next = `${this.paths.config}.next`;
    writeFileSync(next, text);
    const problem = checkBirdConfig(next);
    if (problem) throw new Error(`BIRD refused the rendered configuration (kept the previous one): ${problem}`);
    renameSync(next, this.paths.config);
    if (this.bird.running) {
      this.bird.configure();
      this.log.info({ peers: plan.peers.length, advertised: plan.advertised }, 'bird reconfigured');
    } else {
      await this.bird.start();
      this.log.info({ reason: plan.reason, peers: plan.peers.length, advertised: plan.advertised }, 'BGP on');
    }
    this.renderedText = text;
    this.poll();
    this.poller ??= setInterval(() => this.poll(), this.opts.pollMs ?? 2_000);
  }

  /** Reads session states and learned routes; tells the agent when the learned routes changed. */
  poll(): void {
    if (!this.enabled) return;
    this.protocols = readProtocols(this.paths);
    const learned = readLearnedRoutes(this.paths);
    const key = (routes: readonly LearnedRoute[]) => routes.map((r) => `${r.cidr}>${r.nextHop}`).join(',');
    if (key(learned) !== key(this.learned)) {
      this.learned = learned;
      this.opts.onLearnedRoutesChanged?.();
    }
  }

  /** Per-state peer counts, BIRD restarts and whether BGP is on, computed at scrape time. */
  registerMetrics(registry: Registry): void {
    const self = this;
    new Gauge({
      name: 'bpf_overlay_bgp_peers',
      help: 'BGP sessions of this node by BGP state (Established, Active, Connect, Passive, Down, ...)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of self.status().peers) this.inc({ state: p.state });
      },
    });
    new Gauge({
      name: 'bpf_overlay_bgp_enabled',
      help: '1 while BGP is on for this node (BIRD supervised), else 0',
      registers: [registry],
      collect() {
        this.set(self.enabled ? 1 : 0);
      },
    });
    new Gauge({
      name: 'bpf_overlay_bgp_bird_restarts',
      help: 'Times BIRD died and was restarted by this agent',
      registers: [registry],
      collect() {
        this.set(self.bird.restarts);
      },
    });
  }

  /**
   * Stops BIRD and the poll, and removes its socket, pid file and configuration. `graceful` (agent shutdown):
   * peers keep this node's routes through the restart, as the data path keeps forwarding meanwhile.
   */
  async stop(opts: { graceful?: boolean } = {}): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    await this.bird.stop({ graceful: opts.graceful });
    this.renderedText = undefined;
    this.protocols = null;
    if (this.learned.length > 0) {
      this.learned = [];
      this.opts.onLearnedRoutesChanged?.();
    }
  }
}
