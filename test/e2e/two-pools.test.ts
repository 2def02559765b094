// SPDX-License-Identifier: Apache-2.0
// Two pools at once, one IP-in-IP and one VXLAN (both Always); the CNI config's ipPool picks the pool per
// workload. Each workload's traffic between nodes is encapsulated by the rule of the pool its destination
// belongs to (Calico programs one route per remote block, with that block's pool's encapsulation), which the
// capture on the node1 underlay proves per direction.
import { expect, it } from 'vitest';
import { kernelDescribe } from '../harness/privileges.js';
import { between, clusterPerFile, describePackets, expectEncap } from './checks.js';
import { ippool, type Cluster, type Workload } from '../lab/cluster.js';

const IPIP_POOL = ippool('ipip-pool', '10.245.0.0/16', { ipipMode: 'Always' });
const VXLAN_POOL = ippool('vxlan-pool', '10.246.0.0/16', { vxlanMode: 'Always' });

kernelDescribe('two pools at once: IPIP Always and VXLAN Always', () => {
  let cluster: Cluster;
  let i1: Workload;
  let i3: Workload;
  let v1: Workload;
  let v3: Workload;

  const log = clusterPerFile('two-pools.test.ts', { tag: 'bop', underlayOctet: 104, disableChecksumOffload: true, resources: [IPIP_POOL, VXLAN_POOL] }, (c) => {
    cluster = c;
    i1 = cluster.addWorkload(0, { pool: 'ipip-pool' });
    i3 = cluster.addWorkload(2, { pool: 'ipip-pool' });
    v1 = cluster.addWorkload(0, { pool: 'vxlan-pool' });
    v3 = cluster.addWorkload(2, { pool: 'vxlan-pool' });
  });

  it('the CNI ipPool picks each workload pool; the MTU fits the larger (VXLAN) overhead', () => {
    expect(i1.address).toMatch(/^10\.245\./);
    expect(i3.address).toMatch(/^10\.245\./);
    expect(v1.address).toMatch(/^10\.246\./);
    expect(v3.address).toMatch(/^10\.246\./);
    const mtu = (w: Workload) => JSON.parse(w.ns.ip('-j', 'link', 'show', 'dev', w.ifname))[0].mtu as number;
    // One MTU per node, for the largest overhead in use (as Calico's auto-MTU): an ipip-pool pod also talks
    // to vxlan-pool pods, through VXLAN.
    expect(mtu(i1)).toBe(1450);
    expect(mtu(v1)).toBe(1450);
    const nodes = cluster.get('nodes') as { metadata: { name: string }; spec: { ipv4VXLANTunnelAddr?: string; bgp?: { ipv4IPIPTunnelAddr?: string } } }[];
    const n1 = nodes.find((n) => n.metadata.name === cluster.nodes[0].name)!;
    log.add(
      `two pools: ipip-pool workloads ${i1.address} (node1), ${i3.address} (node3), MTU ${mtu(i1)}; vxlan-pool ${v1.address}, ${v3.address}, MTU ${mtu(v1)}; ` +
        `node1 tunnel addresses IPIP ${n1.spec.bgp?.ipv4IPIPTunnelAddr}, VXLAN ${n1.spec.ipv4VXLANTunnelAddr}`,
    );
  });

  it('each pool encapsulates its own workloads: IPIP for ipip-pool, VXLAN for vxlan-pool (node1 <-> node3), at once', async () => {
    const n1 = cluster.nodes[0];
    const n3 = cluster.nodes[2];
    const cap = await cluster.capture(n1.ns, n1.uplink);
    const [ti, tv] = await Promise.all([
      cluster.tcpTransfer(i1, i3, { bytes: 4 * 1024 * 1024, port: 15011 }),
      cluster.tcpTransfer(v1, v3, { bytes: 4 * 1024 * 1024, port: 15012 }),
    ]);
    const pi = cluster.ping(i3, i1.address);
    const pv = cluster.ping(v3, v1.address);
    const s = await cap.stop();
    expect(ti.ok, ti.error).toBe(true);
    expect(tv.ok, tv.error).toBe(true);
    expect(pi.ok, pi.output).toBe(true);
    expect(pv.ok, pv.output).toBe(true);
    const ipip = between(s, i1.address, i3.address);
    const vxlan = between(s, v1.address, v3.address);
    expectEncap(ipip, 'ipip', [n1.address, n3.address]);
    expectEncap(vxlan, 'vxlan', [n1.address, n3.address]);
    expect(s.checksumErrors).toBe(0);
    log.add(`two pools, ipip-pool node1<->node3: encapsulated (capture: ${describePackets(ipip)})`);
    log.add(`two pools, vxlan-pool node1<->node3: encapsulated (capture: ${describePackets(vxlan)})`);
  });

  it('across pools the destination block decides: to vxlan-pool is VXLAN, to ipip-pool is IPIP', async () => {
    const n1 = cluster.nodes[0];
    const cap = await cluster.capture(n1.ns, n1.uplink);
    const p = cluster.ping(i1, v3.address);
    const q = cluster.ping(v1, i3.address);
    const s = await cap.stop();
    expect(p.ok, p.output).toBe(true);
    expect(q.ok, q.output).toBe(true);
    const toV3 = s.packets.filter((x) => x.innerSrc === i1.address && x.innerDst === v3.address);
    const toI1 = s.packets.filter((x) => x.innerSrc === v3.address && x.innerDst === i1.address);
    const toI3 = s.packets.filter((x) => x.innerSrc === v1.address && x.innerDst === i3.address);
    const toV1 = s.packets.filter((x) => x.innerSrc === i3.address && x.innerDst === v1.address);
    expectEncap(toV3, 'vxlan');
    expectEncap(toI1, 'ipip');
    expectEncap(toI3, 'ipip');
    expectEncap(toV1, 'vxlan');
    log.add(
      `two pools, ipip-pod node1 <-> vxlan-pod node3: requests ${describePackets(toV3)}; replies ${describePackets(toI1)}. ` +
        `vxlan-pod node1 <-> ipip-pod node3: requests ${describePackets(toI3)}; replies ${describePackets(toV1)}`,
    );
  });
  it('one container on two networks (eth0 ipip-pool, eth1 vxlan-pool at a requested address): each pool reaches its interface across nodes; DEL of eth0 leaves eth1 reachable', () => {
    const w = cluster.addWorkload(0, { pool: 'ipip-pool' });
    const netB = { name: 'bo-e2e-b', ipPool: 'vxlan-pool' };
    const eth1 = cluster.cni(w.node, 'ADD', { containerId: w.containerId, netns: w.ns.path, ifname: 'eth1', args: { IP: '10.246.9.9' }, config: netB });
    try {
      expect(eth1.code, eth1.stdout + eth1.stderr).toBe(0);
      expect(eth1.json?.ips).toEqual([expect.objectContaining({ address: '10.246.9.9/32' })]);
      expect(eth1.json?.routes).toEqual([{ dst: '10.246.0.0/16', gw: '169.254.1.1' }]);
      const routes = w.ns.ip('-4', 'route', 'show');
      expect(routes).toMatch(/^default via 169\.254\.1\.1 dev eth0/m);
      // Across the overlay with the agents' data path: ipip-pool to eth0, vxlan-pool to eth1 (node3 -> node1).
      const toEth0 = cluster.ping(i3, w.address);
      const toEth1 = cluster.ping(v3, '10.246.9.9');
      // Across pools: the reply to a vxlan-pool peer leaves through eth0, the interface that owns its source.
      const crossed = cluster.ping(v3, w.address);
      expect(toEth0.ok, toEth0.output).toBe(true);
      expect(toEth1.ok, toEth1.output).toBe(true);
      expect(crossed.ok, crossed.output).toBe(true);
      const del = cluster.removeWorkload(w);
      expect(del.code, del.stdout).toBe(0);
      const after = cluster.ping(v3, '10.246.9.9');
      expect(after.ok, after.output).toBe(true);
      log.add(
        `two networks in one container on node1: eth0 ${w.address} (ipip-pool, default route), eth1 10.246.9.9 (vxlan-pool, requested, route ${routes.split('\n').find((l) => l.startsWith('10.246.'))}); ` +
          `node3 reached both (${toEth0.received}/${toEth0.transmitted}, ${toEth1.received}/${toEth1.transmitted}; eth0 from the vxlan-pool pod ${crossed.received}/${crossed.transmitted}); after DEL of eth0, eth1 still reached (${after.received}/${after.transmitted})`,
      );
    } finally {
      cluster.cni(w.node, 'DEL', { containerId: w.containerId, netns: w.ns.path, ifname: 'eth1', config: netB });
    }
  });
});
