// SPDX-License-Identifier: Apache-2.0
// Pre-resolved next-hop MACs on real packets: node1's agent follows its uplink's neighbour table into next_hop_map
// (node2 on-link: node2's own MAC; node3 across the router: the router's), pods' encapsulated packets leave with
// that Ethernet header even where the kernel's route lookup would fail, a peer's MAC change reaches the map within
// a second of its gratuitous ARP and traffic goes on, and a FAILED or deleted neighbour removes the entry, after
// which the kernel's own path (bpf_redirect_neigh) carries the traffic and resolves the neighbour again.
import { expect, it } from 'vitest';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import { decodeNextHopValue, encodeNextHopKey, MAP_NAMES, NextHopFlags } from '../../src/control/maps/layout.js';
import { kernelDescribe } from '../harness/privileges.js';
import { ippool, type Cluster, type ClusterNode, type Workload } from '../lab/cluster.js';
import { clusterPerFile } from './checks.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

kernelDescribe('pre-resolved next-hop MACs (next_hop_map) in a namespace cluster', () => {
  let cluster: Cluster;
  let w1: Workload;
  let w2: Workload;
  let w3: Workload;

  const log = clusterPerFile('next-hop-macs.test.ts', { tag: 'bon', underlayOctet: 107, resources: [ippool('nh-pool', '10.244.0.0/16', { ipipMode: 'Always' })] }, (c) => {
    cluster = c;
    w1 = c.addWorkload(0);
    w2 = c.addWorkload(1);
    w3 = c.addWorkload(2);
  });

  /** `on`'s next_hop_map entry for the node at `addr`, as the agent wrote it. */
  const entryOf = (on: ClusterNode, addr: string) => {
    const map = openPinnedMap(cluster.pins(on).map(MAP_NAMES.nextHops));
    try {
      const v = map.lookup(encodeNextHopKey(addr));
      return v ? decodeNextHopValue(v) : undefined;
    } finally {
      map.close();
    }
  };
  /** Polls every 20 ms until `cond` holds; returns how long that took (ms), or throws naming `what`. */
  const waitFor = async (what: string, cond: () => boolean, ms: number): Promise<number> => {
    const start = Date.now();
    for (;;) {
      if (cond()) return Date.now() - start;
      if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
      await sleep(20);
    }
  };
  const pingOk = (from: Workload, to: Workload) => {
    const r = cluster.ping(from, to.address, { count: 3 });
    expect(r.ok, `${from.node.name} pod -> ${to.node.name} pod: ${r.output}`).toBe(true);
  };

  it('node1 holds the MAC of each node\'s first hop (node2 itself, the router for node3) and pods\' packets leave with it', async () => {
    const [n1, n2, n3] = cluster.nodes;
    const gateway = cluster.routerAddress('A');
    pingOk(w1, w2);
    pingOk(w1, w3);
    const n1Mac = n1.ns.mac('eth0');
    const ms = await waitFor(
      'entries for node2 and node3 on node1',
      () => entryOf(n1, n2.address)?.dstMac === n2.ns.mac('eth0') && entryOf(n1, n3.address)?.dstMac === cluster.router.mac('brA'),
      3_000,
    );
    for (const addr of [n2.address, n3.address]) {
      expect(entryOf(n1, addr)).toMatchObject({ srcMac: n1Mac, ifindex: n1.ns.ifindex('eth0') });
    }
    log.add(`entries for node2 (on-link) and node3 (via ${gateway}) on node1 ${ms} ms after the first pings`);

    // Close the kernel's own path to node3: its route lookup now fails (and, as it then assumes node3 on-link,
    // node3's address is never answered on subnet A). Only the pre-resolved router MAC can carry w1's packets.
    // A fresh use of the router's neighbour first, so that it is not STALE (whose entry sends through the kernel).
    n1.ns.exec('ping', ['-c', '1', '-W', '1', gateway]);
    await waitFor('router entry not flagged VERIFY', () => ((entryOf(n1, n3.address)?.flags ?? NextHopFlags.Verify) & NextHopFlags.Verify) === 0, 2_000);
    n1.ns.ip('route', 'add', 'blackhole', `${n3.address}/32`);
    try {
      pingOk(w1, w3); // from_workload's hand-off
      const host = cluster.ping(n1.ns, w3.address, { count: 3 }); // node1's own traffic: to_uplink's hand-off
      expect(host.ok, `node1 host -> node3 pod: ${host.output}`).toBe(true);
      // The control: without the entry (the router's neighbour deleted), the same packets take the kernel's path
      // and meet the blackhole.
      n1.ns.ip('neigh', 'del', gateway, 'dev', 'eth0');
      const gone = await waitFor('node3 entry removed after its neighbour was deleted', () => entryOf(n1, n3.address) === undefined, 1_000);
      const blocked = cluster.ping(w1, w3.address, { count: 2, deadlineS: 3 });
      expect(blocked.received, 'the kernel path was closed: no entry, no reply').toBe(0);
      log.add(`blackholed route to node3: pods and node1 itself reached it through the pre-resolved MAC; entry gone ${gone} ms after the neighbour was deleted, then 0/${blocked.transmitted} replies`);
    } finally {
      n1.ns.ip('route', 'del', 'blackhole', `${n3.address}/32`);
    }
    // bpf_redirect_neigh resolves the router again, and the entry comes back.
    pingOk(w1, w3);
    const back = await waitFor('node3 entry back after the kernel resolved the router again', () => entryOf(n1, n3.address)?.dstMac === cluster.router.mac('brA'), 3_000);
    log.add(`route restored: entry for node3 back ${back} ms after the ping`);
  });

  it("node2's MAC changes: node1's entry has the new MAC within 1 s of the gratuitous ARP, traffic goes on, node2's own entries take the new source", async () => {
    const [n1, n2] = cluster.nodes;
    pingOk(w1, w2);
    await waitFor('node2 entry on node1', () => entryOf(n1, n2.address)?.dstMac === n2.ns.mac('eth0'), 3_000);
    const fresh = '02:0b:0e:00:00:02';
    n2.ns.exec('sysctl', ['-q', '-w', 'net.ipv4.conf.eth0.arp_notify=1']); // announce the new address (gratuitous ARP)
    const t0 = Date.now();
    n2.ns.ip('link', 'set', 'eth0', 'address', fresh);
    const ms = await waitFor("node2's new MAC in node1's map", () => entryOf(n1, n2.address)?.dstMac === fresh, 1_000);
    pingOk(w1, w2);
    pingOk(w2, w1);
    const own = await waitFor("node2's entry for node1 with node2's new source MAC", () => entryOf(n2, n1.address)?.srcMac === fresh, 2_000);
    log.add(`MAC change of node2: new MAC in node1's map ${ms} ms after the change (${Date.now() - t0} ms incl. pings); node2's own source ${own} ms`);
    expect(ms).toBeLessThanOrEqual(1_000);
  });

  it('a FAILED neighbour removes the entry; the kernel path carries the traffic and the entry comes back resolved', async () => {
    const [n1, n2] = cluster.nodes;
    pingOk(w1, w2);
    await waitFor('node2 entry on node1', () => entryOf(n1, n2.address) !== undefined, 3_000);
    n1.ns.ip('neigh', 'replace', n2.address, 'dev', 'eth0', 'nud', 'failed');
    const gone = await waitFor('node2 entry removed when its neighbour FAILED', () => entryOf(n1, n2.address) === undefined, 1_000);
    pingOk(w1, w2);
    const back = await waitFor('node2 entry back', () => entryOf(n1, n2.address)?.dstMac === n2.ns.mac('eth0'), 3_000);
    log.add(`FAILED neighbour: entry removed in ${gone} ms, traffic through the kernel path, entry back ${back} ms after the ping`);
  });
  it('a stopped agent leaves next_hop_map empty: nobody follows the neighbours any more, and the kernel path carries on', async () => {
    const [n1, n2] = cluster.nodes;
    pingOk(w1, w2);
    await waitFor('node2 entry on node1', () => entryOf(n1, n2.address) !== undefined, 3_000);
    await cluster.stopAgent(n1);
    expect(entryOf(n1, n2.address)).toBeUndefined();
    expect(entryOf(n1, cluster.nodes[2].address)).toBeUndefined();
    pingOk(w1, w2);
    pingOk(w1, w3);
    await cluster.startAgent(n1);
    pingOk(w1, w2);
    const back = await waitFor('node2 entry after the restart', () => entryOf(n1, n2.address)?.dstMac === n2.ns.mac('eth0'), 3_000);
    log.add(`agent stopped: map empty, pods still reach each other; restarted: entry back ${back} ms after a ping`);
  });
});
