// SPDX-License-Identifier: Apache-2.0
// A node whose overlay is the Linux VXLAN device configured like Calico's `vxlan.calico` (no agent: static FDB and
// neighbour entries, block routes `via <tunnel address> dev vxlan.calico onlink`, a pod behind a /32 route with
// proxy ARP as Calico sets it up) shares a VXLAN Always pool with the bpf-overlay nodes. It is declared with
// `bpf-overlay apply` as a Node (address, VXLAN tunnel address, VTEP MAC) with its BlockAffinity, and its pod
// exchanges ping and TCP with pods on node1 (same subnet) and node3 (behind the router), both directions. The
// capture on its uplink shows only VXLAN (UDP 4789, VNI 4096) for that traffic: the two implementations speak
// the same wire format, VTEP MACs included (the kernel device drops frames not addressed to its MAC).
import { expect, it } from 'vitest';
import { API_VERSION, type Resource } from '../../src/control/model/types.js';
import { vtepMacOf } from '../../src/control/model/vtep.js';
import { kernelDescribe } from '../harness/privileges.js';
import type { Netns } from '../harness/netns.js';
import { between, clusterPerFile, describePackets, expectEncap } from './checks.js';
import { ippool, type Cluster, type Workload } from '../lab/cluster.js';

const OCTET = 107;
const CALICO_ADDR = `10.${OCTET}.1.4`;
const CALICO_BLOCK = '10.244.200.0/26';
const CALICO_TUNNEL = '10.244.200.1';
const CALICO_POD = '10.244.200.2';
const CALICO_MAC = '66:ca:11:c0:00:04';
const MB = 1024 * 1024;

kernelDescribe('interop with a Linux vxlan.calico node (VXLAN Always pool)', () => {
  let cluster: Cluster;
  let host: Netns;
  let pod: Netns;
  let calicoPod: Workload;
  let w1: Workload;
  let w3: Workload;
  const calicoName = () => `${cluster.topo.prefix}-calico`;

  const log = clusterPerFile('calico-vxlan-interop.test.ts', {
    tag: 'boc',
    underlayOctet: OCTET,
    disableChecksumOffload: true,
    resources: [ippool('interop-pool', '10.244.0.0/16', { vxlanMode: 'Always' })],
  }, (c) => {
    cluster = c;
    w1 = cluster.addWorkload(0);
    w3 = cluster.addWorkload(2);

    // The Calico node on subnet A, beside node1 and node2.
    const t = cluster.topo;
    host = t.addNamespace('n4');
    t.veth(host, 'eth0', cluster.router, 'n4');
    cluster.router.ip('link', 'set', 'n4', 'master', 'brA');
    host.ip('addr', 'add', `${CALICO_ADDR}/24`, 'dev', 'eth0');
    host.ip('route', 'add', 'default', 'via', cluster.routerAddress('A'));
    host.exec('ethtool', ['-K', 'eth0', 'tx', 'off']);
    host.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    host.ip('link', 'add', 'vxlan.calico', 'type', 'vxlan', 'id', '4096', 'dstport', '4789', 'local', CALICO_ADDR, 'dev', 'eth0', 'nolearning');
    host.ip('link', 'set', 'vxlan.calico', 'address', CALICO_MAC, 'mtu', '1450', 'up');
    host.ip('addr', 'add', `${CALICO_TUNNEL}/32`, 'dev', 'vxlan.calico');
    // Its pod, wired the way Calico wires one: /32 address, default via 169.254.1.1 answered by proxy ARP.
    pod = t.addNamespace('cp');
    t.veth(pod, 'eth0', host, 'cali0', { mtu: 1450 });
    pod.ip('addr', 'add', `${CALICO_POD}/32`, 'dev', 'eth0');
    pod.ip('route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
    pod.ip('route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
    host.exec('sysctl', ['-q', '-w', 'net.ipv4.conf.cali0.proxy_arp=1']);
    host.ip('route', 'add', `${CALICO_POD}/32`, 'dev', 'cali0');
    calicoPod = { name: 'calico-pod', ns: pod, node: cluster.nodes[0], containerId: 'calico', ifname: 'eth0', address: CALICO_POD, result: {} };

    cluster.apply([
      {
        apiVersion: API_VERSION,
        kind: 'Node',
        metadata: { name: calicoName() },
        spec: { bgp: { ipv4Address: `${CALICO_ADDR}/24` }, ipv4VXLANTunnelAddr: CALICO_TUNNEL, vxlanTunnelMACAddr: CALICO_MAC },
      } as Resource,
      {
        apiVersion: API_VERSION,
        kind: 'BlockAffinity',
        metadata: { name: `${calicoName()}-10-244-200-0-26` },
        spec: { node: calicoName(), cidr: CALICO_BLOCK, state: 'confirmed', deleted: false },
      } as Resource,
    ]);

    // What Calico's Felix would program from the datastore: one VTEP per bpf-overlay node.
    const nodes = cluster.get('nodes') as { metadata: { name: string }; spec: { ipv4VXLANTunnelAddr?: string; vxlanTunnelMACAddr?: string; bgp?: { ipv4Address?: string } } }[];
    const blocks = cluster.get('blockaffinities') as { spec: { node: string; cidr: string } }[];
    for (const n of cluster.nodes) {
      const res = nodes.find((r) => r.metadata.name === n.name)!;
      const tunnel = res.spec.ipv4VXLANTunnelAddr;
      if (!tunnel) throw new Error(`${n.name} has no ipv4VXLANTunnelAddr: ${JSON.stringify(res.spec)}`);
      const mac = vtepMacOf(res as Parameters<typeof vtepMacOf>[0]);
      host.ip('neigh', 'add', tunnel, 'lladdr', mac, 'dev', 'vxlan.calico', 'nud', 'permanent');
      host.exec('bridge', ['fdb', 'add', mac, 'dev', 'vxlan.calico', 'dst', n.address]);
      for (const b of blocks.filter((x) => x.spec.node === n.name)) {
        host.ip('route', 'add', b.spec.cidr, 'via', tunnel, 'dev', 'vxlan.calico', 'onlink');
      }
    }
    log.add(`vxlan.calico node ${calicoName()} ${CALICO_ADDR} VTEP ${CALICO_MAC} tunnel ${CALICO_TUNNEL}, block ${CALICO_BLOCK}; routes: ${host.ip('route', 'show', 'dev', 'vxlan.calico').trim().replace(/\n/g, '; ')}`);
  });

  for (const [label, peerIndex] of [['node1 (same subnet)', 0], ['node3 (across the router)', 2]] as const) {
    it(`vxlan.calico pod <-> bpf-overlay pod on ${label}: ping and TCP both directions`, async () => {
      const peer = peerIndex === 0 ? w1 : w3;
      const peerNode = cluster.nodes[peerIndex];
      const cap = await cluster.capture(host, 'eth0');
      const there = cluster.ping(pod, peer.address);
      const back = cluster.ping(peer, CALICO_POD);
      const up = await cluster.tcpTransfer(calicoPod, peer, { bytes: 4 * MB, port: 15401 });
      const down = await cluster.tcpTransfer(peer, calicoPod, { bytes: 4 * MB, port: 15402 });
      const s = await cap.stop();
      expect(there.ok, there.output).toBe(true);
      expect(back.ok, back.output).toBe(true);
      expect(up.ok, up.error).toBe(true);
      expect(down.ok, down.error).toBe(true);
      const flow = between(s, CALICO_POD, peer.address);
      expectEncap(flow, 'vxlan', [CALICO_ADDR, peerNode.address]);
      expect(s.checksumErrors).toBe(0);
      const fromKernel = flow.filter((p) => p.src === CALICO_ADDR).length;
      const fromBpf = flow.filter((p) => p.src === peerNode.address).length;
      log.add(
        `vxlan.calico pod <-> ${label} pod: ping ${there.received}/${there.transmitted} and ${back.received}/${back.transmitted}, 4 MB TCP each way sha256 match ` +
          `(capture on the Calico node's uplink: ${describePackets(flow)}; ${fromKernel} sent by the kernel device, ${fromBpf} by bpf-overlay)`,
      );
    });
  }
});
