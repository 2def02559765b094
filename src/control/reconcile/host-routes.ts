// Kernel routes that let the host itself reach workloads on other nodes. Workload traffic needs none of them
// (the BPF programs forward it), but a host process's packet must get through routing and neighbour
// resolution before tc egress on the uplink can encapsulate it. Every route we own carries protocol
// HOST_ROUTE_PROTO, so we can list exactly ours and leave everybody else's alone.
import { Encap, RouteFlags, RouteKind, type RouteEntry } from '../maps/layout.js';
import { runTool } from '../system/run.js';

export const HOST_ROUTE_PROTO = 201;

export interface HostRoute {
  dst: string;
  gateway: string;
  dev: string;
  src?: string;
  mtu?: number;
}

export interface HostRouteContext {
  uplink: string;
  /** This node's tunnel address: source of host traffic into the overlay, so replies come back through it. */
  tunnelAddr?: string;
  /** MTU for encapsulated routes (uplink MTU minus the overhead), so host TCP picks a fitting MSS. */
  tunnelMtu: (encap: Encap) => number;
  /** The first underlay hop toward a remote node: itself when on-link, else its subnet's router. */
  gatewayFor: (nodeAddr: string) => string;
}

/** One route per remote block: via the remote node (plain) or via the first hop toward it (encapsulated). */
export function planHostRoutes(routes: readonly RouteEntry[], ctx: HostRouteContext): HostRoute[] {
  const planned: HostRoute[] = [];
  for (const r of routes) {
    if (r.kind !== RouteKind.RemoteBlock) continue;
    if (r.encap === Encap.None) {
      // Off our subnet the remote node is reached through the underlay's router, which knows the block by BGP.
      planned.push({ dst: r.cidr, gateway: r.flags & RouteFlags.ViaFib ? ctx.gatewayFor(r.nextHop) : r.nextHop, dev: ctx.uplink });
    } else {
      planned.push({
        dst: r.cidr,
        gateway: ctx.gatewayFor(r.nextHop),
        dev: ctx.uplink,
        src: ctx.tunnelAddr,
        mtu: ctx.tunnelMtu(r.encap),
      });
    }
  }
  return planned;
}

interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev: string;
  prefsrc?: string;
  metrics?: { mtu?: number }[];
}

export function listHostRoutes(): HostRoute[] {
  const out = runTool('ip', ['-j', '-d', 'route', 'show', 'proto', String(HOST_ROUTE_PROTO)]);
  const parsed = JSON.parse(out || '[]') as IpRouteJson[];
  return parsed.map((r) => ({
    dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`,
    gateway: r.gateway ?? '',
    dev: r.dev,
    src: r.prefsrc,
    mtu: r.metrics?.find((m) => m.mtu !== undefined)?.mtu,
  }));
}

function sameRoute(a: HostRoute, b: HostRoute): boolean {
  return a.gateway === b.gateway && a.dev === b.dev && a.src === b.src && a.mtu === b.mtu;
}

function routeArgs(r: HostRoute): string {
  const parts = [r.dst, 'via', r.gateway, 'dev', r.dev, 'onlink', 'proto', String(HOST_ROUTE_PROTO)];
  if (r.src) parts.push('src', r.src);
  if (r.mtu) parts.push('mtu', 'lock', String(r.mtu));
  return parts.join(' ');
}

/** `ip -batch` lines turning current into desired; replaces come first, deletes last. */
export function planHostRouteCommands(current: readonly HostRoute[], desired: readonly HostRoute[]): string[] {
  const currentByDst = new Map(current.map((r) => [r.dst, r]));
  const desiredDsts = new Set(desired.map((r) => r.dst));
  const lines: string[] = [];
  for (const r of desired) {
    const existing = currentByDst.get(r.dst);
    if (!existing || !sameRoute(existing, r)) lines.push(`route replace ${routeArgs(r)}`);
  }
  for (const r of current) {
    if (!desiredDsts.has(r.dst)) lines.push(`route del ${r.dst} proto ${HOST_ROUTE_PROTO}`);
  }
  return lines;
}

export function syncHostRoutes(desired: readonly HostRoute[]): number {
  const lines = planHostRouteCommands(listHostRoutes(), desired);
  if (lines.length > 0) runTool('ip', ['-batch', '-'], lines.join('\n') + '\n');
  return lines.length;
}

export function removeHostRoutes(): void {
  syncHostRoutes([]);
}

interface MainRouteJson {
  dst: string;
  gateway?: string;
  protocol?: string;
  type?: string;
}

function ipv4ToInt(addr: string): number {
  return addr.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0);
}

/**
 * The first underlay hop toward each node address, answered from one read of the main routing table (longest
 * prefix wins; our own overlay routes are ignored): itself when on-link, else the gateway of the best route.
 * One `ip` call per reconcile however many nodes the cluster has.
 */
export function underlayGatewayResolver(): (addr: string) => string {
  const routes = (JSON.parse(runTool('ip', ['-j', 'route', 'show', 'table', 'main'])) as MainRouteJson[])
    .filter((r) => r.protocol !== String(HOST_ROUTE_PROTO) && (r.type === undefined || r.type === 'unicast'))
    .map((r) => {
      const [net, len] = r.dst === 'default' ? ['0.0.0.0', '0'] : r.dst.split('/');
      const prefix = Number(len ?? 32);
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      return { net: ipv4ToInt(net) & mask, mask, prefix, gateway: r.gateway };
    })
    .sort((a, b) => b.prefix - a.prefix);
  return (addr: string) => {
    const target = ipv4ToInt(addr);
    const best = routes.find((r) => ((target & r.mask) >>> 0) === r.net);
    return best?.gateway ?? addr;
  };
}
