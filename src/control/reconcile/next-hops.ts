// SPDX-License-Identifier: Apache-2.0
// next_hop_map (bpf/lib/maps.h): for each known node, the Ethernet header that reaches it on the uplink, taken from
// the kernel's neighbour table, so that the encapsulating programs can bpf_redirect instead of making the kernel
// route and resolve every packet (bpf_redirect_neigh). This step is the map's only writer.
//
// - First hop of a node: the node itself when on-link, else the gateway of the host's route toward it (the same
//   resolver as the host routes' gateways: the main table, read again on every resync).
// - An entry exists while that neighbour is in a usable state (REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP)
//   with a MAC; INCOMPLETE, FAILED or deleted removes it, and the programs fall back to bpf_redirect_neigh, which
//   also makes the kernel resolve the neighbour (the agent never resolves or probes anything itself, so a
//   neighbour that never resolves costs it nothing: no entry, no retries).
// - Keeping entries alive: our bpf_redirect is invisible to the kernel's neighbour state machine, so an entry
//   nobody else uses goes REACHABLE -> STALE and stays there (never re-verified, and garbage-collected after
//   gc_stale_time once the table holds gc_thresh1 entries). A STALE neighbour's entry is written with
//   NEXT_HOP_F_VERIFY: its packets take bpf_redirect_neigh, the kernel's use moves it to DELAY and a unicast
//   probe confirms it (REACHABLE) or fails it (FAILED: the entry goes). So the kernel verifies a neighbour in use
//   exactly as often as it would without this map (once per reachable time), and idle ones age out as before.
//   Managed neighbours (NTF_MANAGED) would keep every node's entry resolved instead, at the price of probes to
//   idle nodes and a second kernel object to own.
// - The programs cache lookups per CPU (maps.h, next_hop_cache_map) for one generation, which this step publishes
//   in next_hop_gen_map after every write to the map (the protocol of cache-gen.ts, with a generation of its own so
//   that neighbour churn never flushes the route cache); 0 (caches off) where cache-gen.ts says slots are unsafe,
//   and when the agent stops.
import type { MapEntry } from '../bpf/types.js';
import { usableNeighbour, type Neighbour, type NeighbourEvent } from '../host/neighbours.js';
import { encodeNextHopKey, encodeNextHopValue, encodeU32Key, NextHopFlags, type NextHopEntry } from '../maps/layout.js';
import { nextCacheGen } from './cache-gen.js';
import { applyPlan, readMap, type SyncableMap } from './map-sync.js';
import { MapSyncer } from './map-syncer.js';
import type { SyncStep } from './steps.js';

/** The uplink as the entries name it. */
export interface NextHopUplink {
  ifindex: number;
  mac: string;
}

/** The entry for `node` whose first hop is in state `hop`, or undefined when the kernel has no usable answer. */
export function nextHopEntry(node: string, hop: Neighbour | undefined, uplink: NextHopUplink): NextHopEntry | undefined {
  if (!usableNeighbour(hop)) return undefined;
  return {
    node,
    dstMac: hop.mac,
    srcMac: uplink.mac,
    ifindex: uplink.ifindex,
    flags: hop.states.includes('STALE') ? NextHopFlags.Verify : 0,
  };
}

export interface NextHopsOptions {
  /** The nodes' underlay addresses (the compiler's known nodes, by address). */
  nodes: () => { keys(): Iterable<string>; has(addr: string): boolean };
  /** First underlay hop toward an address: itself on-link, else the gateway. */
  gatewayFor: () => (addr: string) => string;
  uplink: NextHopUplink;
  /** False: the map is kept empty (every packet takes bpf_redirect_neigh). */
  enabled: boolean;
  onOverflow?: (keys: string[], capacity: number) => void;
  /** next_hop_gen_map, and whether the programs' per-CPU slots are safe here (lookupCachesSafe). */
  generation: { mapRef: () => Pick<SyncableMap, 'update'>; cachesSafe: boolean };
}

type MapRef = ConstructorParameters<typeof MapSyncer>[1];

export class NextHopSyncer implements SyncStep {
  readonly name: string;
  private readonly syncer: MapSyncer;
  /** The uplink's neighbour table as the kernel last told it. */
  private readonly neighbours = new Map<string, Neighbour>();
  /** Nodes by their first hop; rebuilt after the nodes or the gateways change. */
  private byHop?: Map<string, string[]>;
  private uplink: NextHopUplink;
  /** The generation last published in next_hop_gen_map; a new one is due (first run, or the map was written). */
  private gen = 0;
  private genDue = true;

  constructor(
    mapName: string,
    private readonly mapRef: MapRef,
    private readonly opts: NextHopsOptions,
  ) {
    this.name = mapName;
    this.uplink = { ...opts.uplink };
    this.syncer = new MapSyncer(
      mapName,
      mapRef,
      {
        allKeys: () => (opts.enabled ? opts.nodes().keys() : []),
        entry: (node) => this.entry(node),
        encodeKey: encodeNextHopKey,
      },
      { onOverflow: opts.onOverflow, onWritten: () => (this.genDue = true) },
    );
  }

  get pending(): boolean {
    return this.syncer.pending || this.genDue;
  }

  get size(): number {
    return this.syncer.size;
  }

  /** Writes what changed, then (also after a failed write, which may have written part) a new generation: slots
   * filled from the old contents miss from then on. */
  run(): void {
    try {
      this.syncer.run();
    } finally {
      if (this.genDue) this.publishGeneration(this.opts.generation.cachesSafe ? nextCacheGen(this.gen) : 0);
    }
  }

  private publishGeneration(gen: number): void {
    this.opts.generation.mapRef().update(encodeU32Key(0), encodeU32Key(gen), 'any');
    this.gen = gen;
    this.genDue = false;
  }

  /** The nodes changed (these addresses): their entries are looked at again. */
  mark(nodes: Iterable<string>): void {
    this.byHop = undefined;
    this.syncer.mark(nodes);
  }

  /** Everything again: the kernel's map is read back, and the gateways are asked again. */
  resync(): void {
    this.byHop = undefined;
    this.syncer.resync();
  }

  /** The whole neighbour table, read at once: replaces what the events said. */
  replaceNeighbours(all: readonly Neighbour[]): void {
    this.neighbours.clear();
    for (const n of all) this.neighbours.set(n.addr, n);
    this.resync();
  }

  /**
   * Empties the map, for an agent that stops: with nobody following the neighbour table, an entry could outlive
   * the MAC it names, while bpf_redirect_neigh needs no one. (An agent killed outright leaves its entries as they
   * were until the next agent starts and rewrites them from the table.)
   */
  clear(): void {
    const map = this.mapRef();
    applyPlan(map, { writes: [], deletes: [...readMap(map).keys()].map((hex) => ({ key: Buffer.from(hex, 'hex') })) }, 1024);
    this.publishGeneration(0); // no slot answers any more
    this.syncer.resync();
  }

  /** The uplink's own MAC changed (the source of every entry). */
  setUplinkMac(mac: string): void {
    if (mac === this.uplink.mac) return;
    this.uplink = { ...this.uplink, mac };
    this.resync();
  }

  /** One neighbour event; true when it concerns a node's first hop (the map may have to change). */
  applyEvent(e: NeighbourEvent): boolean {
    const addr = e.type === 'put' ? e.neighbour.addr : e.addr;
    if (e.type === 'put') this.neighbours.set(addr, e.neighbour);
    else this.neighbours.delete(addr);
    if (!this.opts.enabled) return false;
    const nodes = this.nodesByHop().get(addr);
    if (!nodes) return false;
    this.syncer.mark(nodes);
    return true;
  }

  private entry(node: string): MapEntry | undefined {
    if (!this.opts.enabled || !this.opts.nodes().has(node)) return undefined;
    const e = nextHopEntry(node, this.neighbours.get(this.opts.gatewayFor()(node)), this.uplink);
    if (!e) return undefined;
    const { node: _node, ...value } = e;
    return { key: encodeNextHopKey(node), value: encodeNextHopValue(value) };
  }

  private nodesByHop(): Map<string, string[]> {
    if (!this.byHop) {
      const gatewayFor = this.opts.gatewayFor();
      this.byHop = new Map();
      for (const node of this.opts.nodes().keys()) {
        const hop = gatewayFor(node);
        const list = this.byHop.get(hop);
        if (list) list.push(node);
        else this.byHop.set(hop, [node]);
      }
    }
    return this.byHop;
  }
}
