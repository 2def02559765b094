// SPDX-License-Identifier: Apache-2.0
// Never touch what is not ours (issue #11): in one network namespace shared by two nodes' agents (as tests and
// labs do), `unload --node A` removes A's overlay routes and tunnel addresses only; B's (protocol 201 with B's
// metric, lo addresses with B's label) and anybody's routes of another protocol stay.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HOST_ROUTE_PROTO, hostRouteMetric, nexthopIds } from '../../src/control/host/routes.js';
import { tunnelAddressLabel } from '../../src/control/host/tunnel-addresses.js';
import { cli } from '../harness/agent.js';
import { Topology, type Netns } from '../harness/netns.js';
import { kernelDescribe } from '../harness/privileges.js';

kernelDescribe('host routes are scoped to their node', () => {
  const topo = new Topology('borts');
  const [a, b] = [`${topo.prefix}-a`, `${topo.prefix}-b`];
  let ns: Netns;

  beforeAll(() => {
    ns = topo.addNamespace('shared');
    ns.ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p');
    ns.ip('link', 'set', 'eth0p', 'up');
    ns.ip('addr', 'add', '172.31.9.1/24', 'dev', 'eth0');
    ns.ip('link', 'set', 'eth0', 'up');
    const route = (dst: string, metric: number, proto = String(HOST_ROUTE_PROTO)) =>
      ns.ip('route', 'add', dst, 'via', '172.31.9.2', 'dev', 'eth0', 'proto', proto, 'metric', String(metric));
    route('10.250.1.0/26', hostRouteMetric(a));
    route('10.250.2.0/26', hostRouteMetric(a));
    route('10.250.2.0/26', hostRouteMetric(b)); // the same destination, routed by both nodes
    route('10.250.3.0/26', hostRouteMetric(b));
    route('10.250.4.0/26', 100, 'static'); // somebody else's
    // Routes through next-hop objects, as the agent writes them: each node's in its own id range.
    const nexthop = (id: number, proto = String(HOST_ROUTE_PROTO)) =>
      ns.ip('nexthop', 'add', 'id', String(id), 'via', '172.31.9.3', 'dev', 'eth0', 'onlink', 'proto', proto);
    nexthop(nexthopIds(hostRouteMetric(a)).first);
    nexthop(nexthopIds(hostRouteMetric(b)).first);
    nexthop(77, 'static'); // somebody else's
    ns.ip('route', 'add', '10.250.5.0/26', 'nhid', String(nexthopIds(hostRouteMetric(a)).first), 'proto', String(HOST_ROUTE_PROTO), 'metric', String(hostRouteMetric(a)));
    ns.ip('route', 'add', '10.250.6.0/26', 'nhid', String(nexthopIds(hostRouteMetric(b)).first), 'proto', String(HOST_ROUTE_PROTO), 'metric', String(hostRouteMetric(b)));
    ns.ip('addr', 'add', '10.250.1.1/32', 'dev', 'lo', 'label', tunnelAddressLabel(a));
    ns.ip('addr', 'add', '10.250.3.1/32', 'dev', 'lo', 'label', tunnelAddressLabel(b));
  });

  afterAll(() => topo.destroy());

  it('unload of one node removes its routes and next hops and leaves the other node and other protocols alone', () => {
    cli(['unload', '--node', a, '--bpffs', `/sys/fs/bpf/${topo.prefix}`], { ns });
    const left = (JSON.parse(ns.ip('-j', 'route', 'show')) as { dst: string; protocol: string; metric?: number }[])
      .filter((r) => r.dst.startsWith('10.250.'))
      .map((r) => `${r.dst} ${r.protocol} ${r.metric ?? 0}`)
      .sort();
    expect(left).toEqual([
      `10.250.2.0/26 ${HOST_ROUTE_PROTO} ${hostRouteMetric(b)}`,
      `10.250.3.0/26 ${HOST_ROUTE_PROTO} ${hostRouteMetric(b)}`,
      '10.250.4.0/26 static 100',
      `10.250.6.0/26 ${HOST_ROUTE_PROTO} ${hostRouteMetric(b)}`,
    ]);
    const nexthops = (JSON.parse(ns.ip('-j', 'nexthop', 'show')) as { id: number }[]).map((n) => n.id).sort((x, y) => x - y);
    expect(nexthops).toEqual([77, nexthopIds(hostRouteMetric(b)).first]);
    // Tunnel addresses too: each node's carry a label of its own.
    const addrs = (JSON.parse(ns.ip('-j', 'addr', 'show', 'dev', 'lo')) as { addr_info: { local: string; label?: string }[] }[])[0]
      .addr_info.filter((x) => x.local.startsWith('10.250.'))
      .map((x) => `${x.local} ${x.label}`);
    expect(addrs).toEqual([`10.250.3.1 ${tunnelAddressLabel(b)}`]);
  });
});
