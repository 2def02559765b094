// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compile, type CompileInput } from '../../src/control/compile/index.js';
import { Encap, NodeFlags, RouteFlags, RouteKind, ZERO_IP, ZERO_MAC, type RouteEntry } from '../../src/control/maps/layout.js';
import { overlayConfigWithDefaults } from '../../src/control/model/parse.js';
import type { BlockAffinity, IPPool, Node, WorkloadEndpoint } from '../../src/control/model/types.js';
import { loadManifests, requireValid } from '../../src/control/validation/index.js';

const V3 = 'projectcalico.org/v3' as const;
const IN_POOL_NAT = 3; // RouteFlags.InPool | RouteFlags.NatOutgoing
// A remote block that holds no node's underlay address (every block here): to_uplink skips its node lookup.
const REMOTE_NAT = IN_POOL_NAT | RouteFlags.NoClusterNode;
const MAC_NODE2 = '66:2d:bf:44:a6:8b'; // 0x66 + sha1("node2")[0:5]
const MAC_NODE3 = '66:a4:6f:e0:c4:da';

function fixturePool(file: string): IPPool {
  const path = fileURLToPath(new URL(`../fixtures/${file}`, import.meta.url));
  const [only] = requireValid(loadManifests(readFileSync(path, 'utf8'), file));
  return only.resource as IPPool;
}

function node(name: string, ipv4Address: string | undefined, extra: Partial<Node['spec']> = {}, labels?: Record<string, string>): Node {
  const { bgp, ...rest } = extra;
  const bgpSpec = ipv4Address || bgp ? { bgp: { ...(ipv4Address ? { ipv4Address } : {}), ...bgp } } : {};
  return { apiVersion: V3, kind: 'Node', metadata: { name, ...(labels ? { labels } : {}) }, spec: { ...rest, ...bgpSpec } };
}
function block(nodeName: string, cidr: string, extra: Partial<BlockAffinity['spec']> = {}): BlockAffinity {
  return { apiVersion: V3, kind: 'BlockAffinity', metadata: { name: `${nodeName}-${cidr.replace(/[./]/g, '-')}` }, spec: { node: nodeName, cidr, ...extra } };
}
function workload(name: string, nodeName: string, ip: string, hostIfindex: number): WorkloadEndpoint {
  return {
    apiVersion: V3,
    kind: 'WorkloadEndpoint',
    metadata: { name },
    spec: { node: nodeName, containerID: name, interfaceName: 'eth0', hostInterface: `bo${hostIfindex}`, hostIfindex, hostMac: 'EE:EE:EE:EE:EE:EE', mac: '0a:58:c0:a8:01:05', ipNetworks: [ip], pool: 'p', pod: name, namespace: 'default' },
  };
}
function pool(name: string, cidr: string, spec: Partial<IPPool['spec']> = {}): IPPool {
  return { apiVersion: V3, kind: 'IPPool', metadata: { name }, spec: { cidr, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false, blockSize: 26, nodeSelector: 'all()', ...spec } };
}

const nodes = (node1Addr = '10.0.1.1/24'): Node[] => [
  node('node1', node1Addr, { bgp: { ipv4IPIPTunnelAddr: '192.168.1.1' }, ipv4VXLANTunnelAddr: '192.168.1.2' }),
  node('node2', '10.0.1.2/24', { ipv4VXLANTunnelAddr: '192.168.2.1' }),
  node('node3', '10.0.2.3/24'),
];
const blocks = [block('node1', '192.168.1.0/26'), block('node2', '192.168.2.0/26'), block('node3', '192.168.3.0/26')];

function input(pools: IPPool[], over: Partial<CompileInput> = {}): CompileInput {
  return {
    pools,
    nodes: nodes(),
    blockAffinities: blocks,
    workloads: [workload('pod-a', 'node1', '192.168.1.5/32', 7), workload('pod-b', 'node2', '192.168.2.5/32', 9)],
    localNode: 'node1',
    config: overlayConfigWithDefaults(),
    uplinkMtu: 1500,
    ...over,
  };
}

const empty = { ifindex: 0, nextHop: ZERO_IP, dstMac: ZERO_MAC, srcMac: ZERO_MAC };
function expectedRoutes(tunnelAddr: string, toNode2: [Encap, string], toNode3: [Encap, string]): RouteEntry[] {
  return [
    { cidr: '192.168.0.0/16', kind: RouteKind.Pool, encap: Encap.None, flags: IN_POOL_NAT, ...empty },
    { cidr: '192.168.1.0/26', kind: RouteKind.LocalBlock, encap: Encap.None, flags: IN_POOL_NAT, ...empty },
    { cidr: `${tunnelAddr}/32`, kind: RouteKind.LocalHost, encap: Encap.None, flags: IN_POOL_NAT, ...empty },
    { cidr: '192.168.1.5/32', kind: RouteKind.LocalWorkload, encap: Encap.None, flags: IN_POOL_NAT, ifindex: 7, nextHop: ZERO_IP, dstMac: '0a:58:c0:a8:01:05', srcMac: 'ee:ee:ee:ee:ee:ee' },
    { cidr: '192.168.2.0/26', kind: RouteKind.RemoteBlock, encap: toNode2[0], flags: REMOTE_NAT, ifindex: 0, nextHop: '10.0.1.2', dstMac: toNode2[1], srcMac: ZERO_MAC },
    { cidr: '192.168.3.0/26', kind: RouteKind.RemoteBlock, encap: toNode3[0], flags: REMOTE_NAT, ifindex: 0, nextHop: '10.0.2.3', dstMac: toNode3[1], srcMac: ZERO_MAC },
  ];
}

describe('Calico documentation manifests, three nodes (node1 local)', () => {
  const cases: Array<{ file: string; tunnel: string; node2: [Encap, string]; node3: [Encap, string]; nodeFlags: number; mtu: number; encap: Encap }> = [
    { file: 'calico-ipip-crosssubnet.yaml', tunnel: '192.168.1.1', node2: [Encap.None, ZERO_MAC], node3: [Encap.Ipip, ZERO_MAC], nodeFlags: 3, mtu: 1480, encap: Encap.Ipip },
    { file: 'calico-ipip-always.yaml', tunnel: '192.168.1.1', node2: [Encap.Ipip, ZERO_MAC], node3: [Encap.Ipip, ZERO_MAC], nodeFlags: 3, mtu: 1480, encap: Encap.Ipip },
    { file: 'calico-vxlan-crosssubnet.yaml', tunnel: '192.168.1.2', node2: [Encap.None, ZERO_MAC], node3: [Encap.Vxlan, MAC_NODE3], nodeFlags: 3, mtu: 1450, encap: Encap.Vxlan },
    { file: 'calico-vxlan-always.yaml', tunnel: '192.168.1.2', node2: [Encap.Vxlan, MAC_NODE2], node3: [Encap.Vxlan, MAC_NODE3], nodeFlags: 3, mtu: 1450, encap: Encap.Vxlan },
  ];
  it.each(cases)('$file', (c) => {
    const state = compile(input([fixturePool(c.file)]));
    expect(state.routes).toEqual(expectedRoutes(c.tunnel, c.node2, c.node3));
    expect(state.knownNodes).toEqual([
      { addr: '10.0.1.2', vtepMac: MAC_NODE2, flags: c.nodeFlags, tunnelAddr: '192.168.2.1' },
      { addr: '10.0.2.3', vtepMac: MAC_NODE3, flags: c.nodeFlags, tunnelAddr: ZERO_IP },
    ]);
    expect(state.settings).toEqual({ tunnelAddr: c.tunnel, uplinkMtu: 1500 });
    expect(state.workloadMtu).toBe(c.mtu);
    expect(state.encapsInUse).toEqual([c.encap]);
    expect(state.localEncaps).toEqual([c.encap]);
    expect(state.localNodeAddress).toBe('10.0.1.1');
    expect(state.natOutgoing).toEqual({ natPools: ['192.168.0.0/16'], allPools: ['192.168.0.0/16'], clusterHosts: ['10.0.1.1', '10.0.1.2', '10.0.2.3'] });
    expect(state.warnings).toEqual([]);
  });

  it('explains CrossSubnet decisions', () => {
    const d = compile(input([fixturePool('calico-vxlan-crosssubnet.yaml')])).routeDecisions;
    expect(d.find((x) => x.cidr === '192.168.2.0/26')).toMatchObject({ node: 'node2', kind: RouteKind.RemoteBlock, encap: Encap.None, reason: 'CrossSubnet: 10.0.1.0/24 contains 10.0.1.2 -> plain' });
    expect(d.find((x) => x.cidr === '192.168.3.0/26')).toMatchObject({ node: 'node3', encap: Encap.Vxlan, nextHop: '10.0.2.3', reason: 'CrossSubnet: 10.0.1.0/24 does not contain 10.0.2.3 -> vxlan' });
    expect(d.find((x) => x.cidr === '192.168.1.2/32')?.reason).toBe('VXLAN tunnel address of this node');
    expect(d.find((x) => x.cidr === '192.168.1.1/32')).toMatchObject({ kind: null, reason: 'IPIP tunnel address ignored: no IPIP pool selects this node' });
  });

  it('a /32 local node address makes CrossSubnet behave as Always', () => {
    const state = compile(input([fixturePool('calico-ipip-crosssubnet.yaml')], { nodes: nodes('10.0.1.1/32') }));
    expect(state.routes).toEqual(expectedRoutes('192.168.1.1', [Encap.Ipip, ZERO_MAC], [Encap.Ipip, ZERO_MAC]));
    expect(state.routeDecisions.find((x) => x.cidr === '192.168.2.0/26')?.reason).toBe(
      'CrossSubnet: 10.0.1.1/32 does not contain 10.0.1.2 -> ipip (a /32 node address makes CrossSubnet behave as Always)',
    );
  });

  it('compiles node3 view: both others are cross-subnet', () => {
    const state = compile(input([fixturePool('calico-vxlan-crosssubnet.yaml')], { localNode: 'node3' }));
    const remote = state.routes.filter((r) => r.kind === RouteKind.RemoteBlock);
    expect(remote.map((r) => [r.cidr, r.encap, r.nextHop])).toEqual([
      ['192.168.1.0/26', Encap.Vxlan, '10.0.1.1'],
      ['192.168.2.0/26', Encap.Vxlan, '10.0.1.2'],
    ]);
    expect(state.settings.tunnelAddr).toBe(ZERO_IP); // node3 has no tunnel address yet
    expect(state.routes.find((r) => r.kind === RouteKind.LocalWorkload)).toBeUndefined();
  });
});

describe('determinism', () => {
  function shuffle<T>(arr: readonly T[], seed: number): T[] {
    const out = [...arr];
    let s = seed;
    for (let i = out.length - 1; i > 0; i--) {
      s = (s * 1103515245 + 12345) % 2147483648;
      const j = s % (i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
  it('shuffled input gives identical output', () => {
    const pools = [fixturePool('calico-vxlan-crosssubnet.yaml'), pool('other', '10.244.0.0/16', { ipipMode: 'Always' })];
    const moreBlocks = [...blocks, block('node2', '10.244.2.0/26'), block('node3', '10.244.3.0/26'), block('node1', '10.244.1.0/26')];
    const base = input(pools, { blockAffinities: moreBlocks });
    const reference = compile(base);
    for (let seed = 1; seed <= 20; seed++) {
      const shuffled = compile({
        ...base,
        pools: shuffle(base.pools, seed),
        nodes: shuffle(base.nodes, seed + 1),
        blockAffinities: shuffle(base.blockAffinities, seed + 2),
        workloads: shuffle(base.workloads, seed + 3),
      });
      expect(JSON.stringify(shuffled)).toBe(JSON.stringify(reference));
    }
    expect(reference.routes.map((r) => r.cidr)).toEqual([
      '10.244.0.0/16', '10.244.1.0/26', '10.244.2.0/26', '10.244.3.0/26',
      '192.168.0.0/16', '192.168.1.0/26', '192.168.1.1/32', '192.168.1.2/32', '192.168.1.5/32', '192.168.2.0/26', '192.168.3.0/26',
    ]);
    // both encapsulations select node1: both tunnel addresses belong to the host, VXLAN's is the source
    expect(reference.settings.tunnelAddr).toBe('192.168.1.2');
    expect(reference.encapsInUse).toEqual([Encap.Ipip, Encap.Vxlan]);
    expect(reference.knownNodes[0].flags).toBe(3);
  });
});

describe('compiler rules', () => {
  it('routes blocks of a disabled pool and keeps its flags; natOutgoing follows the pool', () => {
    const state = compile(input([pool('p', '192.168.0.0/16', { ipipMode: 'Always', disabled: true, natOutgoing: true })]));
    expect(state.routes.find((r) => r.cidr === '192.168.3.0/26')).toMatchObject({ kind: RouteKind.RemoteBlock, encap: Encap.Ipip, flags: REMOTE_NAT });
    expect(state.natOutgoing.natPools).toEqual(['192.168.0.0/16']);
  });

  it('a pool without encapsulation gives plain routes and flags without NatOutgoing', () => {
    const state = compile(input([pool('p', '192.168.0.0/16')]));
    const remote = state.routes.filter((r) => r.kind === RouteKind.RemoteBlock);
    // node3 (10.0.2.3) is outside node1's subnet: its plain hop follows the host FIB (the underlay's routers).
    const flags = RouteFlags.InPool | RouteFlags.NoClusterNode;
    expect(remote.map((r) => [r.encap, r.flags, r.dstMac])).toEqual([[Encap.None, flags, ZERO_MAC], [Encap.None, flags | RouteFlags.ViaFib, ZERO_MAC]]);
    expect(state.workloadMtu).toBe(1500);
    expect(state.encapsInUse).toEqual([]);
    // Known nodes may send either encapsulation even now: a later mode change must not drop packets in flight.
    expect(state.knownNodes.map((n) => n.flags)).toEqual([NodeFlags.AllowIpip | NodeFlags.AllowVxlan, NodeFlags.AllowIpip | NodeFlags.AllowVxlan]);
    expect(state.natOutgoing.natPools).toEqual([]);
    expect(state.routeDecisions.find((d) => d.cidr === '192.168.2.0/26')?.reason).toBe('ipipMode and vxlanMode Never -> plain');
  });

  it('skips remote nodes without an address or resource, and blocks outside every pool', () => {
    const state = compile(
      input([pool('p', '192.168.0.0/16', { vxlanMode: 'Always' })], {
        nodes: [...nodes().filter((n) => n.metadata.name !== 'node3'), node('node3', undefined)],
        blockAffinities: [...blocks, block('ghost', '192.168.9.0/26'), block('node2', '10.99.0.0/26')],
      }),
    );
    expect(state.routes.map((r) => r.cidr)).not.toContain('192.168.3.0/26');
    expect(state.knownNodes.map((n) => n.addr)).toEqual(['10.0.1.2']);
    const reasons = Object.fromEntries(state.routeDecisions.filter((d) => d.kind === null).map((d) => [d.cidr, d.reason]));
    expect(reasons['192.168.3.0/26']).toBe('node node3 has no spec.bgp.ipv4Address');
    expect(reasons['192.168.9.0/26']).toBe('node ghost has no Node resource');
    expect(reasons['10.99.0.0/26']).toBe('no IPPool contains this block');
  });

  it('a remote block holding a node\'s underlay address (a pool overlapping the underlay) is not marked node-free', () => {
    const state = compile(
      input([pool('p', '10.0.0.0/8', { ipipMode: 'Always' })], {
        blockAffinities: [block('node1', '10.200.1.0/26'), block('node2', '10.0.1.0/26'), block('node3', '10.200.3.0/26')],
      }),
    );
    const remote = state.routes.filter((r) => r.kind === RouteKind.RemoteBlock);
    // 10.0.1.0/26 holds node2's own 10.0.1.2 (and node1's 10.0.1.1); 10.200.3.0/26 holds no node.
    expect(remote.map((r) => [r.cidr, (r.flags & RouteFlags.NoClusterNode) !== 0])).toEqual([
      ['10.0.1.0/26', false],
      ['10.200.3.0/26', true],
    ]);
  });

  it('ignores deleted affinities and IPv6 pools, with reasons', () => {
    const state = compile(
      input([pool('p', '192.168.0.0/16', { ipipMode: 'Always' }), pool('v6', 'fd00::/48', { vxlanMode: 'Always', blockSize: 122 })], {
        blockAffinities: [block('node1', '192.168.1.0/26'), block('node2', '192.168.2.0/26', { deleted: true })],
      }),
    );
    expect(state.routes.map((r) => r.cidr)).not.toContain('192.168.2.0/26');
    expect(state.routeDecisions.find((d) => d.cidr === '192.168.2.0/26')?.reason).toBe('block affinity is deleted');
    expect(state.warnings).toEqual(['IPPool v6: IPv6 pool fd00::/48 ignored, the data plane is IPv4-only']);
  });

  it('resolves two nodes claiming one block by node name, with a warning', () => {
    const state = compile(input([pool('p', '192.168.0.0/16', { ipipMode: 'Always' })], { blockAffinities: [block('node3', '192.168.2.0/26'), block('node2', '192.168.2.0/26')] }));
    expect(state.routes.find((r) => r.cidr === '192.168.2.0/26')?.nextHop).toBe('10.0.1.2');
    expect(state.warnings).toEqual(['conflict: 192.168.2.0/26 already belongs to block 192.168.2.0/26 of node2; block 192.168.2.0/26 of node3 ignored']);
  });

  it('a block as large as its pool replaces the POOL entry', () => {
    const state = compile(input([pool('small', '192.168.1.0/26', { ipipMode: 'Always', natOutgoing: true })], { blockAffinities: [block('node1', '192.168.1.0/26')] }));
    expect(state.routes.filter((r) => r.cidr === '192.168.1.0/26')).toEqual([{ cidr: '192.168.1.0/26', kind: RouteKind.LocalBlock, encap: Encap.None, flags: IN_POOL_NAT, ...empty }]);
  });

  it('gives workloads outside every pool no pool flags', () => {
    const state = compile(input([pool('p', '192.168.0.0/16')], { workloads: [workload('x', 'node1', '10.50.0.9/32', 12)] }));
    expect(state.routes.find((r) => r.cidr === '10.50.0.9/32')).toMatchObject({ kind: RouteKind.LocalWorkload, flags: 0, ifindex: 12 });
  });

  it('uses the configured VTEP MAC of a remote node', () => {
    const ns = nodes();
    ns[1] = node('node2', '10.0.1.2/24', { vxlanTunnelMACAddr: '66:00:00:00:00:02' });
    const state = compile(input([pool('p', '192.168.0.0/16', { vxlanMode: 'Always' })], { nodes: ns }));
    expect(state.routes.find((r) => r.cidr === '192.168.2.0/26')?.dstMac).toBe('66:00:00:00:00:02');
    expect(state.knownNodes[0].vtepMac).toBe('66:00:00:00:00:02');
  });

  it('warns when the local node is unknown and encapsulates CrossSubnet', () => {
    const state = compile(input([pool('p', '192.168.0.0/16', { ipipMode: 'CrossSubnet' })], { localNode: 'node9' }));
    expect(state.localNodeAddress).toBeNull();
    expect(state.routes.filter((r) => r.kind === RouteKind.RemoteBlock).every((r) => r.encap === Encap.Ipip)).toBe(true);
    expect(state.warnings[0]).toContain('local node node9 has no Node resource');
    expect(state.knownNodes).toHaveLength(3);
  });

  it('rejects an unusable uplink MTU', () => {
    expect(() => compile(input([], { uplinkMtu: 0 }))).toThrow('uplinkMtu must be an integer between 576 and 65535, got 0');
  });
});

describe('MTU', () => {
  const labelled = (labels: Record<string, string>) => nodes().map((n) => (n.metadata.name === 'node1' ? { ...n, metadata: { ...n.metadata, labels } } : n));
  const table: Array<[string, IPPool[], Partial<CompileInput>, number]> = [
    ['no encapsulation', [pool('p', '192.168.0.0/16')], {}, 1500],
    ['IPIP', [pool('p', '192.168.0.0/16', { ipipMode: 'Always' })], {}, 1480],
    ['VXLAN CrossSubnet', [pool('p', '192.168.0.0/16', { vxlanMode: 'CrossSubnet' })], {}, 1450],
    ['IPIP and VXLAN pools: the smaller', [pool('a', '192.168.0.0/16', { ipipMode: 'Always' }), pool('b', '10.244.0.0/16', { vxlanMode: 'Always' })], {}, 1450],
    ['jumbo uplink', [pool('p', '192.168.0.0/16', { vxlanMode: 'Always' })], { uplinkMtu: 9000 }, 8950],
    ['override', [pool('p', '192.168.0.0/16', { vxlanMode: 'Always' })], { config: overlayConfigWithDefaults({ mtu: 1400 }) }, 1400],
    ['override 0 means derive', [pool('p', '192.168.0.0/16', { ipipMode: 'Always' })], { config: overlayConfigWithDefaults({ mtu: 0 }) }, 1480],
    ['VXLAN pool not selecting this node', [pool('a', '192.168.0.0/16', { ipipMode: 'Always' }), pool('b', '10.244.0.0/16', { vxlanMode: 'Always', nodeSelector: "zone == 'b'" })], { nodes: labelled({ zone: 'a' }) }, 1480],
    ['VXLAN pool selecting this node by label', [pool('a', '192.168.0.0/16', { ipipMode: 'Always' }), pool('b', '10.244.0.0/16', { vxlanMode: 'Always', nodeSelector: "zone == 'a'" })], { nodes: labelled({ zone: 'a' }) }, 1450],
  ];
  it.each(table)('%s', (_name, pools, over, mtu) => {
    expect(compile(input(pools, over)).workloadMtu).toBe(mtu);
  });

  it('a pool not selecting this node neither sets the tunnel address nor the local encaps', () => {
    const state = compile(input([pool('b', '192.168.0.0/16', { vxlanMode: 'Always', nodeSelector: "zone == 'b'" })], { nodes: labelled({ zone: 'a' }) }));
    expect(state.settings.tunnelAddr).toBe(ZERO_IP);
    expect(state.localEncaps).toEqual([]);
    expect(state.encapsInUse).toEqual([Encap.Vxlan]);
    // routes to remote blocks exist regardless of the selector
    expect(state.routes.find((r) => r.cidr === '192.168.3.0/26')).toMatchObject({ encap: Encap.Vxlan, dstMac: MAC_NODE3 });
  });
});

describe('routes learned over BGP', () => {
  it('fill only prefixes of a pool that the datastore leaves open; a learned route from a node follows its pool mode', () => {
    const learnedRoutes = [
      { cidr: '192.168.2.0/26', nextHop: '10.0.9.9' }, // node2's block: the datastore wins
      { cidr: '192.168.2.0/27', nextHop: '10.0.9.9' }, // inside node2's block: the datastore wins
      { cidr: '192.168.7.0/26', nextHop: '10.0.2.3' }, // from node3 (a Calico node, say): like node3's own blocks
      { cidr: '192.168.8.0/26', nextHop: '10.0.1.200' }, // from a speaker that is no node, on our subnet
      { cidr: '172.16.0.0/24', nextHop: '10.0.1.200' }, // outside every pool: never in the data path
    ];
    const state = compile(input([pool('p', '192.168.0.0/16', { ipipMode: 'CrossSubnet' })], { learnedRoutes }));
    const byCidr = new Map(state.routes.map((r) => [r.cidr, r]));
    expect(byCidr.get('192.168.2.0/26')?.nextHop).toBe('10.0.1.2');
    expect(byCidr.has('192.168.2.0/27')).toBe(false);
    expect(byCidr.get('192.168.7.0/26')).toMatchObject({ kind: RouteKind.RemoteBlock, encap: Encap.Ipip, nextHop: '10.0.2.3' });
    expect(byCidr.get('192.168.8.0/26')).toMatchObject({ kind: RouteKind.RemoteBlock, encap: Encap.None, nextHop: '10.0.1.200', flags: RouteFlags.InPool | RouteFlags.NoClusterNode });
    expect(byCidr.has('172.16.0.0/24')).toBe(false);
    expect(state.routeDecisions.find((d) => d.cidr === '192.168.7.0/26')?.reason).toMatch(/^learned over BGP from 10\.0\.2\.3; CrossSubnet/);
  });

  it('a learned plain route whose next hop is off our subnet goes through the host FIB', () => {
    const state = compile(input([pool('p', '192.168.0.0/16')], { learnedRoutes: [{ cidr: '192.168.9.0/26', nextHop: '10.7.0.1' }] }));
    expect(state.routes.find((r) => r.cidr === '192.168.9.0/26')?.flags).toBe(RouteFlags.InPool | RouteFlags.ViaFib | RouteFlags.NoClusterNode);
  });
});
