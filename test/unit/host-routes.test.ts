// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { Encap, RouteFlags, RouteKind, ZERO_MAC, type RouteEntry } from '../../src/control/maps/layout.js';
import { HOST_ROUTE_PROTO, hostRouteMetric, inNextHopOrder, nexthopIds, nexthopReplaceLine, routeReplaceLine } from '../../src/control/host/routes.js';
import { planHostRouteCommands, planHostRoutes } from '../../src/control/reconcile/host-routes.js';

function route(cidr: string, kind: RouteKind, encap: Encap, nextHop = '0.0.0.0'): RouteEntry {
  return { cidr, kind, encap, flags: RouteFlags.InPool, ifindex: 0, nextHop, dstMac: ZERO_MAC, srcMac: ZERO_MAC };
}

const ctx = {
  uplink: 'eth0',
  tunnelAddr: '192.168.0.1',
  tunnelMtu: (e: Encap) => (e === Encap.Vxlan ? 1450 : 1480),
  gatewayFor: (addr: string) => (addr.startsWith('10.0.1.') ? addr : '10.0.1.254'),
};

describe('host routes', () => {
  it('routes remote blocks only: plain via the node, encapsulated via the first hop with tunnel source and MTU', () => {
    const planned = planHostRoutes(
      [
        route('192.168.0.0/16', RouteKind.Pool, Encap.Ipip),
        route('192.168.0.0/26', RouteKind.LocalBlock, Encap.None),
        route('192.168.1.0/26', RouteKind.RemoteBlock, Encap.None, '10.0.1.2'),
        route('192.168.2.0/26', RouteKind.RemoteBlock, Encap.Vxlan, '10.0.2.3'),
      ],
      ctx,
    );
    expect(planned).toEqual([
      { dst: '192.168.1.0/26', gateway: '10.0.1.2', dev: 'eth0' },
      { dst: '192.168.2.0/26', gateway: '10.0.1.254', dev: 'eth0', src: '192.168.0.1', mtu: 1450 },
    ]);
  });

  it('issues no command when the kernel already matches, replaces changed routes and deletes stale ones last', () => {
    const same = { dst: '192.168.1.0/26', gateway: '10.0.1.2', dev: 'eth0' };
    expect(planHostRouteCommands([same], [same], 1500)).toEqual([]);
    const changed = { ...same, gateway: '10.0.1.254', src: '192.168.0.1', mtu: 1480 };
    const stale = { dst: '192.168.9.0/26', gateway: '10.0.1.9', dev: 'eth0' };
    expect(planHostRouteCommands([same, stale], [changed], 1500)).toEqual([
      `route replace 192.168.1.0/26 via 10.0.1.254 dev eth0 onlink proto ${HOST_ROUTE_PROTO} metric 1500 src 192.168.0.1 mtu lock 1480`,
      `route del 192.168.9.0/26 proto ${HOST_ROUTE_PROTO} metric 1500`,
    ]);
  });

  it('writes routes through one next hop one after another, in the given order within each next hop, deletes last', () => {
    const via = (dst: string, gateway: string, extra: { src?: string; mtu?: number } = {}) => ({ dst, gateway, dev: 'eth0', ...extra });
    const desired = [
      via('192.168.1.0/26', '10.0.1.2'),
      via('192.168.2.0/26', '10.0.1.254', { src: '192.168.0.1', mtu: 1480 }),
      via('192.168.3.0/26', '10.0.1.2'),
      via('192.168.4.0/26', '10.0.1.254', { src: '192.168.0.1', mtu: 1450 }),
      via('192.168.5.0/26', '10.0.1.254', { src: '192.168.0.1', mtu: 1480 }),
    ];
    expect(inNextHopOrder(desired).map((r) => r.dst)).toEqual(['192.168.1.0/26', '192.168.3.0/26', '192.168.4.0/26', '192.168.2.0/26', '192.168.5.0/26']);
    const lines = planHostRouteCommands([via('192.168.9.0/26', '10.0.1.9'), desired[2]], desired, 1500);
    expect(lines.map((l) => l.split(' ').slice(0, 5).join(' '))).toEqual([
      'route replace 192.168.1.0/26 via 10.0.1.2',
      'route replace 192.168.4.0/26 via 10.0.1.254',
      'route replace 192.168.2.0/26 via 10.0.1.254',
      'route replace 192.168.5.0/26 via 10.0.1.254',
      'route del 192.168.9.0/26 proto 201',
    ]);
  });

  it('names a next-hop object of the node instead of a gateway when given one, keeping source and MTU', () => {
    const r = { dst: '192.168.2.0/26', gateway: '10.0.1.254', dev: 'eth0', src: '192.168.0.1', mtu: 1450 };
    expect(nexthopReplaceLine({ id: 98_304_007, gateway: r.gateway, dev: r.dev })).toBe(
      `nexthop replace id 98304007 via 10.0.1.254 dev eth0 onlink proto ${HOST_ROUTE_PROTO}`,
    );
    expect(routeReplaceLine(r, 1500, 98_304_007)).toBe(
      `route replace 192.168.2.0/26 nhid 98304007 proto ${HOST_ROUTE_PROTO} metric 1500 src 192.168.0.1 mtu lock 1450`,
    );
  });

  it("gives each node's next hops an id range of its own, within the kernel's 32-bit ids", () => {
    const [a, b] = [nexthopIds(hostRouteMetric('node-a')), nexthopIds(hostRouteMetric('node-b'))];
    expect(a.last - a.first + 1).toBe(65_536);
    expect(a.last < b.first || b.last < a.first).toBe(true);
    expect(nexthopIds(1024 + 32767).last).toBeLessThan(2 ** 32);
    expect(nexthopIds(1024).first).toBeGreaterThan(0);
  });

  it("scopes each node's routes by a metric of its own, stable per node name", () => {
    expect(hostRouteMetric('node-a')).toBe(hostRouteMetric('node-a'));
    expect(hostRouteMetric('node-a')).not.toBe(hostRouteMetric('node-b'));
    for (const n of ['a', 'node-a', 'x'.repeat(200)]) {
      expect(hostRouteMetric(n)).toBeGreaterThanOrEqual(1024);
      expect(hostRouteMetric(n)).toBeLessThan(1024 + 32768);
    }
  });
});
