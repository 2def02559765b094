// SPDX-License-Identifier: Apache-2.0
// The per-mode cases (same node, same subnet, across subnets, host -> pod, bulk TCP), shared by the SQLite mode
// matrix and the etcd variant. Each case captures on the node1 underlay (and, for the unroutable case, on the
// router), asserts on the dissected packets and logs one line of what the capture saw.
import { beforeAll, describe, expect, it } from 'vitest';
import type { IPPoolSpec } from '../../src/control/model/types.js';
import { between, describePackets, expectEncap, touching, waitInSync, type CaseLog } from './checks.js';
import { ippool, type Cluster, type Workload } from '../lab/cluster.js';

export const POOL_NAME = 'e2e-pool';
export const POOL_CIDR = '10.244.0.0/16';

export interface PoolMode {
  name: string;
  spec: Partial<IPPoolSpec>;
  /** What pod traffic between node1 and node2 (subnet A) looks like on the underlay. */
  sameSubnet: 'plain' | 'ipip' | 'vxlan';
  /** Between node1 (subnet A) and node3 (subnet B, behind the router); unroutable: the router has no pool route. */
  crossSubnet: 'ipip' | 'vxlan' | 'unroutable';
  /** Bytes of the checksummed node1 -> node3 transfer (100 MB once per encapsulation, small elsewhere). */
  bulkBytes: number;
}

const MB = 1024 * 1024;

export const MODES: PoolMode[] = [
  { name: 'IPIP Always', spec: { ipipMode: 'Always' }, sameSubnet: 'ipip', crossSubnet: 'ipip', bulkBytes: 100 * MB },
  { name: 'IPIP CrossSubnet', spec: { ipipMode: 'CrossSubnet' }, sameSubnet: 'plain', crossSubnet: 'ipip', bulkBytes: 4 * MB },
  { name: 'VXLAN Always', spec: { vxlanMode: 'Always' }, sameSubnet: 'vxlan', crossSubnet: 'vxlan', bulkBytes: 100 * MB },
  { name: 'VXLAN CrossSubnet', spec: { vxlanMode: 'CrossSubnet' }, sameSubnet: 'plain', crossSubnet: 'vxlan', bulkBytes: 4 * MB },
  { name: 'Never', spec: {}, sameSubnet: 'plain', crossSubnet: 'unroutable', bulkBytes: 0 },
];

function verdict(encap: 'plain' | 'ipip' | 'vxlan'): string {
  return encap === 'plain' ? 'plain' : 'encapsulated';
}

/**
 * Registers the cases of one mode. `getCluster` is called when the cases run (the cluster is made in the
 * caller's beforeAll). Applying the pool and waiting until every agent's maps match is part of the setup;
 * fresh workloads are added per mode so their MTU is the one a new deployment in that mode gets.
 */
export function describeMode(mode: PoolMode, getCluster: () => Cluster, log: CaseLog): void {
  describe(mode.name, () => {
    let cluster: Cluster;
    let a: Workload;
    let b: Workload;
    let w2: Workload;
    let w3: Workload;
    let n1Addr: string;

    beforeAll(async () => {
      cluster = getCluster();
      cluster.apply([ippool(POOL_NAME, POOL_CIDR, mode.spec)]);
      const syncMs = await waitInSync(cluster);
      a = cluster.addWorkload(0);
      b = cluster.addWorkload(0);
      w2 = cluster.addWorkload(1);
      w3 = cluster.addWorkload(2);
      n1Addr = cluster.nodes[0].address;
      log.add(`${mode.name}: pool applied, status reports every agent in sync within ${syncMs} ms (polled); workloads n1 ${a.address} ${b.address}, n2 ${w2.address}, n3 ${w3.address}`);
    }, 120_000);

    it(`${mode.name}: pod <-> pod on the same node never reaches the underlay`, async () => {
      const n1 = cluster.nodes[0];
      const cap = await cluster.capture(n1.ns, n1.uplink);
      const there = cluster.ping(a, b.address);
      const back = cluster.ping(b, a.address);
      const tcp = await cluster.tcpTransfer(a, b, { bytes: 2 * MB });
      const s = await cap.stop();
      expect(there.ok, there.output).toBe(true);
      expect(back.ok, back.output).toBe(true);
      expect(tcp.ok, tcp.error).toBe(true);
      const seen = touching(s, [a.address, b.address]);
      expect(seen.map((p) => `#${p.frame} ${p.innerSrc}->${p.innerDst}`)).toEqual([]);
      log.add(`${mode.name} node1 pod->pod: local, ping both ways + 2 MB TCP ok (capture on node1 uplink: ${s.frames} frames, 0 of these pods)`);
    });

    it(`${mode.name}: pod <-> pod node1 <-> node2 (same subnet) is ${mode.sameSubnet}`, async () => {
      const n1 = cluster.nodes[0];
      const cap = await cluster.capture(n1.ns, n1.uplink);
      const there = cluster.ping(a, w2.address);
      const back = cluster.ping(w2, a.address);
      const tcp = await cluster.tcpTransfer(a, w2, { bytes: 2 * MB });
      const s = await cap.stop();
      expect(there.ok, there.output).toBe(true);
      expect(back.ok, back.output).toBe(true);
      expect(tcp.ok, tcp.error).toBe(true);
      const flow = between(s, a.address, w2.address);
      expectEncap(flow, mode.sameSubnet, [n1Addr, cluster.nodes[1].address]);
      expect(s.checksumErrors).toBe(0);
      log.add(`${mode.name} node1<->node2: ${verdict(mode.sameSubnet)} (capture: ${describePackets(flow)})`);
    });

    it(`${mode.name}: pod <-> pod node1 <-> node3 (across subnets) is ${mode.crossSubnet}`, async () => {
      const [n1, , n3] = cluster.nodes;
      const cap = await cluster.capture(n1.ns, n1.uplink);
      const atRouter = await cluster.capture(cluster.router, 'n3');
      const there = cluster.ping(a, w3.address, { count: mode.crossSubnet === 'unroutable' ? 2 : 3 });
      const back = cluster.ping(w3, a.address, { count: mode.crossSubnet === 'unroutable' ? 2 : 3 });
      const s = await cap.stop();
      const r = await atRouter.stop();
      const flow = between(s, a.address, w3.address);
      if (mode.crossSubnet === 'unroutable') {
        // The reason for the encapsulating modes: the router has no route to the pool.
        expect(there.ok).toBe(false);
        expect(there.received).toBe(0);
        expect(back.received).toBe(0);
        // Toward node3 nothing arrives. (node3's replies do reach the router: off its subnet, a plain hop follows
        // the host FIB to the router, which drops them for want of a pool route; BGP is what gives it one.)
        const delivered = between(r, a.address, w3.address).filter((p) => p.innerDst === w3.address);
        expect(delivered.map((p) => `#${p.frame} ${p.innerSrc}->${p.innerDst}`)).toEqual([]);
        const arps = s.packets.filter((p) => p.arpTarget === n3.address).length;
        log.add(
          `${mode.name} node1<->node3: unroutable, ping lost ${there.transmitted}/${there.transmitted} and ${back.transmitted}/${back.transmitted} ` +
            `(node1 uplink: ${describePackets(flow)}, ${arps} ARP who-has ${n3.address}; router->node3 link: 0 packets of the pods)`,
        );
        return;
      }
      expect(there.ok, there.output).toBe(true);
      expect(back.ok, back.output).toBe(true);
      expectEncap(flow, mode.crossSubnet, [n1Addr, n3.address]);
      expectEncap(between(r, a.address, w3.address), mode.crossSubnet, [n1Addr, n3.address]);
      expect(s.checksumErrors).toBe(0);
      log.add(`${mode.name} node1<->node3: encapsulated (capture: ${describePackets(flow)}; at the router: ${describePackets(between(r, a.address, w3.address))})`);
    });

    it(`${mode.name}: host -> pod on another node`, async () => {
      const [n1] = cluster.nodes;
      const cap = await cluster.capture(n1.ns, n1.uplink);
      const toN2 = cluster.ping(n1.ns, w2.address);
      const toN3 = cluster.ping(n1.ns, w3.address, { count: mode.crossSubnet === 'unroutable' ? 2 : 3 });
      const s = await cap.stop();
      expect(toN2.ok, toN2.output).toBe(true);
      const p2 = s.packets.filter((p) => p.innerDst === w2.address || p.innerSrc === w2.address);
      expectEncap(p2, mode.sameSubnet, [n1Addr, cluster.nodes[1].address]);
      const hostSources = [...new Set(p2.filter((p) => p.innerDst === w2.address).map((p) => p.innerSrc))];
      let line = `${mode.name} host node1->pod node2: ${verdict(mode.sameSubnet)}, source ${hostSources.join(',')} (capture: ${describePackets(p2)})`;
      const p3 = s.packets.filter((p) => p.innerDst === w3.address || p.innerSrc === w3.address);
      if (mode.crossSubnet === 'unroutable') {
        expect(toN3.received).toBe(0);
        line += `; host node1->pod node3: unroutable, ${toN3.transmitted} lost (capture: ${describePackets(p3)})`;
      } else {
        expect(toN3.ok, toN3.output).toBe(true);
        expectEncap(p3, mode.crossSubnet, [n1Addr, cluster.nodes[2].address]);
        line += `; host node1->pod node3: encapsulated (capture: ${describePackets(p3)})`;
      }
      log.add(line);
    });

    if (mode.bulkBytes > 0) {
      it(`${mode.name}: checksummed ${mode.bulkBytes / MB} MB TCP transfer pod node1 -> pod node3`, async () => {
        const n1 = cluster.nodes[0];
        // Headers of the first packets are enough to prove the path; a full capture of 100 MB only costs time.
        const cap = await cluster.capture(n1.ns, n1.uplink, { snaplen: 200, maxPackets: 3000 });
        const t = await cluster.tcpTransfer(a, w3, { bytes: mode.bulkBytes, timeoutMs: 120_000 });
        const s = await cap.stop();
        expect(t.error).toBeUndefined();
        expect(t.receivedBytes).toBe(mode.bulkBytes);
        expect(t.receivedSha256).toBe(t.sentSha256);
        const flow = between(s, a.address, w3.address);
        expectEncap(flow, mode.crossSubnet as 'ipip' | 'vxlan', [n1Addr, cluster.nodes[2].address]);
        const mbps = ((mode.bulkBytes * 8) / (t.ms / 1000) / 1e6).toFixed(0);
        log.add(
          `${mode.name} node1->node3 TCP ${mode.bulkBytes / MB} MB: sha256 match, ${t.ms} ms (${mbps} Mbit/s) ` +
            `(capture of the first ${s.frames} frames: ${describePackets(flow)})`,
        );
      }, 180_000);
    }
  });
}
