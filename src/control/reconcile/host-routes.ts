// SPDX-License-Identifier: Apache-2.0
// Kernel routes that let the host itself reach workloads on other nodes. Workload traffic needs none of them
// (the BPF programs forward it), but a host process's packet must get through routing and neighbour
// resolution before tc egress on the uplink can encapsulate it. This step is their only writer; it touches
// only routes of protocol HOST_ROUTE_PROTO with its node's metric (host/routes.ts).
import {
  inNextHopOrder,
  listHostNexthops,
  listHostRoutes,
  nexthopDeleteLine,
  nexthopIds,
  nexthopReplaceLine,
  routeDeleteLine,
  routeReplaceLine,
  runRouteBatchAsync,
  type HostRoute,
} from '../host/routes.js';
import { Encap, RouteFlags, RouteKind, type RouteEntry } from '../maps/layout.js';
import type { SyncStep } from './steps.js';

export interface HostRouteContext {
  uplink: string;
  /** This node's tunnel address: source of host traffic into the overlay, so replies come back through it. */
  tunnelAddr?: string;
  /** MTU for encapsulated routes (uplink MTU minus the overhead), so host TCP picks a fitting MSS. */
  tunnelMtu: (encap: Encap) => number;
  /** The first underlay hop toward a remote node: itself when on-link, else its subnet's router. */
  gatewayFor: (nodeAddr: string) => string;
}

/** A remote block's route: via the remote node (plain) or via the first hop toward it (encapsulated). */
export function planHostRoute(r: RouteEntry, ctx: HostRouteContext): HostRoute | undefined {
  if (r.kind !== RouteKind.RemoteBlock) return undefined;
  if (r.encap === Encap.None) {
    // Off our subnet the remote node is reached through the underlay's router, which knows the block by BGP.
    return { dst: r.cidr, gateway: r.flags & RouteFlags.ViaFib ? ctx.gatewayFor(r.nextHop) : r.nextHop, dev: ctx.uplink };
  }
  return {
    dst: r.cidr,
    gateway: ctx.gatewayFor(r.nextHop),
    dev: ctx.uplink,
    src: ctx.tunnelAddr,
    mtu: ctx.tunnelMtu(r.encap),
  };
}

export function planHostRoutes(routes: readonly RouteEntry[], ctx: HostRouteContext): HostRoute[] {
  return routes.map((r) => planHostRoute(r, ctx)).filter((r): r is HostRoute => r !== undefined);
}

/** What one next-hop object stands for: a gateway on a device. */
export const nexthopKey = (r: { gateway: string; dev: string }): string => `${r.gateway} ${r.dev}`;

export function sameRoute(a: HostRoute, b: HostRoute): boolean {
  return a.gateway === b.gateway && a.dev === b.dev && a.src === b.src && a.mtu === b.mtu;
}

/** `ip -batch` lines turning current into desired (all of one node's metric); replaces first, deletes last. */
export function planHostRouteCommands(current: readonly HostRoute[], desired: readonly HostRoute[], metric: number): string[] {
  const currentByDst = new Map(current.map((r) => [r.dst, r]));
  const desiredDsts = new Set(desired.map((r) => r.dst));
  const replaced = desired.filter((r) => {
    const existing = currentByDst.get(r.dst);
    return !existing || !sameRoute(existing, r);
  });
  const lines = inNextHopOrder(replaced).map((r) => routeReplaceLine(r, metric));
  for (const r of current) if (!desiredDsts.has(r.dst)) lines.push(routeDeleteLine(r.dst, metric));
  return lines;
}

export interface HostRouteSource {
  /** Route cidrs of the desired state (a full pass). */
  allKeys(): Iterable<string>;
  route(cidr: string): RouteEntry | undefined;
  /** Built once per pass (it reads the main routing table). */
  context(): HostRouteContext;
}

export class HostRouteSyncer implements SyncStep {
  readonly name = 'host-routes';
  private mirror?: Map<string, HostRoute>;
  /** This node's next-hop objects by nexthopKey, with how many routes of the mirror go through each. */
  private nexthops = new Map<string, { id: number; routes: number }>();
  private full = true;
  private readonly dirty = new Set<string>();

  constructor(
    private readonly metric: number,
    private readonly source: HostRouteSource,
  ) {}

  get pending(): boolean {
    return this.full || this.dirty.size > 0;
  }

  mark(cidrs: Iterable<string>): void {
    for (const c of cidrs) this.dirty.add(c);
  }

  /** Re-plan every route (the tunnel address, MTU or uplink changed) and re-read the kernel. */
  resync(): void {
    this.full = true;
  }

  /**
   * Plans the marked keys (every key after a resync) and writes them in one `ip -batch`, run in a child process
   * the agent does not wait for: twenty thousand routes keep the kernel busy for a second or more, which the other
   * steps and watch events overlap. Keys marked and resyncs asked for meanwhile stay pending for the next run; a
   * failed batch leaves the kernel unknown, so the next run reads it again.
   */
  run(): void | Promise<void> {
    const full = this.full || !this.mirror;
    const ctx = this.source.context();
    const lines: string[] = [];
    let current = this.mirror;
    if (full) {
      current = new Map();
      this.nexthops = new Map(listHostNexthops(this.metric).map((n) => [nexthopKey(n), { id: n.id, routes: 0 }]));
      const legacy: string[] = [];
      for (const r of listHostRoutes(this.metric, { legacy: true })) {
        if (r.metric === this.metric) current.set(r.dst, r);
        else legacy.push(r.dst);
      }
      const desired = new Set<string>();
      for (const cidr of this.source.allKeys()) {
        const r = this.source.route(cidr);
        if (r && planHostRoute(r, ctx)) desired.add(cidr);
      }
      // An older agent's routes carried no metric and would shadow ours: only those we now route are removed.
      for (const dst of legacy) if (desired.has(dst)) lines.push(`route del ${dst} proto 201 metric 0`);
      for (const r of current.values()) this.count(r, 1);
      for (const dst of current.keys()) this.dirty.add(dst);
      for (const cidr of desired) this.dirty.add(cidr);
    }
    const next = current!;
    const replaced: HostRoute[] = [];
    const deleted: string[] = [];
    for (const cidr of this.dirty) {
      const r = this.source.route(cidr);
      const want = r ? planHostRoute(r, ctx) : undefined;
      const have = next.get(cidr);
      if (want && (!have || !sameRoute(have, want))) replaced.push(want);
      else if (!want && have) deleted.push(cidr);
    }
    // Next hops first, then the routes through them; replaces before deletes, as everywhere: a destination never
    // loses its route in between; a next hop goes last, once no route of ours goes through it.
    const routeLines: string[] = [];
    let allocate: (() => number) | undefined;
    for (const r of inNextHopOrder(replaced)) {
      const key = nexthopKey(r);
      let hop = this.nexthops.get(key);
      if (!hop) {
        allocate ??= this.idAllocator();
        hop = { id: allocate(), routes: 0 };
        this.nexthops.set(key, hop);
        lines.push(nexthopReplaceLine({ id: hop.id, gateway: r.gateway, dev: r.dev }));
      }
      const have = next.get(r.dst);
      if (have) this.count(have, -1);
      this.count(r, 1);
      routeLines.push(routeReplaceLine(r, this.metric, hop.id));
    }
    lines.push(...routeLines);
    for (const dst of deleted) {
      lines.push(routeDeleteLine(dst, this.metric));
      this.count(next.get(dst)!, -1);
    }
    for (const [key, hop] of this.nexthops) {
      if (hop.routes > 0) continue;
      lines.push(nexthopDeleteLine(hop.id));
      this.nexthops.delete(key);
    }
    this.dirty.clear();
    this.full = false;
    const written = () => {
      for (const r of replaced) next.set(r.dst, r);
      for (const d of deleted) next.delete(d);
      this.mirror = next;
    };
    if (lines.length === 0) return written();
    this.mirror = undefined;
    return runRouteBatchAsync(lines).then(written, (err: unknown) => {
      this.full = true;
      throw err;
    });
  }

  private count(r: HostRoute, by: 1 | -1): void {
    const hop = this.nexthops.get(nexthopKey(r));
    if (hop) hop.routes += by;
  }

  /** Hands out the ids of this node's range that no next hop holds, lowest first. */
  private idAllocator(): () => number {
    const { first, last } = nexthopIds(this.metric);
    const held = new Set([...this.nexthops.values()].map((h) => h.id));
    let next = first;
    return () => {
      while (held.has(next)) next++;
      if (next > last) {
        this.full = true;
        throw new Error(`host routes: more than ${last - first + 1} distinct next hops; the rest are not written`);
      }
      held.add(next);
      return next++;
    };
  }
}
