// SPDX-License-Identifier: Apache-2.0
// The namespace cluster itself: the underlay topology routes what it should and nothing more, the agents come
// up, and workloads added through the CNI plugin get addresses from the node's block.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ETCD_BINARY } from '../harness/etcd.js';
import { kernelDescribe } from '../harness/privileges.js';
import { Cluster, routeGet, type Workload } from '../lab/cluster.js';

kernelDescribe('namespace cluster harness', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await Cluster.create({ tag: 'bos' });
  }, 180_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 120_000);

  it('node1 and node2 share subnet A without the router routing', () => {
    const [n1, n2] = cluster.nodes;
    const r = cluster.ping(n1.ns, n2.address);
    expect(r.ok, r.output).toBe(true);
    const path = routeGet(n1.ns, n2.address).output;
    expect(path).toContain('dev eth0');
    expect(path).not.toContain('via');
  });

  it('node1 reaches node3 on subnet B through the router', () => {
    const [n1, , n3] = cluster.nodes;
    expect(cluster.ping(n1.ns, n3.address).ok).toBe(true);
    expect(cluster.ping(n3.ns, n1.address).ok).toBe(true);
    expect(routeGet(n1.ns, n3.address).output).toContain(`via ${cluster.routerAddress('A')}`);
  });

  it('ext is reachable from every node', () => {
    for (const n of cluster.nodes) {
      const r = cluster.ping(n.ns, cluster.extAddress);
      expect(r.ok, `${n.name}: ${r.output}`).toBe(true);
    }
  });

  it('the router cannot route a pool address', () => {
    const r = routeGet(cluster.router, '10.244.0.5');
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/unreachable/i);
    expect(cluster.ping(cluster.router, '10.244.0.5', { count: 1, deadlineS: 2 }).ok).toBe(false);
  });

  it('every agent is ready and registered its Node with its underlay address', () => {
    const nodes = cluster.get('nodes') as { metadata: { name: string }; spec: { bgp?: { ipv4Address?: string } } }[];
    for (const n of cluster.nodes) {
      expect(n.agent?.child.exitCode).toBeNull();
      expect(nodes.find((r) => r.metadata.name === n.name)?.spec.bgp?.ipv4Address).toBe(n.cidr);
      expect(existsSync(cluster.pins(n).program('from_workload'))).toBe(true);
    }
  });

  let workloads: Workload[];

  it('workloads get pool addresses through the CNI plugin and are recorded', () => {
    workloads = [cluster.addWorkload(0), cluster.addWorkload(1), cluster.addWorkload(2)];
    for (const w of workloads) expect(w.address).toMatch(/^10\.244\.\d+\.\d+$/);
    expect(new Set(workloads.map((w) => w.address)).size).toBe(3);
    const weps = cluster.get('workloadendpoints') as { spec: { containerID: string; node: string } }[];
    for (const w of workloads) {
      expect(weps.find((e) => e.spec.containerID === w.containerId)?.spec.node).toBe(w.node.name);
    }
  });

  it('a workload reaches its own node, and the capture tools see the traffic', async () => {
    const [w1] = workloads;
    const cap = await cluster.capture(w1.node.ns, w1.node.uplink);
    const local = cluster.ping(w1, w1.node.address);
    const summary = await cap.stop();
    expect(local.ok, local.output).toBe(true);
    // Host-local traffic never touches the underlay: whatever the uplink saw was not this ping's payload.
    expect(summary.packets.filter((p) => p.innerSrc === w1.address)).toEqual([]);
  });

  it('a checksummed TCP transfer runs between a workload and its node', async () => {
    const [w1] = workloads;
    const t = await cluster.tcpTransfer(w1.node.ns, w1, { bytes: 2 * 1024 * 1024 });
    expect(t.error).toBeUndefined();
    expect(t.ok).toBe(true);
    expect(t.receivedSha256).toBe(t.sentSha256);
  });

  it('workloads on different nodes reach each other across the overlay (VXLAN on the underlay)', async () => {
    const [w1, w2, w3] = workloads;
    const cap = await cluster.capture(w1.node.ns, w1.node.uplink);
    const same = cluster.ping(w1, w2.address, { count: 3 });
    const cross = cluster.ping(w1, w3.address, { count: 3 });
    const summary = await cap.stop();
    expect(same.ok, same.output).toBe(true);
    expect(cross.ok, cross.output).toBe(true);
    expect(summary.counts.vxlan).toBeGreaterThan(0);
    expect(summary.vnis).toEqual([4096]);
    expect(summary.malformed).toBe(0);
    expect(summary.packets.filter((p) => p.encap === 'plain' && (p.dst === w2.address || p.dst === w3.address))).toEqual([]);
  });

  it('a checksummed TCP transfer crosses the router between workloads', async () => {
    const [w1, , w3] = workloads;
    const t = await cluster.tcpTransfer(w1, w3, { bytes: 8 * 1024 * 1024 });
    expect(t.error).toBeUndefined();
    expect(t.receivedBytes).toBe(8 * 1024 * 1024);
    expect(t.receivedSha256).toBe(t.sentSha256);
  });
});

kernelDescribe('namespace cluster harness with etcd served from the router', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    if (!existsSync(ETCD_BINARY)) throw new Error(`${ETCD_BINARY} is missing: the etcd cluster variant needs it`);
    cluster = await Cluster.create({ tag: 'bet', datastore: 'etcd' });
  }, 180_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 120_000);

  it('agents and the CNI reach etcd over the underlay, and workloads talk across subnets', () => {
    expect(cluster.datastoreUrl).toBe(`etcd://${cluster.routerAddress('A')}:2379`);
    const w1 = cluster.addWorkload(0);
    const w3 = cluster.addWorkload(2);
    const r = cluster.ping(w1, w3.address);
    expect(r.ok, r.output).toBe(true);
    expect(cluster.get('nodes').map((n) => n.metadata.name).sort()).toEqual(cluster.nodes.map((n) => n.name).sort());
  });
});
