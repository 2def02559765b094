// SPDX-License-Identifier: Apache-2.0
// The host routes bpf-overlay owns: protocol HOST_ROUTE_PROTO, and a metric of the node's own, so that several
// agents sharing one network namespace (tests, a lab) each list, replace and delete only their own routes,
// and nobody's routes of another protocol are ever touched. Their next-hop objects (same protocol) take ids
// from a range of the node's own (nexthopIds), for the same reason.
import { createHash } from 'node:crypto';
import { runTool, runToolAsync } from './run.js';

export const HOST_ROUTE_PROTO = 201;

export interface HostRoute {
  dst: string;
  gateway: string;
  dev: string;
  src?: string;
  mtu?: number;
}

/** The metric of one node's routes: stable per node name, 1024..33791 (clear of the kernel's usual 0..1024). */
export function hostRouteMetric(node: string): number {
  return 1024 + (createHash('sha256').update(node).digest().readUInt32BE(0) % 32768);
}

interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev: string;
  prefsrc?: string;
  metric?: number;
  metrics?: { mtu?: number }[];
}

/** Our routes of one node (its metric), plus, with legacy, those an older agent wrote without a metric. */
export function listHostRoutes(metric: number, opts: { legacy?: boolean } = {}): (HostRoute & { metric: number })[] {
  const out = runTool('ip', ['-j', '-d', 'route', 'show', 'proto', String(HOST_ROUTE_PROTO)]);
  return (JSON.parse(out || '[]') as IpRouteJson[])
    .filter((r) => (r.metric ?? 0) === metric || (opts.legacy === true && (r.metric ?? 0) === 0))
    .map((r) => ({
      dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`,
      gateway: r.gateway ?? '',
      dev: r.dev,
      src: r.prefsrc,
      mtu: r.metrics?.find((m) => m.mtu !== undefined)?.mtu,
      metric: r.metric ?? 0,
    }));
}

/**
 * Route replaces in the order the kernel writes fastest: routes through one next hop (device, gateway, source,
 * MTU) one after another, each group in the order given. The kernel shares one fib_info per next hop and
 * searches for the shared one on every route it writes; consecutive routes through the same next hop find it at
 * once, interleaved ones search among every next hop of the device. Measured with 20,000 routes through 1,000
 * gateways (kernel 6.x, one `ip -batch`): 0.35-0.42 s grouped, 0.89-1.04 s in CIDR order.
 */
export function inNextHopOrder<T extends HostRoute>(routes: readonly T[]): T[] {
  const key = (r: HostRoute) => `${r.dev} ${r.gateway} ${r.src ?? ''} ${r.mtu ?? 0}`;
  const keys = new Map(routes.map((r) => [r, key(r)]));
  return [...routes].sort((a, b) => {
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/**
 * With `nexthop`, the route names a next-hop object (nexthopReplaceLine) instead of carrying its gateway: the
 * kernel files a route's shared fib_info under its next hop's id, where one with a gateway of its own is filed
 * under the device alone, so that each route written searches every fib_info of the device (thousands, one per
 * remote node). Measured with 20,000 routes through 1,000 gateways: 0.26-0.45 s instead of 0.89-1.6 s.
 */
export function routeReplaceLine(r: HostRoute, metric: number, nexthop?: number): string {
  const via = nexthop === undefined ? ['via', r.gateway, 'dev', r.dev, 'onlink'] : ['nhid', String(nexthop)];
  const parts = ['route replace', r.dst, ...via, 'proto', String(HOST_ROUTE_PROTO), 'metric', String(metric)];
  if (r.src) parts.push('src', r.src);
  if (r.mtu) parts.push('mtu', 'lock', String(r.mtu));
  return parts.join(' ');
}

export function routeDeleteLine(dst: string, metric: number): string {
  return `route del ${dst} proto ${HOST_ROUTE_PROTO} metric ${metric}`;
}

/** A node's next-hop object ids: 65,536 of its own from metric × 65,536 (disjoint per node, as the metrics are). */
export function nexthopIds(metric: number): { first: number; last: number } {
  return { first: metric * 65_536, last: metric * 65_536 + 65_535 };
}

export interface HostNexthop {
  id: number;
  gateway: string;
  dev: string;
}

/** This node's next-hop objects (protocol HOST_ROUTE_PROTO, ids in its own range). */
export function listHostNexthops(metric: number): HostNexthop[] {
  const { first, last } = nexthopIds(metric);
  const out = runTool('ip', ['-j', 'nexthop', 'show', 'proto', String(HOST_ROUTE_PROTO)]);
  return (JSON.parse(out || '[]') as Array<{ id: number; gateway?: string; dev?: string }>)
    .filter((n) => n.id >= first && n.id <= last)
    .map((n) => ({ id: n.id, gateway: n.gateway ?? '', dev: n.dev ?? '' }));
}

export function nexthopReplaceLine(n: HostNexthop): string {
  return `nexthop replace id ${n.id} via ${n.gateway} dev ${n.dev} onlink proto ${HOST_ROUTE_PROTO}`;
}

export function nexthopDeleteLine(id: number): string {
  return `nexthop del id ${id}`;
}

/**
 * Runs `ip -force -batch`: every line is tried even when one fails, so one unusable route (a gateway the
 * kernel refuses) never keeps the others out. Throws, after the whole batch ran, naming the lines that failed.
 */
export function runRouteBatch(lines: readonly string[]): void {
  if (lines.length > 0) runTool('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
}

/** runRouteBatch in a child process the event loop does not wait for (the kernel's work overlaps the agent's). */
export async function runRouteBatchAsync(lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await runToolAsync('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
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
 * prefix wins; overlay routes are ignored): itself when on-link, else the gateway of the best route.
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
