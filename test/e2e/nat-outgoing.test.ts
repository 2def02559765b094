// SPDX-License-Identifier: Apache-2.0
// natOutgoing on real packets, captured at the ext host (outside every pool) and on the node1 underlay:
// `true` makes ext see the node's address and the reply return; `false` makes ext see the pod's address, and the
// reply cannot return because the router has no route to the pool. Traffic between pods is never NATed.
// Pool: VXLAN CrossSubnet (the README's pool), so pod traffic between pods is plain within subnet A and VXLAN
// across the router.
import { expect, it } from 'vitest';
import { kernelDescribe } from '../harness/privileges.js';
import { between, clusterPerFile, describePackets, expectEncap, waitNat } from './checks.js';
import { ippool, type Cluster, type Workload } from '../lab/cluster.js';

const POOL = (natOutgoing: boolean) => ippool('nat-pool', '10.244.0.0/16', { vxlanMode: 'CrossSubnet', natOutgoing });

kernelDescribe('natOutgoing (VXLAN CrossSubnet pool)', () => {
  let cluster: Cluster;
  let w1: Workload;
  let w2: Workload;
  let w3: Workload;

  const log = clusterPerFile('nat-outgoing.test.ts', { tag: 'bon', underlayOctet: 103, resources: [POOL(true)] }, async (c) => {
    cluster = c;
    await waitNat(cluster, true);
    w1 = cluster.addWorkload(0);
    w2 = cluster.addWorkload(1);
    w3 = cluster.addWorkload(2);
  });

  it('natOutgoing: true: ext sees the node address and the reply returns (ping + TCP), from both subnets', async () => {
    const cap = await cluster.capture(cluster.ext, 'eth0');
    const p1 = cluster.ping(w1, cluster.extAddress);
    const t1 = await cluster.tcpTransfer(w1, cluster.ext, { bytes: 1024 * 1024, toAddress: cluster.extAddress });
    const p3 = cluster.ping(w3, cluster.extAddress);
    const s = await cap.stop();
    expect(p1.ok, p1.output).toBe(true);
    expect(p3.ok, p3.output).toBe(true);
    expect(t1.ok, t1.error).toBe(true);
    const sources = new Set(s.packets.filter((p) => p.dst === cluster.extAddress && p.protos.length > 0).map((p) => p.src));
    expect([...sources].sort()).toEqual([cluster.nodes[0].address, cluster.nodes[2].address].sort());
    const fromPods = s.packets.filter((p) => p.src?.startsWith('10.244.') || p.dst?.startsWith('10.244.'));
    expect(fromPods).toEqual([]);
    const tcpFromN1 = s.packets.filter((p) => p.src === cluster.nodes[0].address && p.tcpDstPort === 15001).length;
    log.add(
      `natOutgoing true, pod ${w1.address} (node1) and ${w3.address} (node3) -> ext: ext saw sources ${[...sources].join(', ')} ` +
        `(${s.frames} frames, ${tcpFromN1} TCP segments from node1, 0 with a pool address); replies returned: ping ${p1.received}/${p1.transmitted}, ${p3.received}/${p3.transmitted}, 1 MB TCP sha256 match`,
    );
  });

  it('traffic between pods is never NATed (plain within subnet A, VXLAN across the router)', async () => {
    const n1 = cluster.nodes[0];
    const cap = await cluster.capture(n1.ns, n1.uplink);
    const to2 = cluster.ping(w1, w2.address);
    const to3 = cluster.ping(w1, w3.address);
    const s = await cap.stop();
    expect(to2.ok, to2.output).toBe(true);
    expect(to3.ok, to3.output).toBe(true);
    // between() matches on the innermost addresses: a NATed packet would carry the node's address instead.
    const plain = between(s, w1.address, w2.address);
    const vxlan = between(s, w1.address, w3.address);
    expectEncap(plain, 'plain', [n1.address, cluster.nodes[1].address]);
    expectEncap(vxlan, 'vxlan', [n1.address, cluster.nodes[2].address]);
    expect(plain.filter((p) => p.innerDst === w2.address).length).toBe(3);
    expect(vxlan.filter((p) => p.innerDst === w3.address).length).toBe(3);
    log.add(
      `natOutgoing true, pod->pod: pod sources kept (node1 uplink: to node2 ${describePackets(plain)}; to node3 ${describePackets(vxlan)})`,
    );
  });

  it('natOutgoing: false: ext sees the pod address and the reply cannot return (router has no pool route)', async () => {
    cluster.apply([POOL(false)]);
    const ms = await waitNat(cluster, false);
    const n1 = cluster.nodes[0];
    const cap = await cluster.capture(cluster.ext, 'eth0');
    const back = await cluster.capture(n1.ns, n1.uplink);
    const p = cluster.ping(w1, cluster.extAddress, { count: 3, deadlineS: 4 });
    const s = await cap.stop();
    const b = await back.stop();
    expect(p.received).toBe(0);
    const requests = s.packets.filter((x) => x.src === w1.address && x.dst === cluster.extAddress);
    const replies = s.packets.filter((x) => x.src === cluster.extAddress && x.dst === w1.address);
    expect(requests.length).toBeGreaterThan(0);
    expect(replies.length).toBeGreaterThan(0);
    expect(s.packets.filter((x) => x.src === n1.address)).toEqual([]);
    const returned = b.packets.filter((x) => x.innerDst === w1.address);
    expect(returned).toEqual([]);
    log.add(
      `natOutgoing false (applied on every node within ${ms} ms), pod ${w1.address} -> ext: ping ${p.received}/${p.transmitted}; ` +
        `ext saw ${requests.length} requests from the pod address and sent ${replies.length} replies to it, 0 from the node address; ` +
        `node1 uplink saw 0 replies (the router cannot route ${w1.address})`,
    );
  });
});
