// SPDX-License-Identifier: Apache-2.0
// Malformed and random input through every program. Each verdict and output is checked against an independent
// TS oracle of the specification (written from the spec, not from the C), and the counters must account for
// every packet exactly once. Only well-formed tunnel packets from known nodes may ever come out decapsulated.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelDescribe } from '../harness/privileges.js';
import * as P from '../harness/packets.js';
import {
  HOST_VETH_MAC,
  IPIP_NODE,
  LOCAL_POD,
  LOCAL_POD2,
  NODE,
  OUTSIDE,
  PEER_UPLINK_MAC,
  PLAIN_NODE,
  SCENARIO_ROUTES,
  TC_ACT_OK,
  TC_ACT_REDIRECT,
  TC_ACT_SHOT,
  TUNNEL_ADDR,
  UNKNOWN_HOST,
  UPLINK_MAC,
  UPLINK_MTU,
  VNI,
  VTEP_MAC,
  VXLAN_NODE,
  VXLAN_PORT,
  XDP_DROP,
  XDP_PASS,
  ALLOWED_SOURCE,
  POOL_ONLY,
  REMOTE_ALLOWED_SOURCE,
  counterDelta,
  handOffEthernet,
  ingressCtx,
  loadFixture,
  slot,
  type Fixture,
} from '../harness/datapath.js';
import { CounterHook as H, CounterReason as R, Encap, RouteFlags, RouteKind, type RouteEntry } from '../../src/control/maps/layout.js';
import type { BpfProgram } from '../../src/control/bpf/types.js';
import { seededRandom } from '../harness/random.js';

const PACKETS_PER_PROGRAM = 100_000;

/** Per-packet assertion that costs nothing when it holds (expect() per packet would dominate the run time). */
function check(ok: boolean, what: string, frame: Buffer, i: number, got?: unknown): void {
  if (!ok) throw new Error(`packet ${i}: ${what}${got === undefined ? '' : ` (got ${String(got)})`}; frame ${frame.toString('hex')}`);
}

/** BPF_PROG_TEST_RUN refuses an skb whose EtherType promises more network header than it has. */
function tcRunnable(frame: Buffer): boolean {
  const type = frame.readUInt16BE(12);
  return !((type === P.ETH_P_IP && frame.length < 34) || (type === P.ETH_P_IPV6 && frame.length < 54));
}


// ---------------------------------------------------------------- oracle: routes (independent LPM over the scenario)

function ipNum(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
const ROUTES = SCENARIO_ROUTES.map((r) => {
  const [addr, len] = r.cidr.split('/');
  return { ...r, net: ipNum(addr), len: Number(len) };
}).sort((a, b) => b.len - a.len);
function lookup(addr: string): RouteEntry | undefined {
  const n = ipNum(addr);
  return ROUTES.find((r) => r.len === 0 || Math.floor(n / 2 ** (32 - r.len)) === Math.floor(r.net / 2 ** (32 - r.len)));
}
interface KnownNode {
  allow: number; // 1 IPIP, 2 VXLAN
  vtepMac: string;
  tunnelAddr: string;
}
const ZERO_MAC = '00:00:00:00:00:00';
const KNOWN: Record<string, KnownNode> = {
  [IPIP_NODE.addr]: { allow: 1, vtepMac: ZERO_MAC, tunnelAddr: '0.0.0.0' },
  [VXLAN_NODE.addr]: { allow: 2, vtepMac: VXLAN_NODE.vtepMac, tunnelAddr: '0.0.0.0' },
  [PLAIN_NODE.addr]: { allow: 3, vtepMac: ZERO_MAC, tunnelAddr: PLAIN_NODE.tunnelAddr },
};
const isClusterNode = (addr: string) => addr === NODE || KNOWN[addr] !== undefined;

// ---------------------------------------------------------------- oracle: who may send from where

/** A workload on veth `ifindex` may send from its own /32s and from its endpoint's allowed prefixes. */
function workloadSourceOk(src: string, ifindex: number): boolean {
  const rt = lookup(src);
  if (rt?.kind === RouteKind.LocalWorkload && rt.ifindex === ifindex) return true;
  return ifindex === ALLOWED_SOURCE.ifindex && inCidr(src, ALLOWED_SOURCE.cidr);
}

function inCidr(addr: string, cidr: string): boolean {
  const [net, len] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  return Math.floor(ipNum(addr) / size) === Math.floor(ipNum(net) / size);
}

/** A decapsulated source must route back to the node that sent the tunnel packet, or be one its workloads may use. */
function innerSourceOk(src: string, sender: string): boolean {
  const node = KNOWN[sender];
  if (src === sender || (node.tunnelAddr !== '0.0.0.0' && src === node.tunnelAddr)) return true;
  const rt = lookup(src);
  if (rt?.kind === RouteKind.RemoteBlock && rt.nextHop === sender) return true;
  return sender === REMOTE_ALLOWED_SOURCE.node && inCidr(src, REMOTE_ALLOWED_SOURCE.cidr);
}

/** A plain packet from the underlay for a workload: not from us or anything we hold, and in a pool only from a remote block. */
function uplinkSourceOk(src: string): boolean {
  if (src === NODE) return false;
  const rt = lookup(src);
  return !rt || rt.kind === RouteKind.RemoteBlock;
}

// ---------------------------------------------------------------- oracle: header validity

interface Ip {
  off: number; // offset of the IPv4 header in the frame
  h: P.Ipv4Header;
}

/** The IPv4 header at `off` is complete and self-consistent within `avail` bytes (tot_len checked unless skipped). */
function ipAt(frame: Buffer, off: number, avail: number): Ip | undefined {
  if (frame.length < off + 20) return undefined;
  const h = P.dissectIpv4Header(frame.subarray(off));
  if (typeof h === 'string' || h.version !== 4) return undefined;
  if (h.totalLength < h.headerLength || h.totalLength > avail) return undefined;
  return { off, h };
}

function outerIp(frame: Buffer): Ip | 'not-ip' | 'malformed' {
  if (frame.length < 14 || frame.readUInt16BE(12) !== P.ETH_P_IP) return 'not-ip';
  if (frame.length < 34) return 'malformed';
  const v = frame[14] >> 4;
  const ihl = frame[14] & 15;
  if (v !== 4 || ihl < 5 || frame.length < 14 + ihl * 4) return 'malformed';
  return ipAt(frame, 14, frame.length - 14) ?? 'malformed';
}

type UplinkOutcome =
  | { kind: 'decap'; encap: Encap; strip: number; innerOff: number; dest: 'workload' | 'host'; ttl: number; pod?: typeof LOCAL_POD }
  | { kind: 'drop'; encap: Encap; reason: R }
  | { kind: 'pass' }
  | { kind: 'plain-local'; pod: typeof LOCAL_POD }
  /** Dropped by tc's reverse-path check; XDP does not judge plain packets and passes it. */
  | { kind: 'rpf' };

function innerOk(frame: Buffer, off: number, room: number): boolean {
  if (frame.length < off + 20) return false;
  const v = frame[off] >> 4;
  const ihl = frame[off] & 15;
  if (v !== 4 || ihl < 5 || frame[off + 9] === P.PROTO_IPIP) return false;
  const tot = frame.readUInt16BE(off + 2);
  return tot >= ihl * 4 && tot <= room;
}

const POD_BY_IP = new Map([LOCAL_POD, LOCAL_POD2].map((p) => [p.ip, p]));

function uplinkOracle(frame: Buffer): UplinkOutcome {
  const o = outerIp(frame);
  if (o === 'not-ip') return { kind: 'pass' };
  if (o === 'malformed') return { kind: 'drop', encap: Encap.None, reason: R.DropMalformed };
  const { h } = o;
  const l4 = 14 + h.headerLength;
  const l4Len = h.totalLength - h.headerLength;
  const isFrag = h.mf || h.fragOffset !== 0;
  let encap: Encap;
  if (h.protocol === P.PROTO_IPIP) encap = Encap.Ipip;
  else if (h.protocol === P.PROTO_UDP) {
    if (h.fragOffset !== 0) return plain(frame, h); // a later fragment has no UDP header to read
    if (frame.length < l4 + 8 || l4Len < 8) {
      if (h.dst !== NODE || isFrag) return plain(frame, h);
      return { kind: 'drop', encap: Encap.None, reason: R.DropMalformed };
    }
    if (frame.readUInt16BE(l4 + 2) !== VXLAN_PORT) return plain(frame, h);
    encap = Encap.Vxlan;
  } else return plain(frame, h);
  if (h.dst !== NODE) return plain(frame, h);
  const known = KNOWN[h.src]?.allow ?? 0;
  if (!(known & (encap === Encap.Ipip ? 1 : 2))) return { kind: 'drop', encap, reason: R.DropUnknownSource };
  if (isFrag || !h.checksumOk) return { kind: 'drop', encap, reason: R.DropMalformed };
  let innerOff: number;
  let strip: number;
  if (encap === Encap.Ipip) {
    innerOff = l4;
    strip = h.headerLength;
    if (!innerOk(frame, innerOff, l4Len)) return { kind: 'drop', encap, reason: R.DropMalformed };
    if (!innerSourceOk(P.ipString(frame, innerOff + 12), h.src)) return { kind: 'drop', encap, reason: R.DropInnerSource };
  } else {
    const udpLen = frame.readUInt16BE(l4 + 4);
    if (frame.length < l4 + 30 || udpLen > l4Len || udpLen < 50) return { kind: 'drop', encap, reason: R.DropMalformed };
    if (frame.readUInt32BE(l4 + 8) !== 0x08000000 || frame[l4 + 15] !== 0) return { kind: 'drop', encap, reason: R.DropMalformed };
    if (frame.readUIntBE(l4 + 12, 3) !== VNI) return { kind: 'drop', encap, reason: R.DropBadVni };
    if (frame.readUInt16BE(l4 + 28) !== P.ETH_P_IP || P.macString(frame, l4 + 16) !== VTEP_MAC) {
      return { kind: 'drop', encap, reason: R.DropMalformed };
    }
    innerOff = l4 + 30;
    strip = h.headerLength + 30;
    if (!innerOk(frame, innerOff, udpLen - 30)) return { kind: 'drop', encap, reason: R.DropMalformed };
    if (P.macString(frame, l4 + 22) !== KNOWN[h.src].vtepMac || !innerSourceOk(P.ipString(frame, innerOff + 12), h.src)) {
      return { kind: 'drop', encap, reason: R.DropInnerSource };
    }
  }
  const innerDst = P.ipString(frame, innerOff + 16);
  const rt = lookup(innerDst);
  if (rt?.kind === RouteKind.LocalWorkload) {
    return { kind: 'decap', encap, strip, innerOff, dest: 'workload', ttl: frame[innerOff + 8], pod: POD_BY_IP.get(innerDst) };
  }
  if (rt?.kind === RouteKind.LocalHost) return { kind: 'decap', encap, strip, innerOff, dest: 'host', ttl: frame[innerOff + 8] };
  return { kind: 'drop', encap, reason: R.DropNoRoute };
}

function plain(frame: Buffer, h: P.Ipv4Header): UplinkOutcome {
  const rt = lookup(h.dst);
  if (rt?.kind !== RouteKind.LocalWorkload) return { kind: 'pass' };
  if (!uplinkSourceOk(h.src)) return { kind: 'rpf' };
  if (h.ttl > 1) return { kind: 'plain-local', pod: POD_BY_IP.get(h.dst)! };
  return { kind: 'pass' };
}

/** The frame a router delivers to `pod`: its MACs, TTL-1 and an incrementally fixed checksum. */
function deliveredTo(pod: typeof LOCAL_POD, ipPacket: Buffer): Buffer {
  const ip = Buffer.from(ipPacket);
  ip[8] -= 1;
  // RFC 1624 incremental update, as any router does it (works for a wrong checksum too).
  const old = ip.readUInt16BE(10);
  let sum = (~old & 0xffff) + 0xfeff; // ~m + m' for the TTL/protocol word: -0x0100
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  return P.ethernet({ dst: pod.mac, src: HOST_VETH_MAC }, ip);
}

// ---------------------------------------------------------------- random frames

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[(rnd() * xs.length) | 0];
}

function fixOuterChecksum(frame: Buffer): void {
  if (frame.length < 34 || frame.readUInt16BE(12) !== P.ETH_P_IP) return;
  const hl = (frame[14] & 15) * 4;
  if (hl < 20 || frame.length < 14 + hl) return;
  frame.writeUInt16BE(0, 24);
  frame.writeUInt16BE(P.internetChecksum(frame.subarray(14, 14 + hl)), 24);
}

/** Valid-looking tunnel and plain frames, then mutated: byte flips in the headers, truncation, IHL and length lies. */
function uplinkFrame(rnd: () => number): Buffer {
  const innerDst = pick(rnd, [LOCAL_POD.ip, LOCAL_POD2.ip, TUNNEL_ADDR, IPIP_NODE.pod, OUTSIDE, '10.244.1.50']);
  const proto = pick(rnd, [P.PROTO_TCP, P.PROTO_UDP, P.PROTO_ICMP, P.PROTO_IPIP]);
  const src = pick(rnd, [IPIP_NODE.addr, VXLAN_NODE.addr, PLAIN_NODE.addr, UNKNOWN_HOST]);
  // Mostly a source the sender may use (one of its pods, its address, its tunnel address), else anything.
  const own: Record<string, string[]> = {
    [IPIP_NODE.addr]: [IPIP_NODE.pod, IPIP_NODE.addr],
    [VXLAN_NODE.addr]: [VXLAN_NODE.pod, VXLAN_NODE.addr, REMOTE_ALLOWED_SOURCE.addr],
    [PLAIN_NODE.addr]: [PLAIN_NODE.pod, PLAIN_NODE.addr, PLAIN_NODE.tunnelAddr],
    [UNKNOWN_HOST]: [UNKNOWN_HOST],
  };
  const innerSrc =
    rnd() < 0.6
      ? pick(rnd, own[src])
      : pick(rnd, [NODE, TUNNEL_ADDR, LOCAL_POD2.ip, '10.244.1.50', POOL_ONLY, OUTSIDE, IPIP_NODE.pod, VXLAN_NODE.pod, PLAIN_NODE.pod, PLAIN_NODE.tunnelAddr, VXLAN_NODE.addr, REMOTE_ALLOWED_SOURCE.addr]);
  const inner = P.ipv4(
    { src: innerSrc, dst: innerDst, protocol: proto, ttl: 1 + ((rnd() * 80) | 0), df: rnd() < 0.5, options: rnd() < 0.1 ? Buffer.alloc(4, 1) : undefined },
    randomBytes(rnd, (rnd() * 300) | 0),
  );
  const dst = rnd() < 0.9 ? NODE : '10.0.0.50';
  let frame: Buffer;
  const shape = rnd();
  if (shape < 0.35) {
    frame = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src, dst, protocol: P.PROTO_IPIP, options: rnd() < 0.1 ? Buffer.alloc(8, 1) : undefined }, inner));
  } else if (shape < 0.7) {
    const vx = Buffer.concat([
      P.vxlanHeader(rnd() < 0.9 ? VNI : (rnd() * 0xffffff) | 0, rnd() < 0.9 ? 0x08 : (rnd() * 256) | 0),
      P.ethernet({ dst: rnd() < 0.9 ? VTEP_MAC : '66:00:00:00:00:77', src: rnd() < 0.9 ? (KNOWN[src]?.vtepMac ?? VXLAN_NODE.vtepMac) : VXLAN_NODE.vtepMac, type: rnd() < 0.95 ? P.ETH_P_IP : P.ETH_P_ARP }, inner),
    ]);
    const port = rnd() < 0.9 ? VXLAN_PORT : pick(rnd, [4790, 8472, 53]);
    frame = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src, dst, protocol: P.PROTO_UDP }, P.udp(src, dst, 40000, port, vx, { checksum: false })));
  } else if (shape < 0.9) {
    frame = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, inner);
  } else {
    frame = Buffer.concat([P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC, type: pick(rnd, [P.ETH_P_IP, P.ETH_P_ARP, P.ETH_P_IPV6]) }, Buffer.alloc(0)), randomBytes(rnd, (rnd() * 200) | 0)]);
  }
  mutate(rnd, frame);
  const cut = rnd();
  if (cut < 0.15) frame = frame.subarray(0, 14 + ((rnd() * (frame.length - 14)) | 0));
  return Buffer.from(frame);
}

function mutate(rnd: () => number, frame: Buffer): void {
  const m = rnd();
  if (m < 0.35) return;
  const flips = 1 + ((rnd() * 3) | 0);
  for (let i = 0; i < flips; i++) {
    const at = 12 + ((rnd() * Math.min(frame.length - 12, 100)) | 0);
    if (at < frame.length) frame[at] = rnd() < 0.5 ? (rnd() * 256) | 0 : frame[at] ^ (1 << ((rnd() * 8) | 0));
  }
  if (rnd() < 0.6) fixOuterChecksum(frame);
}

function workloadFrame(rnd: () => number): Buffer {
  const dst = pick(rnd, [LOCAL_POD.ip, IPIP_NODE.pod, VXLAN_NODE.pod, PLAIN_NODE.pod, OUTSIDE, TUNNEL_ADDR, '10.244.200.1', '10.244.1.50', NODE, IPIP_NODE.addr, VXLAN_NODE.addr]);
  const proto = pick(rnd, [P.PROTO_TCP, P.PROTO_UDP, P.PROTO_ICMP, P.PROTO_IPIP]);
  const size = rnd() < 0.1 ? 1400 + ((rnd() * 200) | 0) : (rnd() * 400) | 0;
  // Mostly its own address; else another pod's, a node's, a public one, or one its endpoint allows (or nearly).
  const src =
    rnd() < 0.7
      ? LOCAL_POD2.ip
      : pick(rnd, [LOCAL_POD.ip, IPIP_NODE.addr, IPIP_NODE.pod, NODE, TUNNEL_ADDR, '8.8.8.8', ALLOWED_SOURCE.addr, '198.51.100.200', '198.51.101.1']);
  const payload = randomBytes(rnd, size);
  if (proto === P.PROTO_UDP && size >= 4 && rnd() < 0.4) payload.writeUInt16BE(VXLAN_PORT, 2);
  let frame = P.ethernet(
    { dst: HOST_VETH_MAC, src: LOCAL_POD2.mac, type: rnd() < 0.95 ? P.ETH_P_IP : P.ETH_P_ARP },
    P.ipv4(
      {
        src,
        dst,
        protocol: proto,
        ttl: (rnd() * 4) | 0 || 64,
        df: rnd() < 0.7,
        mf: rnd() < 0.05,
        fragOffset: rnd() < 0.05 ? 1 + ((rnd() * 100) | 0) : 0,
        options: rnd() < 0.1 ? Buffer.alloc(4 * (1 + ((rnd() * 10) | 0)), 1) : undefined,
      },
      payload,
    ),
  );
  mutate(rnd, frame);
  if (rnd() < 0.1) frame = frame.subarray(0, 14 + ((rnd() * (frame.length - 14)) | 0));
  return Buffer.from(frame);
}

// ---------------------------------------------------------------- oracle: workload / host egress

/** A verdict, and the counter slots (encapsulation, reason) the program must bump for it. */
type Counted = { counted: [Encap, R][] };
type Egress = Counted &
  ({ kind: 'pass' } | { kind: 'drop' } | { kind: 'local'; pod: typeof LOCAL_POD } | { kind: 'encap'; encap: Encap; ttlDec: boolean } | { kind: 'plain' } | { kind: 'icmp' });

const passed = (encap = Encap.None): Egress => ({ kind: 'pass', counted: [[encap, R.Pass]] });
const dropped = (reason: R, encap = Encap.None): Egress => ({ kind: 'drop', counted: [[encap, reason]] });

/** What a workload may not send to a node: IPIP, or UDP to the VXLAN port (or whose port a short first fragment hides). */
function tunnelToNode(frame: Buffer, h: P.Ipv4Header): Encap {
  if (!isClusterNode(h.dst)) return Encap.None;
  if (h.protocol === P.PROTO_IPIP) return Encap.Ipip;
  if (h.protocol !== P.PROTO_UDP || h.fragOffset !== 0) return Encap.None;
  const l4Len = h.totalLength - h.headerLength;
  return l4Len < 8 || frame.readUInt16BE(14 + h.headerLength + 2) === VXLAN_PORT ? Encap.Vxlan : Encap.None;
}

function workloadOracle(frame: Buffer, hostEgress: boolean, ifindex = 0): Egress {
  const o = outerIp(frame);
  if (o === 'not-ip') return passed();
  if (o === 'malformed') return hostEgress ? passed() : dropped(R.DropMalformed);
  const { h } = o;
  const rt = lookup(h.dst);
  if (hostEgress) {
    if (!rt || rt.kind !== RouteKind.RemoteBlock || rt.encap === Encap.None) return passed();
    if (isClusterNode(h.dst)) return passed();
    if (h.protocol === P.PROTO_IPIP) return dropped(R.DropMalformed, rt.encap);
    if (frame.length - 14 + (rt.encap === Encap.Vxlan ? 50 : 20) > UPLINK_MTU) return dropped(R.DropMtuExceeded, rt.encap);
    return { kind: 'encap', encap: rt.encap, ttlDec: false, counted: [[rt.encap, R.Encap]] };
  }
  if (!workloadSourceOk(h.src, ifindex)) return dropped(R.DropSpoofedSource);
  const tunnel = tunnelToNode(frame, h);
  if (tunnel !== Encap.None) return dropped(R.DropTunnelFromWorkload, tunnel);
  if (h.protocol === P.PROTO_IPIP) return dropped(R.DropIpipFromWorkload, Encap.Ipip);
  if (!rt) {
    const src = lookup(h.src);
    return { kind: 'pass', counted: [[Encap.None, src && src.flags & RouteFlags.NatOutgoing ? R.NatOutgoing : R.Pass]] };
  }
  switch (rt.kind) {
    case RouteKind.LocalWorkload:
      return h.ttl <= 1 ? passed() : { kind: 'local', pod: POD_BY_IP.get(h.dst)!, counted: [[Encap.None, R.RedirectLocal]] };
    case RouteKind.RemoteBlock: {
      if (h.ttl <= 1) return passed();
      if (rt.encap === Encap.None) return { kind: 'plain', counted: [[Encap.None, R.ForwardPlain]] };
      const overhead = rt.encap === Encap.Vxlan ? 50 : 20;
      if (frame.length - 14 + overhead > UPLINK_MTU) {
        return h.df
          ? { kind: 'icmp', counted: [[rt.encap, R.DropMtuExceeded], [rt.encap, R.FragNeeded]] }
          : passed(rt.encap);
      }
      return { kind: 'encap', encap: rt.encap, ttlDec: true, counted: [[rt.encap, R.Encap]] };
    }
    case RouteKind.LocalHost:
      return passed();
    default:
      return dropped(R.DropNoRoute);
  }
}

/** Per-slot packet counts, to compare with the kernel's counters exactly. */
class Tally {
  readonly slots = new Map<number, bigint>();
  add(hook: H, encap: Encap, reason: R): void {
    const k = slot(hook, encap, reason);
    this.slots.set(k, (this.slots.get(k) ?? 0n) + 1n);
  }
  sorted(): [number, bigint][] {
    return [...this.slots.entries()].sort((a, b) => a[0] - b[0]);
  }
  /** "reason/encap": packets, for the log. */
  summary(): string {
    return JSON.stringify(Object.fromEntries(this.sorted().map(([k, v]) => [`${R[k % 32]}/${Encap[Math.floor(k / 32) % 3]}`, Number(v)])));
  }
}
const sortedDelta = (d: Map<number, bigint>): [number, bigint][] => [...d.entries()].sort((a, b) => a[0] - b[0]);

let fx: Fixture;
const CACHE_GEN = 0x5eed;

function totalFor(delta: Map<number, bigint>, hook: H): bigint {
  let n = 0n;
  for (const [s, v] of delta) if (Math.floor(s / (3 * 32)) === hook) n += v;
  return n;
}

kernelDescribe('data path fuzz (BPF_PROG_TEST_RUN, seeded)', () => {
  beforeAll(() => {
    fx = loadFixture();
  });
  afterAll(() => {
    fx?.close();
  });

  it('hand-made malformed tunnel packets are dropped and never decapsulated', () => {
    const inner = P.ipv4({ src: '10.244.3.9', dst: LOCAL_POD.ip, protocol: P.PROTO_UDP }, P.pattern(40));
    const ipip = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src: IPIP_NODE.addr, dst: NODE, protocol: P.PROTO_IPIP }, inner));
    const vx = P.ethernet(
      { dst: UPLINK_MAC, src: PEER_UPLINK_MAC },
      P.ipv4({ src: VXLAN_NODE.addr, dst: NODE, protocol: P.PROTO_UDP }, P.udp(VXLAN_NODE.addr, NODE, 1, VXLAN_PORT, Buffer.concat([P.vxlanHeader(VNI), P.ethernet({ dst: VTEP_MAC, src: VXLAN_NODE.vtepMac }, inner)]), { checksum: false })),
    );
    const frames: Buffer[] = [];
    // Truncated at every byte: Ethernet (test runs need 14 bytes at least), IP, UDP, VXLAN, inner Ethernet, inner IP.
    for (let n = 14; n < vx.length; n++) frames.push(vx.subarray(0, n));
    for (let n = 14; n < ipip.length; n++) frames.push(ipip.subarray(0, n));
    for (let ihl = 0; ihl < 16; ihl++) {
      if (ihl === 5) continue; // the intact header
      const f = Buffer.from(ipip);
      f[14] = 0x40 | ihl;
      fixOuterChecksum(f);
      frames.push(f);
    }
    for (const frame of frames) {
      const expected = uplinkOracle(frame);
      expect(expected.kind, `oracle decapsulates a damaged frame of ${frame.length} bytes`).not.toBe('decap');
      for (const prog of [fx.dp.programs.fromUplink, fx.dp.programs.fromUplinkXdp]) {
        if (prog === fx.dp.programs.fromUplink && !tcRunnable(frame)) continue;
        const r = prog.testRun({ data: frame, repeat: 1 });
        const xdp = prog === fx.dp.programs.fromUplinkXdp;
        if (expected.kind === 'drop') expect(r.retval).toBe(xdp ? XDP_DROP : TC_ACT_SHOT);
        else {
          expect(r.retval).toBe(xdp ? XDP_PASS : TC_ACT_OK);
          expect(r.data).toEqual(frame);
        }
      }
    }
  });

  // Every program twice: with the lookup caches off (cache_gen 0) and on, where random addresses make lookups of
  // one packet share cache slots and evict each other.
  for (const [name, hook, xdp, cache] of [
    ['from_uplink (tc)', H.FromUplinkTc, false, false],
    ['from_uplink_xdp', H.FromUplinkXdp, true, false],
    ['from_uplink (tc), lookup caches on', H.FromUplinkTc, false, true],
    ['from_uplink_xdp, lookup caches on', H.FromUplinkXdp, true, true],
  ] as const) {
    it(`${name}: ${PACKETS_PER_PROGRAM} seeded random frames, decapsulation only of valid known-node tunnels`, () => {
      const prog: BpfProgram = xdp ? fx.dp.programs.fromUplinkXdp : fx.dp.programs.fromUplink;
      const rnd = seededRandom((xdp ? 0xdeca9 : 0xdeca7) ^ (cache ? 0xc0de : 0));
      fx.setCacheGen(cache ? CACHE_GEN : 0);
      const before = fx.counters();
      const expectDecap = [0, 0, 0];
      const kinds = { decap: 0, drop: 0, pass: 0, 'plain-local': 0, rpf: 0 };
      const tally = new Tally();
      let runs = 0;
      for (let i = 0; i < PACKETS_PER_PROGRAM; i++) {
        const frame = uplinkFrame(rnd);
        if (!xdp && !tcRunnable(frame)) continue;
        runs++;
        const want = uplinkOracle(frame);
        kinds[want.kind]++;
        if (want.kind === 'decap') tally.add(hook, want.encap, R.Decap);
        else if (want.kind === 'drop') tally.add(hook, want.encap, want.reason);
        else if (want.kind === 'plain-local' && !xdp) tally.add(hook, Encap.None, R.RedirectLocal);
        else if (want.kind === 'rpf' && !xdp) tally.add(hook, Encap.None, R.DropRpf);
        else tally.add(hook, Encap.None, R.Pass);
        const r = prog.testRun({ data: frame, repeat: 1 });
        const verdict = (v: number) => check(r.retval === v, `verdict ${v} expected for ${want.kind}`, frame, i, r.retval);
        const output = (b: Buffer) => check(r.data.equals(b), `output differs for ${want.kind}`, frame, i, r.data.toString('hex'));
        if (want.kind === 'decap') {
          expectDecap[want.encap]++;
          const innerIp = frame.subarray(want.innerOff, want.innerOff + frame.readUInt16BE(want.innerOff + 2));
          const innerWire = frame.subarray(want.innerOff);
          if (xdp || want.dest === 'host' || want.ttl <= 1) {
            verdict(xdp ? XDP_PASS : TC_ACT_OK);
            output(Buffer.concat([frame.subarray(0, 12), Buffer.from([8, 0]), innerWire]));
          } else {
            verdict(TC_ACT_REDIRECT);
            output(deliveredTo(want.pod!, Buffer.concat([innerIp, innerWire.subarray(innerIp.length)])));
          }
        } else if (want.kind === 'drop') {
          verdict(xdp ? XDP_DROP : TC_ACT_SHOT);
        } else if (want.kind === 'plain-local' && !xdp) {
          verdict(TC_ACT_REDIRECT);
          output(deliveredTo(want.pod, frame.subarray(14)));
        } else if (want.kind === 'rpf' && !xdp) {
          verdict(TC_ACT_SHOT);
        } else {
          verdict(xdp ? XDP_PASS : TC_ACT_OK);
          output(frame);
        }
      }
      const delta = counterDelta(before, fx.counters());
      expect(runs).toBeGreaterThan(PACKETS_PER_PROGRAM * 0.95);
      expect(totalFor(delta, hook)).toBe(BigInt(runs)); // every packet counted exactly once
      expect(sortedDelta(delta)).toEqual(tally.sorted()); // and under exactly the slot the specification names
      for (const encap of [Encap.Ipip, Encap.Vxlan]) {
        expect(delta.get(slot(hook, encap, R.Decap)) ?? 0n).toBe(BigInt(expectDecap[encap]));
      }
      // The mix must really exercise every outcome, or the test proves little.
      for (const [k, n] of Object.entries(kinds)) expect(n, `outcome ${k}`).toBeGreaterThan(PACKETS_PER_PROGRAM / 100);
      console.log(`${name}: outcomes ${JSON.stringify(kinds)}, decap ipip=${expectDecap[1]} vxlan=${expectDecap[2]}, counters ${tally.summary()}`);
    });
  }

  for (const [name, hook, hostEgress, cache] of [
    ['from_workload', H.FromWorkload, false, false],
    ['to_uplink', H.ToUplink, true, false],
    ['from_workload, lookup caches on', H.FromWorkload, false, true],
    ['to_uplink, lookup caches on', H.ToUplink, true, true],
  ] as const) {
    it(`${name}: ${PACKETS_PER_PROGRAM} seeded random frames, verdicts and outputs as specified`, () => {
      const prog: BpfProgram = hostEgress ? fx.dp.programs.toUplink : fx.dp.programs.fromWorkload;
      const rnd = seededRandom((hostEgress ? 0xe9e55 : 0x3e11) ^ (cache ? 0xc0de : 0));
      fx.setCacheGen(cache ? CACHE_GEN : 0);
      const before = fx.counters();
      const kinds: Record<string, number> = {};
      let icmps = 0;
      let runs = 0;
      const tally = new Tally();
      const handOffs = { preResolved: 0, kernel: 0 };
      for (let i = 0; i < PACKETS_PER_PROGRAM; i++) {
        const frame = workloadFrame(rnd);
        // The veth it comes in on: mostly the sender's own, sometimes another workload's or none.
        const ifindex = rnd() < 0.9 ? LOCAL_POD2.ifindex : pick(rnd, [LOCAL_POD.ifindex, 0]);
        if (!tcRunnable(frame)) continue;
        runs++;
        const want = workloadOracle(frame, hostEgress, ifindex);
        kinds[want.kind] = (kinds[want.kind] ?? 0) + 1;
        for (const [encap, reason] of want.counted) tally.add(hook, encap, reason);
        const r = prog.testRun({ data: frame, repeat: 1, ...(hostEgress ? {} : { ctx: ingressCtx(ifindex) }) });
        const verdict = (v: number) => check(r.retval === v, `verdict ${v} expected for ${want.kind}`, frame, i, r.retval);
        const output = (ok: boolean) => check(ok, `output wrong for ${want.kind}`, frame, i, r.data.toString('hex'));
        switch (want.kind) {
          case 'pass':
            verdict(TC_ACT_OK);
            output(r.data.equals(frame));
            break;
          case 'drop':
            verdict(TC_ACT_SHOT);
            break;
          case 'local':
            verdict(TC_ACT_REDIRECT);
            output(r.data.equals(deliveredTo(want.pod, frame.subarray(14))));
            break;
          case 'plain':
            verdict(TC_ACT_REDIRECT);
            output(r.data.subarray(14).equals(deliveredTo(LOCAL_POD, frame.subarray(14)).subarray(14)));
            break;
          case 'icmp': {
            icmps++;
            verdict(TC_ACT_REDIRECT);
            const d = P.dissect(r.data);
            output(d.icmp?.type === 3 && d.icmp.code === 4 && d.icmp.checksumOk && d.ip!.checksumOk === true);
            break;
          }
          case 'encap': {
            verdict(TC_ACT_REDIRECT);
            const overhead = want.encap === Encap.Vxlan ? 50 : 20;
            output(r.data.length === frame.length + overhead);
            const outer = P.dissectIpv4Header(r.data.subarray(14)) as P.Ipv4Header;
            output(outer.checksumOk && outer.src === NODE && outer.totalLength === frame.length - 14 + overhead);
            const expectedInner = want.ttlDec ? deliveredTo(LOCAL_POD, frame.subarray(14)).subarray(14) : frame.subarray(14);
            output(r.data.subarray(14 + overhead).equals(expectedInner));
            // The hand-off: the pre-resolved Ethernet header of the outer destination's next hop, else the frame's own.
            output(r.data.subarray(0, 14).equals(handOffEthernet(outer.dst, frame)));
            handOffs[r.data.subarray(0, 14).equals(frame.subarray(0, 14)) ? 'kernel' : 'preResolved']++;
            break;
          }
        }
      }
      const delta = counterDelta(before, fx.counters());
      // Frag-needed counts the ICMP and the drop of the original: one extra count each.
      expect(runs).toBeGreaterThan(PACKETS_PER_PROGRAM * 0.95);
      expect(totalFor(delta, hook)).toBe(BigInt(runs + icmps));
      expect(sortedDelta(delta)).toEqual(tally.sorted());
      // Both hand-offs must really be exercised (VXLAN_NODE has a next_hop_map entry, IPIP_NODE none).
      for (const [k, n] of Object.entries(handOffs)) expect(n, `hand-off ${k}`).toBeGreaterThan(PACKETS_PER_PROGRAM / 100);
      console.log(`${name}: outcomes ${JSON.stringify(kinds)}, hand-offs ${JSON.stringify(handOffs)}, counters ${tally.summary()}`);
    });
  }
});
