// SPDX-License-Identifier: Apache-2.0
// The pod-to-pod paths the bench compares, all across the same two-node underlay: node1 and node2 of a
// test/lab/cluster.ts cluster (one subnet, one bridge in the router namespace, veths with default offloads).
//  - plain and kernel-vxlan share one cluster without agents; their pods are wired by hand exactly as the CNI
//    plugin wires a workload (veth, /32, link-local gateway, proxy_arp), so only the node's forwarding differs.
//  - each bpf-overlay path is its own cluster with one IPPool and real agents (tc or --xdp decap), pods added
//    through the real CNI plugin. Once pod-to-pod traffic flows both ways the agents are stopped: the pinned
//    data path keeps forwarding (that is its design) and idle agents do not steal CPU from the measurement.
import { ippool, Cluster, type ClusterNode, type Workload } from '../../test/lab/cluster.js';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import { encodeNextHopKey, MAP_NAMES } from '../../src/control/maps/layout.js';
import { cli } from '../../test/harness/agent.js';
import type { Netns } from '../../test/harness/netns.js';
import { DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI } from '../../src/control/model/parse.js';

export interface PodEnd {
  ns: Netns;
  address: string;
  mtu: number;
}

export interface BenchPath {
  name: string;
  description: string;
  client: PodEnd;
  server: PodEnd;
  /** Data-path counters of both nodes after the warm-up (bpf paths): evidence the path is the named one. */
  counters?: unknown;
}

export const PATH_NAMES = ['plain', 'plain-mtu1450', 'kernel-vxlan', 'bpf-vxlan', 'bpf-ipip', 'bpf-vxlan-xdp', 'bpf-ipip-xdp', 'bpf-crosssubnet-local'] as const;
export type PathName = (typeof PATH_NAMES)[number];

const GATEWAY = '169.254.1.1';
const VNI = DEFAULT_VXLAN_VNI;
const VXLAN_PORT = DEFAULT_VXLAN_PORT;
const VXLAN_MTU = 1450;

/** A pod namespace attached to `node` the way the CNI plugin attaches one (see src/control/cni/netlink.ts). */
function manualPod(cluster: Cluster, node: Netns, name: string, address: string, mtu: number): PodEnd {
  const pod = cluster.topo.addNamespace(name);
  const hostIf = `h${name}`;
  cluster.topo.veth(pod, 'eth0', node, hostIf, { mtu });
  node.exec('sysctl', ['-q', '-w', `net.ipv4.conf.${hostIf}.proxy_arp=1`, `net.ipv4.neigh.${hostIf}.proxy_delay=0`, `net.ipv4.conf.${hostIf}.forwarding=1`]);
  node.ip('route', 'replace', `${address}/32`, 'dev', hostIf, 'scope', 'link');
  const hostMac = node.mac(hostIf);
  pod.ip('addr', 'add', `${address}/32`, 'dev', 'eth0');
  pod.ip('route', 'add', GATEWAY, 'dev', 'eth0', 'scope', 'link');
  pod.ip('route', 'add', 'default', 'via', GATEWAY, 'dev', 'eth0');
  pod.ip('neigh', 'replace', GATEWAY, 'lladdr', hostMac, 'dev', 'eth0', 'nud', 'permanent');
  return { ns: pod, address, mtu };
}

async function pingUntil(cluster: Cluster, from: Netns, to: string, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = cluster.ping(from, to, { count: 2, intervalS: 0.2, deadlineS: 3 });
    if (r.ok) return;
    last = r.output;
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`${what}: ${to} not reachable within ${timeoutMs} ms: ${last}`);
}

/** plain and kernel-vxlan (Calico's vxlan.calico configuration) on one agent-less cluster. */
export async function kernelPaths(octet: number): Promise<{ cluster: Cluster; paths: BenchPath[] }> {
  const cluster = await Cluster.create({ tag: 'bbk', underlayOctet: octet, agents: false, resources: [] });
  try {
    const [n1, n2] = cluster.nodes;
    for (const n of [n1, n2]) n.ns.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);

    // plain: each node routes the peer's pod /26 via the peer node directly.
    const plainA = manualPod(cluster, n1.ns, 'pa', '10.61.1.10', 1500);
    const plainB = manualPod(cluster, n2.ns, 'pb', '10.61.2.10', 1500);
    n1.ns.ip('route', 'replace', '10.61.2.0/26', 'via', n2.address, 'dev', 'eth0');
    n2.ns.ip('route', 'replace', '10.61.1.0/26', 'via', n1.address, 'dev', 'eth0');
    // The same routing with the VXLAN pod MTU: separates what the smaller MSS costs (more segments per GB, the
    // TCP stack's per-segment work) from what the encapsulation costs. plain itself keeps Calico's 1500.
    const plainSmallA = manualPod(cluster, n1.ns, 'qa', '10.61.1.20', VXLAN_MTU);
    const plainSmallB = manualPod(cluster, n2.ns, 'qb', '10.61.2.20', VXLAN_MTU);

    // kernel-vxlan: vxlan.calico as Felix programs it (tunnel address = first address of the node's block).
    const vtep = [
      { node: n1, peer: n2, mac: '66:62:01:00:00:01', tunnel: '10.62.1.0', block: '10.62.1.0/26' },
      { node: n2, peer: n1, mac: '66:62:02:00:00:01', tunnel: '10.62.2.0', block: '10.62.2.0/26' },
    ];
    for (const v of vtep) {
      const ns = v.node.ns;
      ns.ip('link', 'add', 'vxlan.calico', 'address', v.mac, 'type', 'vxlan', 'id', String(VNI), 'dstport', String(VXLAN_PORT), 'local', v.node.address, 'dev', v.node.uplink, 'nolearning');
      ns.ip('link', 'set', 'vxlan.calico', 'mtu', String(VXLAN_MTU), 'up');
      ns.ip('addr', 'add', `${v.tunnel}/32`, 'dev', 'vxlan.calico');
    }
    for (const v of vtep) {
      const peer = vtep.find((p) => p.node === v.peer)!;
      const ns = v.node.ns;
      ns.exec('bridge', ['fdb', 'append', peer.mac, 'dev', 'vxlan.calico', 'dst', v.peer.address]);
      ns.ip('neigh', 'replace', peer.tunnel, 'lladdr', peer.mac, 'dev', 'vxlan.calico', 'nud', 'permanent');
      ns.ip('route', 'replace', peer.block, 'via', peer.tunnel, 'dev', 'vxlan.calico', 'onlink');
    }
    const kvxA = manualPod(cluster, n1.ns, 'ka', '10.62.1.10', VXLAN_MTU);
    const kvxB = manualPod(cluster, n2.ns, 'kb', '10.62.2.10', VXLAN_MTU);

    await pingUntil(cluster, plainA.ns, plainB.address, 'plain');
    await pingUntil(cluster, plainB.ns, plainA.address, 'plain');
    await pingUntil(cluster, plainSmallA.ns, plainSmallB.address, 'plain-mtu1450');
    await pingUntil(cluster, kvxA.ns, kvxB.address, 'kernel-vxlan');
    await pingUntil(cluster, kvxB.ns, kvxA.address, 'kernel-vxlan');
    return {
      cluster,
      paths: [
        { name: 'plain', description: 'routed, no encapsulation: node routes the peer pod /26 via the peer node', client: plainA, server: plainB },
        { name: 'plain-mtu1450', description: `plain with the pods at MTU ${VXLAN_MTU} (bpf-vxlan's): the MTU's share of a difference`, client: plainSmallA, server: plainSmallB },
        { name: 'kernel-vxlan', description: `Linux vxlan.calico (VNI ${VNI}, ${VXLAN_PORT}, nolearning, static FDB+neigh, onlink routes), MTU ${VXLAN_MTU}`, client: kvxA, server: kvxB },
      ],
    };
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
}

/** Waits until `on`'s agent holds a next_hop_map entry for the node at `addr` (the pings made the neighbour). */
async function waitForNextHop(cluster: Cluster, on: ClusterNode, addr: string, ms = 10_000): Promise<void> {
  const map = openPinnedMap(cluster.pins(on).map(MAP_NAMES.nextHops));
  try {
    for (const start = Date.now(); !map.lookup(encodeNextHopKey(addr)); ) {
      if (Date.now() - start > ms) throw new Error(`${on.name}: no next_hop_map entry for ${addr} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    map.close();
  }
}

const mtuOf = (w: Workload): number => Number(JSON.parse(w.ns.ip('-j', 'link', 'show', 'dev', w.ifname))[0].mtu);

export interface BpfPoolPath {
  name: PathName;
  pool: string;
  cidr: string;
  mode: { vxlanMode?: 'Always' | 'CrossSubnet'; ipipMode?: 'Always' | 'CrossSubnet' };
  /** Pod MTU as Calico derives it for a cluster with only this pool (given to CNI, which would otherwise use the
   * largest overhead of all pools on the node). */
  mtu: number;
  description: string;
}

/**
 * bpf-overlay paths sharing one cluster: one IPPool per path, agents with tc or XDP decap, a pod pair per pool
 * through the real CNI plugin (config ipPool picks the pool).
 */
export async function bpfPaths(tag: string, octet: number, xdp: boolean, pools: BpfPoolPath[]): Promise<{ cluster: Cluster; paths: BenchPath[] }> {
  const cluster = await Cluster.create({
    tag,
    underlayOctet: octet,
    xdp,
    resources: pools.map((p) => ippool(p.pool, p.cidr, p.mode)),
  });
  try {
    const pairs = pools.map((p) => ({ p, a: cluster.addWorkload(0, { pool: p.pool, mtu: p.mtu }), b: cluster.addWorkload(1, { pool: p.pool, mtu: p.mtu }) }));
    for (const { p, a, b } of pairs) {
      await pingUntil(cluster, a.ns, b.address, p.name);
      await pingUntil(cluster, b.ns, a.address, p.name);
    }
    // The agents keep running, as deployed: they keep next_hop_map filled from the uplinks' neighbour tables, so
    // encapsulated packets leave with a pre-resolved MAC (an agent that stops empties that map, and the data path
    // then falls back to the kernel's route and neighbour lookup on every packet).
    const [n1, n2] = cluster.nodes;
    await waitForNextHop(cluster, n1, n2.address);
    await waitForNextHop(cluster, n2, n1.address);
    const counters = Object.fromEntries(
      cluster.nodes.slice(0, 2).map((n) => [n.name, JSON.parse(cli(['counters', '--node', n.name, '--bpffs', cluster.bpffs, '--json'], { ns: n.ns }))]),
    );
    return {
      cluster,
      paths: pairs.map(({ p, a, b }) => ({
        name: p.name,
        description: p.description,
        client: { ns: a.ns, address: a.address, mtu: mtuOf(a) },
        server: { ns: b.ns, address: b.address, mtu: mtuOf(b) },
        counters,
      })),
    };
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
}

const VXLAN_ALWAYS = { vxlanMode: 'Always' } as const;
const IPIP_ALWAYS = { ipipMode: 'Always' } as const;

/** Clusters to build: kernel paths share one, tc-decap bpf paths one, XDP-decap bpf paths one. */
export const PATH_SETUPS: { names: PathName[]; build(octet: number): Promise<{ cluster: Cluster; paths: BenchPath[] }> }[] = [
  { names: ['plain', 'plain-mtu1450', 'kernel-vxlan'], build: (o) => kernelPaths(o) },
  {
    names: ['bpf-vxlan', 'bpf-ipip', 'bpf-crosssubnet-local'],
    build: (o) =>
      bpfPaths('bbt', o, false, [
        { name: 'bpf-vxlan', pool: 'vxlan-always', cidr: '10.244.0.0/16', mode: VXLAN_ALWAYS, mtu: 1450, description: 'bpf-overlay, VXLAN Always pool, tc decap' },
        { name: 'bpf-ipip', pool: 'ipip-always', cidr: '10.245.0.0/16', mode: IPIP_ALWAYS, mtu: 1480, description: 'bpf-overlay, IPIP Always pool, tc decap' },
        {
          name: 'bpf-crosssubnet-local',
          pool: 'vxlan-crosssubnet',
          cidr: '10.246.0.0/16',
          mode: { vxlanMode: 'CrossSubnet' },
          mtu: 1450,
          description: 'bpf-overlay, VXLAN CrossSubnet pool, both nodes in one subnet (no encapsulation)',
        },
      ]),
  },
  {
    names: ['bpf-vxlan-xdp', 'bpf-ipip-xdp'],
    build: (o) =>
      bpfPaths('bbx', o, true, [
        { name: 'bpf-vxlan-xdp', pool: 'vxlan-always', cidr: '10.244.0.0/16', mode: VXLAN_ALWAYS, mtu: 1450, description: 'bpf-overlay, VXLAN Always pool, XDP decap (agent --xdp)' },
        { name: 'bpf-ipip-xdp', pool: 'ipip-always', cidr: '10.245.0.0/16', mode: IPIP_ALWAYS, mtu: 1480, description: 'bpf-overlay, IPIP Always pool, XDP decap (agent --xdp)' },
      ]),
  },
];
