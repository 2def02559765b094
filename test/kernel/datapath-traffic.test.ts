// SPDX-License-Identifier: Apache-2.0
// Real traffic through the data path: two "hosts" (namespaces) on a veth underlay, one workload namespace each,
// no kernel tunnel device and no kernel route to the pool. Ping and a TCP transfer for IPIP, VXLAN and plain.
// Every packet stays inside the namespaces this test creates; all of them are deleted in afterAll.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelDescribe } from '../harness/privileges.js';
import { dissect } from '../lab/cluster.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topology, type Netns } from '../harness/netns.js';
import { loadDatapath, type Datapath } from '../../src/control/datapath/objects.js';
import { attachUplink, attachWorkload } from '../../src/control/datapath/attach.js';
import { attachXdp } from '../../src/control/bpf/index.js';
import type { Link } from '../../src/control/bpf/types.js';
import {
  CounterHook,
  CounterReason,
  Encap,
  NodeFlags,
  RouteFlags,
  RouteKind,
  ZERO_IP,
  ZERO_MAC,
  counterSlot,
  encodeKnownNodeKey,
  encodeKnownNodeValue,
  encodeRouteKey,
  encodeRouteValue,
  encodeSettingsValue,
  encodeU32Key,
  sumPerCpu,
} from '../../src/control/maps/layout.js';

interface Host {
  name: string;
  ns: Netns;
  pod: Netns;
  addr: string;
  tunnelAddr: string;
  podIp: string;
  block: string;
  vtepMac: string;
  dp?: Datapath;
  pinRoot: string;
  links: Link[];
}

const POOL = '10.244.0.0/16';
let topo: Topology;
let hosts: [Host, Host];

function setupHost(h: Host, peer: Host): void {
  h.ns.ip('addr', 'add', `${h.addr}/24`, 'dev', 'ul');
  // The workload: /32 address, default route to a link-local gateway answered by a static neighbour entry.
  h.pod.ip('addr', 'add', `${h.podIp}/32`, 'dev', 'eth0');
  h.pod.ip('route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
  h.pod.ip('route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
  h.pod.ip('neigh', 'add', '169.254.1.1', 'lladdr', h.ns.mac('wl'), 'dev', 'eth0', 'nud', 'permanent');
  const uplinkIfindex = h.ns.ifindex('ul');
  h.dp = loadDatapath({ nodeAddr: h.addr, uplinkIfindex, vtepMac: h.vtepMac, pinRoot: h.pinRoot });
  const up = attachUplink(h.dp, { ifname: 'ul', netns: h.ns.path });
  h.links.push(up.ingress, up.egress, attachWorkload(h.dp, { ifname: 'wl', netns: h.ns.path }));
  const m = h.dp.maps;
  m.settings.update(encodeU32Key(0), encodeSettingsValue({ tunnelAddr: h.tunnelAddr, uplinkMtu: 1500 }));
  const flags = RouteFlags.InPool;
  m.routes.update(encodeRouteKey(POOL), encodeRouteValue({ kind: RouteKind.Pool, encap: Encap.None, flags, ifindex: 0, nextHop: ZERO_IP, dstMac: ZERO_MAC, srcMac: ZERO_MAC }));
  m.routes.update(
    encodeRouteKey(`${h.podIp}/32`),
    encodeRouteValue({ kind: RouteKind.LocalWorkload, encap: Encap.None, flags, ifindex: h.ns.ifindex('wl'), nextHop: ZERO_IP, dstMac: h.pod.mac('eth0'), srcMac: h.ns.mac('wl') }),
  );
  m.knownNodes.update(encodeKnownNodeKey(peer.addr), encodeKnownNodeValue({ vtepMac: peer.vtepMac, flags: NodeFlags.AllowIpip | NodeFlags.AllowVxlan, tunnelAddr: peer.tunnelAddr }));
}

function useEncap(encap: Encap): void {
  const overhead = encap === Encap.Vxlan ? 50 : encap === Encap.Ipip ? 20 : 0;
  for (const [h, peer] of [
    [hosts[0], hosts[1]],
    [hosts[1], hosts[0]],
  ] as const) {
    h.dp!.maps.routes.update(
      encodeRouteKey(peer.block),
      encodeRouteValue({ kind: RouteKind.RemoteBlock, encap, flags: RouteFlags.InPool, ifindex: 0, nextHop: peer.addr, dstMac: encap === Encap.Vxlan ? peer.vtepMac : ZERO_MAC, srcMac: ZERO_MAC }),
    );
    // Workload MTU = uplink MTU - overhead, as Calico sets it: TCP segments then fit once encapsulated.
    h.pod.ip('link', 'set', 'eth0', 'mtu', String(1500 - overhead));
  }
}

function attachXdpOnly(h: Host): Link {
  return attachXdp(h.dp!.programs.fromUplinkXdp, { ifname: 'ul', netns: h.ns.path }, 'native');
}

function counter(h: Host, hook: CounterHook, encap: Encap, reason: CounterReason): bigint {
  const v = h.dp!.maps.counters.lookupPerCpu(encodeU32Key(counterSlot(hook, encap, reason)));
  return v ? sumPerCpu(v).packets : 0n;
}

function ping(from: Host, to: Host, size = 56): string {
  return from.pod.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-s', String(size), to.podIp], { timeoutMs: 15_000 });
}

// A TCP transfer whose content is verified end to end: the receiver prints the byte count and SHA-256 of what
// it got, the sender a digest of what it sent. Node itself serves as client and server (nothing to install).
const SERVER_JS = `
const net = require('net'), crypto = require('crypto');
const h = crypto.createHash('sha256'); let n = 0;
const srv = net.createServer((c) => { c.on('data', (d) => { h.update(d); n += d.length; });
  c.on('end', () => { process.stdout.write(JSON.stringify({ n, sha: h.digest('hex') })); c.end(); srv.close(); }); });
srv.listen(Number(process.argv[2]), process.argv[1], () => process.stderr.write('listening'));
setTimeout(() => process.exit(3), 60000).unref();`;
const CLIENT_JS = `
const net = require('net'), crypto = require('crypto');
const total = Number(process.argv[3]); const chunk = Buffer.alloc(65536);
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 255;
const h = crypto.createHash('sha256'); let sent = 0;
const c = net.connect(Number(process.argv[2]), process.argv[1], () => {
  const pump = () => { while (sent < total) { const b = chunk.subarray(0, Math.min(chunk.length, total - sent));
    h.update(b); sent += b.length; if (!c.write(b)) return c.once('drain', pump); } c.end(); };
  pump(); });
c.on('close', () => process.stdout.write(JSON.stringify({ n: sent, sha: h.digest('hex') })));
setTimeout(() => process.exit(3), 60000).unref();`;

async function tcpTransfer(from: Host, to: Host, bytes: number): Promise<{ sent: { n: number; sha: string }; received: { n: number; sha: string } }> {
  const port = String(20000 + ((Math.random() * 20000) | 0));
  const server = topo.track(to.pod.spawn(process.execPath, ['-e', SERVER_JS, to.podIp, port]));
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const serverDone = new Promise<void>((resolve) => server.on('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    server.stderr!.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`tcp server exited early (${code})`)));
  });
  const sent = JSON.parse(from.pod.exec(process.execPath, ['-e', CLIENT_JS, to.podIp, port, String(bytes)], { timeoutMs: 70_000 })) as {
    n: number;
    sha: string;
  };
  await serverDone;
  return { sent, received: JSON.parse(out) as { n: number; sha: string } };
}

kernelDescribe('data path with real traffic between namespaces (no tunnel device)', () => {
  beforeAll(() => {
    topo = new Topology('bodp');
    const run = randomBytes(3).toString('hex');
    const mk = (name: string, addr: string, idx: number): Host => ({
      name,
      ns: topo.addNamespace(`${name}`),
      pod: topo.addNamespace(`${name}p`),
      addr,
      tunnelAddr: `10.244.${idx}.1`,
      podIp: `10.244.${idx}.5`,
      block: `10.244.${idx}.0/26`,
      vtepMac: `66:00:00:00:00:0${idx}`,
      pinRoot: `/sys/fs/bpf/bo-dpt-${run}-${name}`,
      links: [],
    });
    hosts = [mk('a', '10.0.0.1', 1), mk('b', '10.0.0.2', 2)];
    topo.veth(hosts[0].ns, 'ul', hosts[1].ns, 'ul');
    for (const h of hosts) topo.veth(h.ns, 'wl', h.pod, 'eth0');
    setupHost(hosts[0], hosts[1]);
    setupHost(hosts[1], hosts[0]);
  });

  afterAll(() => {
    for (const h of hosts ?? []) {
      for (const l of h.links) {
        try {
          l.detach();
        } catch {
          // the namespace may already be gone
        }
      }
      h.dp?.close();
      rmSync(h.pinRoot, { recursive: true, force: true });
    }
    topo?.destroy();
  });

  for (const [name, encap] of [
    ['IPIP', Encap.Ipip],
    ['VXLAN', Encap.Vxlan],
    ['plain (Never / CrossSubnet in-subnet)', Encap.None],
  ] as const) {
    it(`${name}: ping both ways and a 4 MB TCP transfer`, async () => {
      useEncap(encap);
      const [a, b] = hosts;
      const sentBefore = counter(a, CounterHook.FromWorkload, encap, encap === Encap.None ? CounterReason.ForwardPlain : CounterReason.Encap);
      const recvBefore = counter(a, CounterHook.FromUplinkTc, encap === Encap.None ? Encap.None : encap, encap === Encap.None ? CounterReason.RedirectLocal : CounterReason.Decap);
      expect(ping(a, b)).toMatch(/3 received/);
      expect(ping(b, a)).toMatch(/3 received/);
      // The largest ping that fits the workload MTU.
      expect(ping(a, b, 1500 - (encap === Encap.Vxlan ? 50 : encap === Encap.Ipip ? 20 : 0) - 28)).toMatch(/3 received/);
      const t = await tcpTransfer(a, b, 4 * 1024 * 1024);
      expect(t.received).toEqual(t.sent);
      expect(t.received.n).toBe(4 * 1024 * 1024);
      const back = await tcpTransfer(b, a, 1024 * 1024);
      expect(back.received).toEqual(back.sent);
      expect(counter(a, CounterHook.FromWorkload, encap, encap === Encap.None ? CounterReason.ForwardPlain : CounterReason.Encap)).toBeGreaterThan(sentBefore + 6n);
      expect(
        counter(a, CounterHook.FromUplinkTc, encap === Encap.None ? Encap.None : encap, encap === Encap.None ? CounterReason.RedirectLocal : CounterReason.Decap),
      ).toBeGreaterThan(recvBefore + 6n);
    });
  }

  for (const [name, encap] of [
    ['IPIP', Encap.Ipip],
    ['VXLAN', Encap.Vxlan],
  ] as const) {
    it(`${name} with XDP decapsulation on both uplinks: decap counted by XDP only, content-verified TCP`, async () => {
      useEncap(encap);
      const xdpLinks = hosts.map((h) => attachXdpOnly(h));
      try {
        const [a, b] = hosts;
        const xdpBefore = counter(b, CounterHook.FromUplinkXdp, encap, CounterReason.Decap);
        const tcDecapBefore = counter(b, CounterHook.FromUplinkTc, encap, CounterReason.Decap);
        const tcLocalBefore = counter(b, CounterHook.FromUplinkTc, Encap.None, CounterReason.RedirectLocal);
        expect(ping(a, b)).toMatch(/3 received/);
        const t = await tcpTransfer(a, b, 2 * 1024 * 1024);
        expect(t.received).toEqual(t.sent);
        const decapped = counter(b, CounterHook.FromUplinkXdp, encap, CounterReason.Decap) - xdpBefore;
        expect(decapped).toBeGreaterThan(6n);
        expect(counter(b, CounterHook.FromUplinkTc, encap, CounterReason.Decap)).toBe(tcDecapBefore);
        // Every XDP-decapsulated packet for the workload was delivered by tc as a plain local packet.
        expect(counter(b, CounterHook.FromUplinkTc, Encap.None, CounterReason.RedirectLocal) - tcLocalBefore).toBe(decapped);
      } finally {
        for (const l of xdpLinks) l.detach();
      }
    });
  }

  function counterBytes(h: Host, hook: CounterHook, encap: Encap, reason: CounterReason): { packets: bigint; bytes: bigint } {
    const v = h.dp!.maps.counters.lookupPerCpu(encodeU32Key(counterSlot(hook, encap, reason)));
    return v ? sumPerCpu(v) : { packets: 0n, bytes: 0n };
  }

  for (const [name, encap] of [
    ['IPIP', Encap.Ipip],
    ['VXLAN', Encap.Vxlan],
  ] as const) {
    it(`${name}: 100 MB of TCP with segmentation offload stays GSO through encapsulation, content intact`, async () => {
      useEncap(encap);
      const [a, b] = hosts;
      const before = counterBytes(a, CounterHook.FromWorkload, encap, CounterReason.Encap);
      const t = await tcpTransfer(a, b, 100 * 1024 * 1024);
      expect(t.received).toEqual(t.sent);
      expect(t.received.n).toBe(100 * 1024 * 1024);
      const after = counterBytes(a, CounterHook.FromWorkload, encap, CounterReason.Encap);
      const packets = after.packets - before.packets;
      const avg = Number(after.bytes - before.bytes) / Number(packets);
      console.log(`${name} 100 MB: ${packets} packets encapsulated, ${avg.toFixed(0)} bytes each on average`);
      // Larger than any MTU-sized frame: whole GSO super-packets were encapsulated and segmented later.
      expect(avg).toBeGreaterThan(1514);
    });

    it(`${name}: a capture on the underlay, dissected by tshark, shows well-formed tunnel packets with good checksums`, async () => {
      useEncap(encap);
      const [a, b] = hosts;
      // With TX checksum offload the inner TCP checksum is only a pseudo-header sum on the wire of a veth;
      // turn it off on the workloads so the capture holds final checksums that tshark can verify.
      for (const h of hosts) h.pod.exec('ethtool', ['-K', 'eth0', 'tx', 'off']);
      const dir = mkdtempSync(join(tmpdir(), 'bo-dpcap-'));
      const file = join(dir, 'ul.pcap');
      const dump = topo.track(b.ns.spawn('tcpdump', ['-Z', 'root', '--immediate-mode', '-U', '-i', 'ul', '-n', '-s', '256', '-c', '3000', '-w', file]));
      let err = '';
      dump.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      try {
        const deadline = Date.now() + 10_000;
        while (!err.includes('listening on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        expect(ping(a, b)).toMatch(/3 received/);
        const t = await tcpTransfer(a, b, 2 * 1024 * 1024);
        expect(t.received).toEqual(t.sent);
        await new Promise((r) => setTimeout(r, 300));
        const exited = new Promise((r) => dump.once('exit', r));
        if (dump.exitCode === null) dump.kill('SIGINT');
        await exited;
        const summary = dissect(file);
        const tunnel = encap === Encap.Ipip ? summary.counts.ipip : summary.counts.vxlan;
        console.log(
          `${name} capture: ${summary.frames} frames, ${summary.counts.ipip} IPIP, ${summary.counts.vxlan} VXLAN (VNIs ${summary.vnis.join(',')}), ` +
            `${summary.counts.plain} plain, ${summary.malformed} malformed, ${summary.checksumErrors} checksum errors`,
        );
        expect(tunnel).toBeGreaterThan(100);
        expect(summary.malformed).toBe(0);
        expect(summary.checksumErrors).toBe(0);
        if (encap === Encap.Vxlan) expect(summary.vnis).toEqual([4096]);
        // No workload address ever travels unencapsulated on the underlay.
        expect(summary.packets.filter((p) => p.encap === 'plain' && p.dst?.startsWith('10.244.'))).toHaveLength(0);
      } finally {
        if (dump.exitCode === null) dump.kill('SIGKILL');
        for (const h of hosts) h.pod.exec('ethtool', ['-K', 'eth0', 'tx', 'on']);
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`${name}: UDP GSO (UDP_SEGMENT) datagrams are encapsulated as one GSO packet and arrive as intact datagrams`, async () => {
      useEncap(encap);
      const [a, b] = hosts;
      // See README "Known limits": a VXLAN GSO packet that crosses a veth underlay whole cannot have its
      // tunnel GSO state cleared by BPF decapsulation; XDP on the receiving uplink makes the sender segment.
      const xdpLinks = encap === Encap.Vxlan ? hosts.map((h) => attachXdpOnly(h)) : [];
      try {
      const port = String(30000 + ((Math.random() * 20000) | 0));
      const segment = 1000;
      const perSend = 40; // 40 segments of 1000 bytes in one send(): one GSO skb
      const sends = 50;
      // Each datagram carries its sequence number and a pattern derived from it; the receiver checks both.
      const receiver = topo.track(
        b.pod.spawn('python3', [
          '-c',
          `
import socket, sys, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(3)
print('ready', flush=True)
got, bad = 0, 0
try:
    while got < int(sys.argv[3]):
        d = s.recv(65535)
        seq = int.from_bytes(d[:4], 'big')
        if len(d) != ${segment} or d[4:] != bytes([(seq + i) & 255 for i in range(${segment} - 4)]):
            bad += 1
        got += 1
except socket.timeout:
    pass
print(json.dumps({'got': got, 'bad': bad}), flush=True)
`,
          b.podIp,
          port,
          String(perSend * sends),
        ]),
      );
      let out = '';
      receiver.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise((r) => receiver.once('exit', r));
      const deadline = Date.now() + 10_000;
      while (!out.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const before = counterBytes(a, CounterHook.FromWorkload, encap, CounterReason.Encap);
      a.pod.exec(
        'python3',
        [
          '-c',
          `
import socket, sys, time
UDP_SEGMENT = 103
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, UDP_SEGMENT, ${segment})
seq = 0
for n in range(${sends}):
    buf = b''
    for i in range(${perSend}):
        buf += seq.to_bytes(4, 'big') + bytes([(seq + j) & 255 for j in range(${segment} - 4)])
        seq += 1
    s.sendto(buf, (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.002)
`,
          b.podIp,
          port,
        ],
        { timeoutMs: 30_000 },
      );
      await done;
      const result = JSON.parse(out.trim().split('\n').pop()!) as { got: number; bad: number };
      const after = counterBytes(a, CounterHook.FromWorkload, encap, CounterReason.Encap);
      const packets = after.packets - before.packets;
      console.log(`${name} UDP GSO: ${sends} sends of ${perSend}x${segment} B -> ${packets} encapsulated skbs, ${result.got} datagrams received, ${result.bad} corrupt`);
      expect(result.bad).toBe(0);
      expect(result.got).toBe(perSend * sends);
      // One encapsulation per send(): the GSO skb went through BPF whole and was segmented after.
      expect(Number(packets)).toBeLessThan(sends * 2);
      expect(Number(after.bytes - before.bytes) / Number(packets)).toBeGreaterThan(perSend * segment * 0.9);
      } finally {
        for (const l of xdpLinks) l.detach();
      }
    });
  }

  it('jumbo frames: a 9000-byte underlay carries full-size IPIP and VXLAN packets (DF) and TCP', async () => {
    // BPF_PROG_TEST_RUN cannot take an skb above a page, so 9000-byte packets are proven on the wire.
    const setMtus = (uplink: number) => {
      for (const h of hosts) {
        h.ns.ip('link', 'set', 'ul', 'mtu', String(uplink));
        h.ns.ip('link', 'set', 'wl', 'mtu', String(uplink)); // the host side of the workload veth
        h.dp!.maps.settings.update(encodeU32Key(0), encodeSettingsValue({ tunnelAddr: h.tunnelAddr, uplinkMtu: uplink }));
      }
    };
    setMtus(9000);
    try {
      for (const [encap, overhead] of [
        [Encap.Ipip, 20],
        [Encap.Vxlan, 50],
      ] as const) {
        useEncap(encap); // sets the pod MTU for a 1500 underlay: raise it to what 9000 allows
        for (const h of hosts) h.pod.ip('link', 'set', 'eth0', 'mtu', String(9000 - overhead));
        const [a, b] = hosts;
        const before = counterBytes(a, CounterHook.FromWorkload, encap, CounterReason.Encap);
        const out = a.pod.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(9000 - overhead - 28), b.podIp], {
          timeoutMs: 15_000,
        });
        expect(out).toMatch(/3 received/);
        const after = counterBytes(a, CounterHook.FromWorkload, encap, CounterReason.Encap);
        // Each echo request was one packet of the full workload MTU (plus its Ethernet header) when encapsulated.
        expect(Number(after.bytes - before.bytes) / Number(after.packets - before.packets)).toBe(9000 - overhead + 14);
        const t = await tcpTransfer(a, b, 8 * 1024 * 1024);
        expect(t.received).toEqual(t.sent);
      }
    } finally {
      setMtus(1500);
    }
  });

  it('IPIP: a DF packet above the workload path MTU gets frag-needed from BPF, ping reports the MTU', () => {
    useEncap(Encap.Ipip);
    const [a, b] = hosts;
    // Raise the pod MTU above what the tunnel carries, as a misconfigured workload would.
    a.pod.ip('link', 'set', 'eth0', 'mtu', '1500');
    const before = counter(a, CounterHook.FromWorkload, Encap.Ipip, CounterReason.FragNeeded);
    let out = '';
    try {
      out = a.pod.exec('ping', ['-c', '2', '-i', '0.3', '-W', '1', '-M', 'do', '-s', '1472', b.podIp], { timeoutMs: 10_000 });
    } catch (err) {
      out = (err as Error).message;
    }
    expect(out).toMatch(/mtu = 1480|Frag needed|message too long/i);
    expect(counter(a, CounterHook.FromWorkload, Encap.Ipip, CounterReason.FragNeeded)).toBeGreaterThan(before);
  });
});
