// SPDX-License-Identifier: Apache-2.0
// Golden packets through BPF_PROG_TEST_RUN: every program, every route kind and encapsulation, checked byte by
// byte against packets built independently in test/harness/packets.ts, with verdicts and counters.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelDescribe } from '../harness/privileges.js';
import * as P from '../harness/packets.js';
import {
  HOST_VETH_MAC,
  IPIP_NODE,
  LOCAL_BLOCK_FREE,
  LOCAL_POD,
  LOCAL_POD2,
  NODE,
  OUTSIDE,
  PEER_UPLINK_MAC,
  PLAIN_NODE,
  POOL_ONLY,
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
  REMOTE_ALLOWED_SOURCE,
  counterDelta,
  handOffEthernet,
  ingressCtx,
  writeNextHop,
  GATEWAY_MAC,
  FIXTURE_UPLINK_IFINDEX,
  loadFixture,
  loadableIsaBuilds,
  onOneCpu,
  slot,
  type Fixture,
} from '../harness/datapath.js';
import {
  COUNTER_VALUE_SIZE,
  CounterHook as H,
  CounterReason as R,
  Encap,
  KNOWN_NODE_KEY_SIZE,
  KNOWN_NODE_VALUE_SIZE,
  MAP_NAMES,
  NEXT_HOP_KEY_SIZE,
  NEXT_HOP_VALUE_SIZE,
  NextHopFlags,
  encodeNextHopKey,
  ROUTE_KEY_SIZE,
  ROUTE_VALUE_SIZE,
  SETTINGS_VALUE_SIZE,
  SOURCE_ALLOW_KEY_SIZE,
  SOURCE_ALLOW_VALUE_SIZE,
  NodeFlags,
  RouteKind,
  ZERO_IP,
  ZERO_MAC,
  encodeKnownNodeKey,
  encodeKnownNodeValue,
  encodeRouteKey,
  encodeRouteValue,
} from '../../src/control/maps/layout.js';
import type { BpfProgram } from '../../src/control/bpf/types.js';

let fx: Fixture;
/** Largest frame BPF_PROG_TEST_RUN takes for an skb: one page minus headroom and skb_shared_info. */
const TEST_RUN_MAX = 3500;

interface Run {
  retval: number;
  out: Buffer;
  delta: Map<number, bigint>;
}

/** The veth a workload's frame comes in on: its source pod's, unless the test says otherwise (0: none). */
function vethOf(frame: Buffer): number {
  const src = frame.length >= 34 ? P.ipString(frame, 26) : '';
  return [LOCAL_POD, LOCAL_POD2].find((p) => p.ip === src)?.ifindex ?? 0;
}

function run(prog: BpfProgram, frame: Buffer, ingressIfindex?: number, gsoSize = 0): Run {
  const before = fx.counters();
  const ifindex = ingressIfindex ?? (prog === fx.dp.programs.fromWorkload ? vethOf(frame) : 0);
  const r = prog.testRun({ data: frame, repeat: 1, ...(ifindex || gsoSize ? { ctx: ingressCtx(ifindex, gsoSize) } : {}) });
  return { retval: r.retval, out: r.data, delta: counterDelta(before, fx.counters()) };
}

function expectCounted(r: Run, hook: H, encap: Encap, reason: R): void {
  expect([...r.delta.entries()]).toEqual([[slot(hook, encap, reason), 1n]]);
}

const POD_MAC = LOCAL_POD.mac;

/** Both uplink hooks on one frame: tc gives `tc`, XDP gives `xdp`, each counting (encap, reason) once. */
function expectUplink(frame: Buffer, tc: number, xdp: number, encap: Encap, reason: R): void {
  const t = run(fx.dp.programs.fromUplink, frame);
  expect(t.retval).toBe(tc);
  expectCounted(t, H.FromUplinkTc, encap, reason);
  const x = run(fx.dp.programs.fromUplinkXdp, frame);
  expect(x.retval).toBe(xdp);
  expectCounted(x, H.FromUplinkXdp, encap, reason);
}

/** A frame as a workload sends it: to the host veth's MAC. */
function fromPod(ip: P.Ipv4Spec, l4: Buffer): Buffer {
  return P.ethernet({ dst: HOST_VETH_MAC, src: POD_MAC }, P.ipv4(ip, l4));
}

type L4Kind = 'tcp' | 'udp' | 'icmp';
function l4(kind: L4Kind, src: string, dst: string, payload: Buffer): { protocol: number; bytes: Buffer } {
  if (kind === 'tcp') return { protocol: P.PROTO_TCP, bytes: P.tcp(src, dst, 40000, 80, payload) };
  if (kind === 'udp') return { protocol: P.PROTO_UDP, bytes: P.udp(src, dst, 40000, 53, payload) };
  return { protocol: P.PROTO_ICMP, bytes: P.icmpEcho(7, 1, payload) };
}

/** The inner packet as a router forwards it: TTL one less, checksum recomputed independently. */
function forwarded(ip: P.Ipv4Spec, l4bytes: Buffer): Buffer {
  return P.ipv4({ ...ip, ttl: (ip.ttl ?? 64) - 1 }, l4bytes);
}

function checkOuter(
  d: P.Dissected,
  opts: { protocol: number; dst: string; innerLen: number; overhead: number; tos: number; df: boolean },
): void {
  const ip = d.ip!;
  expect(ip.version).toBe(4);
  expect(ip.ihl).toBe(5);
  expect(ip.protocol).toBe(opts.protocol);
  expect(ip.src).toBe(NODE);
  expect(ip.dst).toBe(opts.dst);
  expect(ip.ttl).toBe(64);
  expect(ip.tos).toBe(opts.tos);
  expect(ip.df).toBe(opts.df);
  expect(ip.mf).toBe(false);
  expect(ip.fragOffset).toBe(0);
  if (opts.df) expect(ip.id).toBe(0);
  expect(ip.totalLength).toBe(opts.innerLen + opts.overhead);
  expect(ip.checksumOk).toBe(true);
}

/** Checks an encapsulated frame completely, byte by byte for everything but the outer id (random without DF). */
function checkEncapsulated(out: Buffer, input: Buffer, innerExpected: Buffer, encap: Encap, nextHop: string, remoteVtep?: string): P.Dissected {
  const inIp = P.dissectIpv4Header(input.subarray(14)) as P.Ipv4Header;
  const d = P.dissect(out);
  // A pre-resolved next hop's Ethernet header (bpf_redirect), else the frame's own (bpf_redirect_neigh replaces it).
  expect(out.subarray(0, 14)).toEqual(handOffEthernet(nextHop, input));
  if (encap === Encap.Ipip) {
    checkOuter(d, { protocol: P.PROTO_IPIP, dst: nextHop, innerLen: innerExpected.length, overhead: 20, tos: inIp.tos, df: inIp.df });
    expect(out.length).toBe(14 + 20 + innerExpected.length);
    expect(out.subarray(34)).toEqual(innerExpected);
  } else {
    checkOuter(d, { protocol: P.PROTO_UDP, dst: nextHop, innerLen: innerExpected.length, overhead: 50, tos: inIp.tos, df: inIp.df });
    expect(out.length).toBe(14 + 50 + innerExpected.length);
    expect(d.udp!.dport).toBe(VXLAN_PORT);
    expect(d.udp!.sport).toBeGreaterThanOrEqual(49152);
    expect(d.udp!.length).toBe(8 + 8 + 14 + innerExpected.length);
    expect(d.udp!.checksum).toBe(0);
    expect(out.subarray(42, 50)).toEqual(P.vxlanHeader(VNI));
    expect(out.subarray(50, 64)).toEqual(P.ethernet({ dst: remoteVtep!, src: VTEP_MAC }, Buffer.alloc(0)));
    expect(out.subarray(64)).toEqual(innerExpected);
  }
  return d;
}

// Every instruction-set build this kernel loads (build/bpf for ISA v4, build/bpf/isa-v3 for kernels before 6.6)
// must make the same packets.
for (const { isa, dir } of loadableIsaBuilds())
kernelDescribe(`data path golden packets (BPF_PROG_TEST_RUN, ISA ${isa} build)`, () => {
  beforeAll(() => {
    fx = loadFixture(dir);
  });
  afterAll(() => {
    fx?.close();
  });

  it('map key and value sizes of the loaded objects equal layout.ts (BTF agrees with the TS mirror)', () => {
    const m = fx.dp.maps;
    expect([m.routes.name, m.routes.keySize, m.routes.valueSize]).toEqual([MAP_NAMES.routes, ROUTE_KEY_SIZE, ROUTE_VALUE_SIZE]);
    expect([m.knownNodes.name, m.knownNodes.keySize, m.knownNodes.valueSize]).toEqual([
      MAP_NAMES.knownNodes,
      KNOWN_NODE_KEY_SIZE,
      KNOWN_NODE_VALUE_SIZE,
    ]);
    expect([m.settings.name, m.settings.keySize, m.settings.valueSize]).toEqual([MAP_NAMES.settings, 4, SETTINGS_VALUE_SIZE]);
    expect([m.counters.name, m.counters.keySize, m.counters.valueSize]).toEqual([MAP_NAMES.counters, 4, COUNTER_VALUE_SIZE]);
    expect([m.sourceAllow.name, m.sourceAllow.keySize, m.sourceAllow.valueSize, m.sourceAllow.typeName]).toEqual([
      MAP_NAMES.sourceAllow,
      SOURCE_ALLOW_KEY_SIZE,
      SOURCE_ALLOW_VALUE_SIZE,
      'lpm_trie',
    ]);
    expect([m.nextHops.name, m.nextHops.keySize, m.nextHops.valueSize, m.nextHops.typeName]).toEqual([MAP_NAMES.nextHops, NEXT_HOP_KEY_SIZE, NEXT_HOP_VALUE_SIZE, 'hash']);
    expect(m.routes.typeName).toBe('lpm_trie');
    expect(m.counters.isPerCpu).toBe(true);
  });

  // ------------------------------------------------------------------ from_workload

  it('from_workload: local workload gets MACs rewritten, TTL-1, redirect to its peer', () => {
    for (const kind of ['tcp', 'udp', 'icmp'] as const) {
      const seg = l4(kind, LOCAL_POD2.ip, LOCAL_POD.ip, P.pattern(100));
      const ip: P.Ipv4Spec = { src: LOCAL_POD2.ip, dst: LOCAL_POD.ip, protocol: seg.protocol, ttl: 64, tos: 0x10, df: true };
      const r = run(fx.dp.programs.fromWorkload, fromPod(ip, seg.bytes));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expect(r.out).toEqual(P.ethernet({ dst: LOCAL_POD.mac, src: HOST_VETH_MAC }, forwarded(ip, seg.bytes)));
      expect(P.l4ChecksumOk(r.out.subarray(14))).toBe(true);
      expectCounted(r, H.FromWorkload, Encap.None, R.RedirectLocal);
    }
  });

  const sizes = [0, 1, 18, 100, 1000, 1400];
  for (const [encap, target] of [
    [Encap.Ipip, IPIP_NODE],
    [Encap.Vxlan, VXLAN_NODE],
  ] as const) {
    const name = encap === Encap.Ipip ? 'IPIP' : 'VXLAN';
    const overhead = encap === Encap.Ipip ? 20 : 50;
    const remoteVtep = encap === Encap.Vxlan ? VXLAN_NODE.vtepMac : undefined;

    it(`from_workload: ${name} encapsulation of TCP/UDP/ICMP, sizes ${sizes.join(',')} and the largest that fits`, () => {
      for (const kind of ['tcp', 'udp', 'icmp'] as const) {
        const hdr = kind === 'tcp' ? 20 : 8;
        const largest = UPLINK_MTU - overhead - 20 - hdr;
        for (const size of [...sizes, largest]) {
          for (const df of [true, false]) {
            const seg = l4(kind, LOCAL_POD.ip, target.pod, P.pattern(size, size));
            const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: target.pod, protocol: seg.protocol, ttl: 33, tos: 0xb9, df, id: 0x1234 };
            const input = fromPod(ip, seg.bytes);
            const r = run(fx.dp.programs.fromWorkload, input);
            expect(r.retval, `${kind} ${size} df=${df}`).toBe(TC_ACT_REDIRECT);
            const d = checkEncapsulated(r.out, input, forwarded(ip, seg.bytes), encap, target.addr, remoteVtep);
            expect(d.inner!.ip!.checksumOk).toBe(true);
            expectCounted(r, H.FromWorkload, encap, R.Encap);
          }
        }
      }
    });

    it(`from_workload: ${name} carries IP options and fragments unchanged but for TTL`, () => {
      const options = Buffer.from([0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00]); // router alert + NOP + EOL pad
      const cases: P.Ipv4Spec[] = [
        { src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_UDP, options, df: true },
        { src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_UDP, mf: true, id: 77 },
        { src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_UDP, fragOffset: 185, id: 77 },
        { src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_TCP, options: Buffer.alloc(40, 1), df: true },
      ];
      for (const ip of cases) {
        const payload = P.pattern(200, 5);
        const input = fromPod(ip, payload);
        const r = run(fx.dp.programs.fromWorkload, input);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        checkEncapsulated(r.out, input, forwarded(ip, payload), encap, target.addr, remoteVtep);
        expectCounted(r, H.FromWorkload, encap, R.Encap);
      }
    });

    // BPF_PROG_TEST_RUN builds the skb in one page, so TEST_RUN_MAX is the largest frame it accepts; real
    // 9000-byte frames are left to the namespace traffic test.
    it(`from_workload: ${name} jumbo-MTU uplink (9000) carries frames far above 1500`, () => {
      fx.setMtu(9000);
      try {
        const seg = l4('udp', LOCAL_POD.ip, target.pod, P.pattern(TEST_RUN_MAX - 14 - 28, 9));
        const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: target.pod, protocol: seg.protocol, df: true };
        const input = fromPod(ip, seg.bytes);
        expect(input.length).toBe(TEST_RUN_MAX);
        const r = run(fx.dp.programs.fromWorkload, input);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        checkEncapsulated(r.out, input, forwarded(ip, seg.bytes), encap, target.addr, remoteVtep);
      } finally {
        fx.setMtu(UPLINK_MTU);
      }
    });

    it(`from_workload: ${name} source port is stable per flow and spread across flows`, () => {
      const ports = new Set<number>();
      let firstAgain = -1;
      let first = -1;
      for (let i = 0; i < 64; i++) {
        const seg = P.udp(LOCAL_POD.ip, target.pod, 10000 + i, 53, P.pattern(10));
        const r = run(fx.dp.programs.fromWorkload, fromPod({ src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_UDP }, seg));
        const d = P.dissect(r.out);
        if (encap === Encap.Vxlan) {
          ports.add(d.udp!.sport);
          if (i === 0) first = d.udp!.sport;
        }
      }
      if (encap === Encap.Vxlan) {
        const seg = P.udp(LOCAL_POD.ip, target.pod, 10000, 53, P.pattern(99));
        const r = run(fx.dp.programs.fromWorkload, fromPod({ src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_UDP }, seg));
        firstAgain = P.dissect(r.out).udp!.sport;
        expect(firstAgain).toBe(first);
        expect(ports.size).toBeGreaterThan(48);
        for (const p of ports) expect(p >= 49152 && p <= 65535).toBe(true);
      } else {
        expect(ports.size).toBe(0); // IPIP has no ports; the loop above only checks it stays encapsulable
      }
    });

    it(`from_workload: ${name} DF packet too big gets ICMP frag-needed (MTU ${UPLINK_MTU - overhead}) back into the pod`, () => {
      for (const options of [undefined, Buffer.from([1, 1, 1, 0])]) {
        const ihl = options ? 24 : 20;
        const payload = P.pattern(UPLINK_MTU - overhead - ihl - 8 + 1, 3); // one byte too many
        const seg = P.udp(LOCAL_POD.ip, target.pod, 5555, 6666, payload);
        const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_UDP, df: true, ttl: 50, options, id: 4242 };
        const input = fromPod(ip, seg);
        const r = run(fx.dp.programs.fromWorkload, input);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect([...r.delta.entries()].sort()).toEqual(
          [
            [slot(H.FromWorkload, encap, R.FragNeeded), 1n],
            [slot(H.FromWorkload, encap, R.DropMtuExceeded), 1n],
          ].sort(),
        );
        const quote = input.subarray(14, 14 + ihl + 8);
        expect(r.out.length).toBe(14 + 20 + 8 + quote.length);
        const d = P.dissect(r.out);
        expect(d.eth).toEqual({ dst: POD_MAC, src: HOST_VETH_MAC, type: P.ETH_P_IP });
        expect(d.ip!.src).toBe(TUNNEL_ADDR);
        expect(d.ip!.dst).toBe(LOCAL_POD.ip);
        expect(d.ip!.protocol).toBe(P.PROTO_ICMP);
        expect(d.ip!.totalLength).toBe(20 + 8 + quote.length);
        expect(d.ip!.checksumOk).toBe(true);
        expect(d.ip!.ttl).toBe(64);
        expect(d.icmp!.type).toBe(3);
        expect(d.icmp!.code).toBe(4);
        expect(d.icmp!.rest).toBe(UPLINK_MTU - overhead); // unused (0) + next-hop MTU
        expect(d.icmp!.checksumOk).toBe(true);
        expect(d.icmp!.body).toEqual(quote); // original header, options and TTL untouched, + 8 bytes
      }
    });

    it(`from_workload: ${name} non-DF packet too big goes to the stack unchanged (it fragments to the route MTU)`, () => {
      const payload = P.pattern(UPLINK_MTU - overhead - 28 + 1);
      const input = fromPod({ src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_UDP }, P.udp(LOCAL_POD.ip, target.pod, 1, 2, payload));
      const r = run(fx.dp.programs.fromWorkload, input);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out).toEqual(input);
      expectCounted(r, H.FromWorkload, encap, R.Pass);
    });
  }

  it('from_workload: MTU from bpf_check_mtu when settings say 0 (lo: 65536, so big frames fit)', () => {
    fx.setMtu(0);
    try {
      const seg = P.udp(LOCAL_POD.ip, IPIP_NODE.pod, 1, 2, P.pattern(TEST_RUN_MAX - 14 - 28));
      const r = run(fx.dp.programs.fromWorkload, fromPod({ src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, df: true }, seg));
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expectCounted(r, H.FromWorkload, Encap.Ipip, R.Encap);
    } finally {
      fx.setMtu(UPLINK_MTU);
    }
  });

  it('from_workload: unencapsulated remote block is forwarded as is, TTL-1 (redirect_neigh to the next hop)', () => {
    const seg = P.tcp(LOCAL_POD.ip, PLAIN_NODE.pod, 1234, 443, P.pattern(500));
    const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: PLAIN_NODE.pod, protocol: P.PROTO_TCP, ttl: 64, df: true };
    const input = fromPod(ip, seg);
    const r = run(fx.dp.programs.fromWorkload, input);
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.out).toEqual(P.ethernet({ dst: HOST_VETH_MAC, src: POD_MAC }, forwarded(ip, seg)));
    expectCounted(r, H.FromWorkload, Encap.None, R.ForwardPlain);
  });

  it('from_workload: pool without block and our block without workload are dropped NO_ROUTE', () => {
    for (const dst of [POOL_ONLY, LOCAL_BLOCK_FREE]) {
      const r = run(fx.dp.programs.fromWorkload, fromPod({ src: LOCAL_POD.ip, dst, protocol: P.PROTO_UDP }, P.udp(LOCAL_POD.ip, dst, 1, 2, P.pattern(8))));
      expect(r.retval).toBe(TC_ACT_SHOT);
      expectCounted(r, H.FromWorkload, Encap.None, R.DropNoRoute);
    }
  });

  it('from_workload: tunnel address and outside destinations go to the stack; natOutgoing counted by source', () => {
    const toHost = fromPod({ src: LOCAL_POD.ip, dst: TUNNEL_ADDR, protocol: P.PROTO_UDP }, P.udp(LOCAL_POD.ip, TUNNEL_ADDR, 1, 2, P.pattern(8)));
    let r = run(fx.dp.programs.fromWorkload, toHost);
    expect([r.retval, r.out.equals(toHost)]).toEqual([TC_ACT_OK, true]);
    expectCounted(r, H.FromWorkload, Encap.None, R.Pass);

    const outside = fromPod({ src: LOCAL_POD.ip, dst: OUTSIDE, protocol: P.PROTO_UDP }, P.udp(LOCAL_POD.ip, OUTSIDE, 1, 2, P.pattern(8)));
    r = run(fx.dp.programs.fromWorkload, outside);
    expect([r.retval, r.out.equals(outside)]).toEqual([TC_ACT_OK, true]);
    expectCounted(r, H.FromWorkload, Encap.None, R.NatOutgoing);

    // A source outside every pool that the endpoint allows is not masqueraded (only pool sources are).
    const allowed = fromPod({ src: ALLOWED_SOURCE.addr, dst: OUTSIDE, protocol: P.PROTO_UDP }, P.udp(ALLOWED_SOURCE.addr, OUTSIDE, 1, 2, P.pattern(8)));
    r = run(fx.dp.programs.fromWorkload, allowed, ALLOWED_SOURCE.ifindex);
    expect([r.retval, r.out.equals(allowed)]).toEqual([TC_ACT_OK, true]);
    expectCounted(r, H.FromWorkload, Encap.None, R.Pass);
  });

  it('from_workload: IPIP sent by a workload is dropped and counted', () => {
    const inner = P.ipv4({ src: LOCAL_POD.ip, dst: '10.244.3.9', protocol: P.PROTO_UDP }, P.pattern(20));
    const r = run(fx.dp.programs.fromWorkload, fromPod({ src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_IPIP }, inner));
    expect(r.retval).toBe(TC_ACT_SHOT);
    expectCounted(r, H.FromWorkload, Encap.Ipip, R.DropIpipFromWorkload);
  });

  it('from_workload: ARP and IPv6 pass; TTL 1 goes to the stack for time-exceeded; malformed IPv4 dropped', () => {
    const arp = P.ethernet({ dst: 'ff:ff:ff:ff:ff:ff', src: POD_MAC, type: P.ETH_P_ARP }, P.pattern(28));
    let r = run(fx.dp.programs.fromWorkload, arp);
    expect([r.retval, r.out.equals(arp)]).toEqual([TC_ACT_OK, true]);
    expectCounted(r, H.FromWorkload, Encap.None, R.Pass);

    const ttl1 = fromPod({ src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, ttl: 1 }, P.pattern(16));
    r = run(fx.dp.programs.fromWorkload, ttl1);
    expect([r.retval, r.out.equals(ttl1)]).toEqual([TC_ACT_OK, true]);

    const badIhl = fromPod({ src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, ihl: 4 }, P.pattern(16));
    r = run(fx.dp.programs.fromWorkload, badIhl);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expectCounted(r, H.FromWorkload, Encap.None, R.DropMalformed);
  });

  // ------------------------------------------------------------------ to_uplink

  for (const [encap, target] of [
    [Encap.Ipip, IPIP_NODE],
    [Encap.Vxlan, VXLAN_NODE],
  ] as const) {
    it(`to_uplink: host traffic from the tunnel address is ${encap === Encap.Ipip ? 'IPIP' : 'VXLAN'}-encapsulated, TTL kept`, () => {
      const seg = P.tcp(TUNNEL_ADDR, target.pod, 33333, 8080, P.pattern(700));
      const ip: P.Ipv4Spec = { src: TUNNEL_ADDR, dst: target.pod, protocol: P.PROTO_TCP, df: true, tos: 0x02 };
      // The kernel filled L2 for the inner destination (whatever it resolved): the program must not care.
      const input = P.ethernet({ dst: '00:00:00:00:00:00', src: UPLINK_MAC }, P.ipv4(ip, seg));
      const r = run(fx.dp.programs.toUplink, input);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      checkEncapsulated(r.out, input, P.ipv4(ip, seg), encap, target.addr, encap === Encap.Vxlan ? VXLAN_NODE.vtepMac : undefined);
      expectCounted(r, H.ToUplink, encap, R.Encap);
    });
  }

  it('encapsulation: a non-GSO packet gets its room from change_head, a GSO packet from adjust_room (lib/grow.h)', () => {
    // A test run's GSO skb has a gso_size but no gso_type: adjust_room refuses to resize it (a real GSO skb has
    // one), change_head would not. So the refusal shows which helper a GSO packet got, and the same packet
    // without GSO shows the other one's result, byte for byte what adjust_room made before.
    for (const [encap, target] of [
      [Encap.Ipip, IPIP_NODE],
      [Encap.Vxlan, VXLAN_NODE],
    ] as const) {
      const remoteVtep = encap === Encap.Vxlan ? VXLAN_NODE.vtepMac : undefined;
      const seg = P.tcp(LOCAL_POD.ip, target.pod, 40000, 80, P.pattern(1000));
      const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: target.pod, protocol: P.PROTO_TCP, df: true, ttl: 20 };
      const input = fromPod(ip, seg);
      const plain = run(fx.dp.programs.fromWorkload, input);
      expect(plain.retval).toBe(TC_ACT_REDIRECT);
      checkEncapsulated(plain.out, input, forwarded(ip, seg), encap, target.addr, remoteVtep);
      expectCounted(plain, H.FromWorkload, encap, R.Encap);
      const gso = run(fx.dp.programs.fromWorkload, input, LOCAL_POD.ifindex, 500);
      expect(gso.retval).toBe(TC_ACT_SHOT);
      expectCounted(gso, H.FromWorkload, encap, R.DropAdjustRoom);

      const hostIp: P.Ipv4Spec = { src: TUNNEL_ADDR, dst: target.pod, protocol: P.PROTO_TCP, df: true };
      const hostSeg = P.tcp(TUNNEL_ADDR, target.pod, 33333, 8080, P.pattern(1000));
      const hostInput = P.ethernet({ dst: '00:00:00:00:00:00', src: UPLINK_MAC }, P.ipv4(hostIp, hostSeg));
      const hostPlain = run(fx.dp.programs.toUplink, hostInput);
      expect(hostPlain.retval).toBe(TC_ACT_REDIRECT);
      checkEncapsulated(hostPlain.out, hostInput, P.ipv4(hostIp, hostSeg), encap, target.addr, remoteVtep);
      const hostGso = run(fx.dp.programs.toUplink, hostInput, 0, 500);
      expect(hostGso.retval).toBe(TC_ACT_SHOT);
      expectCounted(hostGso, H.ToUplink, encap, R.DropAdjustRoom);
    }
  });

  it('to_uplink: already-encapsulated packets and everything else pass untouched', () => {
    const inner = P.ipv4({ src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP }, P.pattern(30));
    const cases = [
      P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: NODE, dst: IPIP_NODE.addr, protocol: P.PROTO_IPIP }, inner)),
      P.ethernet(
        { dst: PEER_UPLINK_MAC, src: UPLINK_MAC },
        P.ipv4({ src: NODE, dst: VXLAN_NODE.addr, protocol: P.PROTO_UDP }, P.udp(NODE, VXLAN_NODE.addr, 50000, VXLAN_PORT, Buffer.concat([P.vxlanHeader(VNI), P.ethernet({ dst: VXLAN_NODE.vtepMac, src: VTEP_MAC }, inner)]), { checksum: false })),
      ),
      P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: NODE, dst: OUTSIDE, protocol: P.PROTO_TCP }, P.tcp(NODE, OUTSIDE, 1, 2, P.pattern(9)))),
      P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: NODE, dst: PLAIN_NODE.pod, protocol: P.PROTO_UDP }, P.pattern(9))),
      P.ethernet({ dst: 'ff:ff:ff:ff:ff:ff', src: UPLINK_MAC, type: P.ETH_P_ARP }, P.pattern(28)),
    ];
    for (const input of cases) {
      const r = run(fx.dp.programs.toUplink, input);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out).toEqual(input);
      expectCounted(r, H.ToUplink, Encap.None, R.Pass);
    }
  });

  // ------------------------------------------------------------------ from_uplink (tc and XDP)

  function ipipFrame(src: string, inner: Buffer, outer: Partial<P.Ipv4Spec> = {}): Buffer {
    return P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src, dst: NODE, protocol: P.PROTO_IPIP, ...outer }, inner));
  }
  function vxlanFrame(src: string, inner: Buffer, o: { vni?: number; flags?: number; port?: number; innerDst?: string; innerSrc?: string } = {}): Buffer {
    const payload = Buffer.concat([P.vxlanHeader(o.vni ?? VNI, o.flags ?? 0x08), P.ethernet({ dst: o.innerDst ?? VTEP_MAC, src: o.innerSrc ?? VXLAN_NODE.vtepMac }, inner)]);
    return P.ethernet(
      { dst: UPLINK_MAC, src: PEER_UPLINK_MAC },
      P.ipv4({ src, dst: NODE, protocol: P.PROTO_UDP }, P.udp(src, NODE, 54321, o.port ?? VXLAN_PORT, payload, { checksum: false })),
    );
  }
  // The inner source is a pod of the sending node (the IPIP frames come from IPIP_NODE, the VXLAN ones from
  // VXLAN_NODE), as decapsulation requires.
  const innerSpec = (dst: string, ttl = 63, src = IPIP_NODE.pod): P.Ipv4Spec => ({ src, dst, protocol: P.PROTO_TCP, ttl, df: true });
  const innerL4 = (dst: string, src = IPIP_NODE.pod) => P.tcp(src, dst, 80, 40000, P.pattern(300));

  for (const [encap, frameOf, src] of [
    [Encap.Ipip, (inner: Buffer) => ipipFrame(IPIP_NODE.addr, inner), IPIP_NODE.pod],
    [Encap.Vxlan, (inner: Buffer) => vxlanFrame(VXLAN_NODE.addr, inner), VXLAN_NODE.pod],
  ] as const) {
    const name = encap === Encap.Ipip ? 'IPIP' : 'VXLAN';
    const innerSpec = (dst: string, ttl = 63): P.Ipv4Spec => ({ src, dst, protocol: P.PROTO_TCP, ttl, df: true });
    const innerL4 = (dst: string) => P.tcp(src, dst, 80, 40000, P.pattern(300));
    it(`from_uplink: ${name} from a known node is decapsulated and delivered to the workload (TTL-1)`, () => {
      for (const kind of ['tcp', 'udp', 'icmp'] as const) {
        const seg = l4(kind, src, LOCAL_POD.ip, P.pattern(kind === 'icmp' ? 56 : 1200));
        const ip: P.Ipv4Spec = { ...innerSpec(LOCAL_POD.ip), protocol: seg.protocol };
        const r = run(fx.dp.programs.fromUplink, frameOf(P.ipv4(ip, seg.bytes)));
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expect(r.out).toEqual(P.ethernet({ dst: LOCAL_POD.mac, src: HOST_VETH_MAC }, forwarded(ip, seg.bytes)));
        expectCounted(r, H.FromUplinkTc, encap, R.Decap);
      }
    });

    it(`from_uplink: ${name} for our tunnel address goes to the stack decapsulated`, () => {
      const inner = P.ipv4(innerSpec(TUNNEL_ADDR), innerL4(TUNNEL_ADDR));
      const r = run(fx.dp.programs.fromUplink, frameOf(inner));
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out).toEqual(P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, inner));
      expectCounted(r, H.FromUplinkTc, encap, R.Decap);
    });

    it(`from_uplink_xdp: ${name} decapsulated in XDP, then delivered by tc without a second DECAP count`, () => {
      const inner = P.ipv4(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip));
      const x = run(fx.dp.programs.fromUplinkXdp, frameOf(inner));
      expect(x.retval).toBe(XDP_PASS);
      expect(x.out).toEqual(P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, inner));
      expectCounted(x, H.FromUplinkXdp, encap, R.Decap);
      const t = run(fx.dp.programs.fromUplink, x.out);
      expect(t.retval).toBe(TC_ACT_REDIRECT);
      expect(t.out).toEqual(P.ethernet({ dst: LOCAL_POD.mac, src: HOST_VETH_MAC }, forwarded(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip))));
      expectCounted(t, H.FromUplinkTc, Encap.None, R.RedirectLocal);
    });

    it(`from_uplink (tc and XDP): ${name} from an unknown host is dropped UNKNOWN_SOURCE (anti-spoofing)`, () => {
      const inner = P.ipv4(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip));
      const frame = encap === Encap.Ipip ? ipipFrame(UNKNOWN_HOST, inner) : vxlanFrame(UNKNOWN_HOST, inner);
      const t = run(fx.dp.programs.fromUplink, frame);
      expect(t.retval).toBe(TC_ACT_SHOT);
      expectCounted(t, H.FromUplinkTc, encap, R.DropUnknownSource);
      const x = run(fx.dp.programs.fromUplinkXdp, frame);
      expect(x.retval).toBe(XDP_DROP);
      expectCounted(x, H.FromUplinkXdp, encap, R.DropUnknownSource);
      // A known node that is not allowed this encapsulation is no better.
      const wrongKind = encap === Encap.Ipip ? ipipFrame(VXLAN_NODE.addr, inner) : vxlanFrame(IPIP_NODE.addr, inner);
      const w = run(fx.dp.programs.fromUplink, wrongKind);
      expect(w.retval).toBe(TC_ACT_SHOT);
      expectCounted(w, H.FromUplinkTc, encap, R.DropUnknownSource);
    });

    it(`from_uplink: ${name} inner destination that is not local is dropped NO_ROUTE (no relaying)`, () => {
      for (const dst of [IPIP_NODE.pod, OUTSIDE, LOCAL_BLOCK_FREE]) {
        expectUplink(frameOf(P.ipv4(innerSpec(dst), innerL4(dst))), TC_ACT_SHOT, XDP_DROP, encap, R.DropNoRoute);
      }
    });
  }

  it('from_uplink: IPIP with outer IP options is decapsulated', () => {
    const inner = P.ipv4(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip));
    const frame = ipipFrame(IPIP_NODE.addr, inner, { options: Buffer.from([0x94, 0x04, 0, 0]) });
    const t = run(fx.dp.programs.fromUplink, frame);
    expect(t.retval).toBe(TC_ACT_REDIRECT);
    expect(t.out).toEqual(P.ethernet({ dst: LOCAL_POD.mac, src: HOST_VETH_MAC }, forwarded(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip))));
    const x = run(fx.dp.programs.fromUplinkXdp, frame);
    expect(x.retval).toBe(XDP_PASS);
    expect(x.out).toEqual(P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, inner));
  });

  it('from_uplink: bad VNI dropped BAD_VNI; wrong port passes untouched; bad flags / inner MAC MALFORMED', () => {
    const inner = P.ipv4(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip));
    const cases: [Buffer, number, number, Encap, R][] = [
      [vxlanFrame(VXLAN_NODE.addr, inner, { vni: VNI + 1 }), TC_ACT_SHOT, XDP_DROP, Encap.Vxlan, R.DropBadVni],
      [vxlanFrame(VXLAN_NODE.addr, inner, { flags: 0x0c }), TC_ACT_SHOT, XDP_DROP, Encap.Vxlan, R.DropMalformed],
      [vxlanFrame(VXLAN_NODE.addr, inner, { flags: 0x00 }), TC_ACT_SHOT, XDP_DROP, Encap.Vxlan, R.DropMalformed],
      [vxlanFrame(VXLAN_NODE.addr, inner, { innerDst: '66:00:00:00:00:99' }), TC_ACT_SHOT, XDP_DROP, Encap.Vxlan, R.DropMalformed],
      [vxlanFrame(VXLAN_NODE.addr, inner, { port: VXLAN_PORT + 1 }), TC_ACT_OK, XDP_PASS, Encap.None, R.Pass],
    ];
    for (const [frame, tcVerdict, xdpVerdict, encap, reason] of cases) {
      const t = run(fx.dp.programs.fromUplink, frame);
      expect(t.retval).toBe(tcVerdict);
      expectCounted(t, H.FromUplinkTc, encap, reason);
      if (tcVerdict === TC_ACT_OK) expect(t.out).toEqual(frame);
      const x = run(fx.dp.programs.fromUplinkXdp, frame);
      expect(x.retval).toBe(xdpVerdict);
      expectCounted(x, H.FromUplinkXdp, encap, reason);
      if (xdpVerdict === XDP_PASS) expect(x.out).toEqual(frame);
    }
  });

  it('from_uplink: IPIP inside IPIP, bad outer checksum, truncated inner, outer fragments are MALFORMED', () => {
    const inner = P.ipv4(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip));
    const nested = P.ipv4({ src: '10.244.3.9', dst: LOCAL_POD.ip, protocol: P.PROTO_IPIP }, inner);
    const goodOuter = ipipFrame(IPIP_NODE.addr, inner);
    const badCsum = Buffer.from(goodOuter);
    badCsum[14 + 10] ^= 0x55;
    const cases = [
      ipipFrame(IPIP_NODE.addr, nested),
      badCsum,
      ipipFrame(IPIP_NODE.addr, inner.subarray(0, 12)),
      ipipFrame(IPIP_NODE.addr, P.ipv4({ ...innerSpec(LOCAL_POD.ip), totalLength: 2000 }, innerL4(LOCAL_POD.ip))),
      ipipFrame(IPIP_NODE.addr, inner, { mf: true }),
      vxlanFrame(VXLAN_NODE.addr, nested),
    ];
    for (const frame of cases) {
      const encap = frame[14 + 9] === P.PROTO_IPIP ? Encap.Ipip : Encap.Vxlan;
      const t = run(fx.dp.programs.fromUplink, frame);
      expect(t.retval).toBe(TC_ACT_SHOT);
      expectCounted(t, H.FromUplinkTc, encap, R.DropMalformed);
      const x = run(fx.dp.programs.fromUplinkXdp, frame);
      expect(x.retval).toBe(XDP_DROP);
      expectCounted(x, H.FromUplinkXdp, encap, R.DropMalformed);
    }
  });

  it('from_uplink: plain packets for a local workload are delivered; others (and tunnels for other hosts) pass', () => {
    const ip: P.Ipv4Spec = { src: '10.244.4.9', dst: LOCAL_POD.ip, protocol: P.PROTO_UDP, ttl: 63 };
    const seg = P.udp('10.244.4.9', LOCAL_POD.ip, 9, 9, P.pattern(64));
    let r = run(fx.dp.programs.fromUplink, P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4(ip, seg)));
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.out).toEqual(P.ethernet({ dst: LOCAL_POD.mac, src: HOST_VETH_MAC }, forwarded(ip, seg)));
    expectCounted(r, H.FromUplinkTc, Encap.None, R.RedirectLocal);

    const inner = P.ipv4(innerSpec(LOCAL_POD.ip), innerL4(LOCAL_POD.ip));
    const passes = [
      P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src: OUTSIDE, dst: NODE, protocol: P.PROTO_TCP }, P.tcp(OUTSIDE, NODE, 1, 22, P.pattern(20)))),
      P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src: IPIP_NODE.addr, dst: '10.0.0.50', protocol: P.PROTO_IPIP }, inner)),
      P.ethernet({ dst: 'ff:ff:ff:ff:ff:ff', src: PEER_UPLINK_MAC, type: P.ETH_P_ARP }, P.pattern(28)),
      P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC, type: P.ETH_P_IPV6 }, P.pattern(60)),
    ];
    for (const frame of passes) {
      r = run(fx.dp.programs.fromUplink, frame);
      expect(r.retval).toBe(TC_ACT_OK);
      expect(r.out).toEqual(frame);
      expectCounted(r, H.FromUplinkTc, Encap.None, R.Pass);
      const x = run(fx.dp.programs.fromUplinkXdp, frame);
      expect(x.retval).toBe(XDP_PASS);
      expect(x.out).toEqual(frame);
      expectCounted(x, H.FromUplinkXdp, Encap.None, R.Pass);
    }
  });

  it('round trip: what from_workload encapsulates, from_uplink of the peer decapsulates to the original packet', () => {
    // The peer is "us" seen from IPIP_NODE: swap roles by sending our own output back with addresses mirrored.
    const seg = P.udp(LOCAL_POD.ip, IPIP_NODE.pod, 1000, 2000, P.pattern(333));
    const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, ttl: 20, df: true };
    const enc = run(fx.dp.programs.fromWorkload, fromPod(ip, seg));
    const d = P.dissect(enc.out);
    expect(d.inner!.ip!.ttl).toBe(19);
    expect(P.l4ChecksumOk(enc.out.subarray(34))).toBe(true);
  });

  // ------------------------------------------------------------------ forged sources (issue 10)

  const udpFrom = (src: string, dst: string, dport = 53, payload = P.pattern(40)) =>
    P.ethernet({ dst: HOST_VETH_MAC, src: POD_MAC }, P.ipv4({ src, dst, protocol: P.PROTO_UDP }, P.udp(src, dst, 40000, dport, payload)));

  it('from_workload: a source the workload does not hold is dropped SPOOFED_SOURCE, whatever the destination', () => {
    const forged = [IPIP_NODE.addr, NODE, LOCAL_POD.ip, IPIP_NODE.pod, VXLAN_NODE.pod, TUNNEL_ADDR, LOCAL_BLOCK_FREE, POOL_ONLY, '8.8.8.8', '0.0.0.0'];
    for (const src of forged) {
      for (const dst of [LOCAL_POD.ip, IPIP_NODE.pod, VXLAN_NODE.pod, PLAIN_NODE.pod, OUTSIDE, TUNNEL_ADDR]) {
        const r = run(fx.dp.programs.fromWorkload, udpFrom(src, dst), LOCAL_POD2.ifindex);
        expect(r.retval, `${src} -> ${dst}`).toBe(TC_ACT_SHOT);
        expectCounted(r, H.FromWorkload, Encap.None, R.DropSpoofedSource);
      }
    }
    // Its own address on another workload's veth is forged too, and so is any packet from no veth at all.
    for (const ifindex of [LOCAL_POD.ifindex, 0, 99]) {
      const r = run(fx.dp.programs.fromWorkload, udpFrom(LOCAL_POD2.ip, IPIP_NODE.pod), ifindex);
      expect(r.retval).toBe(TC_ACT_SHOT);
      expectCounted(r, H.FromWorkload, Encap.None, R.DropSpoofedSource);
    }
    // ARP and IPv6 are not IPv4 sources: they pass as before.
    const arp = P.ethernet({ dst: 'ff:ff:ff:ff:ff:ff', src: POD_MAC, type: P.ETH_P_ARP }, P.pattern(28));
    const r = run(fx.dp.programs.fromWorkload, arp, 0);
    expect(r.retval).toBe(TC_ACT_OK);
    expectCounted(r, H.FromWorkload, Encap.None, R.Pass);
  });

  it('from_workload: allowSpoofedSourcePrefixes admits its prefix on that veth only', () => {
    const seg = P.udp(ALLOWED_SOURCE.addr, IPIP_NODE.pod, 1, 2, P.pattern(64));
    const ip: P.Ipv4Spec = { src: ALLOWED_SOURCE.addr, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, df: true };
    const input = fromPod(ip, seg);
    let r = run(fx.dp.programs.fromWorkload, input, ALLOWED_SOURCE.ifindex);
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    checkEncapsulated(r.out, input, forwarded(ip, seg), Encap.Ipip, IPIP_NODE.addr);
    expectCounted(r, H.FromWorkload, Encap.Ipip, R.Encap);
    r = run(fx.dp.programs.fromWorkload, input, LOCAL_POD.ifindex);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expectCounted(r, H.FromWorkload, Encap.None, R.DropSpoofedSource);
    // Just outside the prefix.
    r = run(fx.dp.programs.fromWorkload, udpFrom('198.51.101.7', IPIP_NODE.pod), ALLOWED_SOURCE.ifindex);
    expectCounted(r, H.FromWorkload, Encap.None, R.DropSpoofedSource);
  });

  it('from_workload: VXLAN (UDP to the VXLAN port) and IPIP to any node address are dropped TUNNEL_FROM_WORKLOAD', () => {
    const vx = Buffer.concat([P.vxlanHeader(VNI), P.ethernet({ dst: VTEP_MAC, src: VXLAN_NODE.vtepMac }, P.ipv4({ src: '8.8.8.8', dst: LOCAL_POD.ip, protocol: P.PROTO_UDP }, P.pattern(20)))]);
    for (const node of [NODE, IPIP_NODE.addr, VXLAN_NODE.addr, PLAIN_NODE.addr]) {
      let r = run(fx.dp.programs.fromWorkload, udpFrom(LOCAL_POD.ip, node, VXLAN_PORT, vx));
      expect(r.retval, node).toBe(TC_ACT_SHOT);
      expectCounted(r, H.FromWorkload, Encap.Vxlan, R.DropTunnelFromWorkload);
      const inner = P.ipv4({ src: '8.8.8.8', dst: LOCAL_POD.ip, protocol: P.PROTO_UDP }, P.pattern(20));
      r = run(fx.dp.programs.fromWorkload, fromPod({ src: LOCAL_POD.ip, dst: node, protocol: P.PROTO_IPIP }, inner));
      expect(r.retval, node).toBe(TC_ACT_SHOT);
      expectCounted(r, H.FromWorkload, Encap.Ipip, R.DropTunnelFromWorkload);
      // A first fragment too short to show its port could be VXLAN: dropped too.
      r = run(fx.dp.programs.fromWorkload, fromPod({ src: LOCAL_POD.ip, dst: node, protocol: P.PROTO_UDP, mf: true, id: 9 }, Buffer.from([0x9c, 0x40, 0x12])));
      expectCounted(r, H.FromWorkload, Encap.Vxlan, R.DropTunnelFromWorkload);
    }
    // The VXLAN port to anyone else, and other ports to nodes, are ordinary traffic.
    let r = run(fx.dp.programs.fromWorkload, udpFrom(LOCAL_POD.ip, OUTSIDE, VXLAN_PORT, vx));
    expect(r.retval).toBe(TC_ACT_OK);
    expectCounted(r, H.FromWorkload, Encap.None, R.NatOutgoing);
    r = run(fx.dp.programs.fromWorkload, udpFrom(LOCAL_POD.ip, IPIP_NODE.addr, 53));
    expect(r.retval).toBe(TC_ACT_OK);
    expectCounted(r, H.FromWorkload, Encap.None, R.NatOutgoing);
    // A later fragment has no UDP header: bytes that look like port 4789 there decide nothing.
    const later = fromPod({ src: LOCAL_POD.ip, dst: IPIP_NODE.addr, protocol: P.PROTO_UDP, fragOffset: 100, id: 9 }, P.udp(LOCAL_POD.ip, IPIP_NODE.addr, 1, VXLAN_PORT, vx));
    r = run(fx.dp.programs.fromWorkload, later);
    expect([r.retval, r.out.equals(later)]).toEqual([TC_ACT_OK, true]);
    expectCounted(r, H.FromWorkload, Encap.None, R.NatOutgoing);
  });

  it('from_uplink: a plain packet for a workload from this node, its tunnel address, its workloads or blocks, or a bare pool address is dropped RPF', () => {
    for (const src of [NODE, TUNNEL_ADDR, LOCAL_POD2.ip, LOCAL_POD.ip, LOCAL_BLOCK_FREE, POOL_ONLY]) {
      for (const ttl of [64, 1]) {
        const frame = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src, dst: LOCAL_POD.ip, protocol: P.PROTO_UDP, ttl }, P.udp(src, LOCAL_POD.ip, 1, 2, P.pattern(30))));
        const r = run(fx.dp.programs.fromUplink, frame);
        expect(r.retval, src).toBe(TC_ACT_SHOT);
        expectCounted(r, H.FromUplinkTc, Encap.None, R.DropRpf);
      }
    }
    // Remote blocks, other nodes and addresses outside every pool are delivered.
    for (const src of [PLAIN_NODE.pod, IPIP_NODE.pod, PLAIN_NODE.addr, OUTSIDE]) {
      const ip: P.Ipv4Spec = { src, dst: LOCAL_POD.ip, protocol: P.PROTO_UDP, ttl: 60 };
      const seg = P.udp(src, LOCAL_POD.ip, 1, 2, P.pattern(30));
      const r = run(fx.dp.programs.fromUplink, P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4(ip, seg)));
      expect(r.retval, src).toBe(TC_ACT_REDIRECT);
      expect(r.out).toEqual(P.ethernet({ dst: LOCAL_POD.mac, src: HOST_VETH_MAC }, forwarded(ip, seg)));
      expectCounted(r, H.FromUplinkTc, Encap.None, R.RedirectLocal);
    }
  });

  it('from_uplink (tc and XDP): a decapsulated source that does not route back to the sender is dropped INNER_SOURCE', () => {
    const innerFrom = (src: string, dst = LOCAL_POD.ip) => P.ipv4({ src, dst, protocol: P.PROTO_UDP, ttl: 60 }, P.udp(src, dst, 1, 2, P.pattern(30)));
    const bad: Buffer[] = [
      // REMOTE_ALLOWED_SOURCE is VXLAN_NODE's to send, not IPIP_NODE's.
      ...[VXLAN_NODE.pod, PLAIN_NODE.pod, LOCAL_POD2.ip, TUNNEL_ADDR, NODE, VXLAN_NODE.addr, POOL_ONLY, OUTSIDE, '8.8.8.8', REMOTE_ALLOWED_SOURCE.addr].map((src) =>
        ipipFrame(IPIP_NODE.addr, innerFrom(src)),
      ),
      ...[IPIP_NODE.pod, LOCAL_POD2.ip, OUTSIDE].map((src) => vxlanFrame(VXLAN_NODE.addr, innerFrom(src))),
      // The right source in a frame the sender's VTEP did not build.
      vxlanFrame(VXLAN_NODE.addr, innerFrom(VXLAN_NODE.pod), { innerSrc: '66:00:00:00:00:99' }),
      // Inner destination not local either: the source is judged first.
      ipipFrame(IPIP_NODE.addr, innerFrom(OUTSIDE, OUTSIDE)),
    ];
    for (const frame of bad) {
      expectUplink(frame, TC_ACT_SHOT, XDP_DROP, frame[23] === P.PROTO_IPIP ? Encap.Ipip : Encap.Vxlan, R.DropInnerSource);
    }
    // The sender's own underlay and tunnel addresses are its own, and so is what its workloads may send from.
    const good: [Buffer, Encap][] = [
      [vxlanFrame(VXLAN_NODE.addr, innerFrom(REMOTE_ALLOWED_SOURCE.addr)), Encap.Vxlan],
      [ipipFrame(IPIP_NODE.addr, innerFrom(IPIP_NODE.addr)), Encap.Ipip],
      [vxlanFrame(VXLAN_NODE.addr, innerFrom(VXLAN_NODE.addr)), Encap.Vxlan],
      [ipipFrame(PLAIN_NODE.addr, innerFrom(PLAIN_NODE.tunnelAddr)), Encap.Ipip],
      [ipipFrame(PLAIN_NODE.addr, innerFrom(PLAIN_NODE.pod)), Encap.Ipip],
    ];
    for (const [frame, encap] of good) expectUplink(frame, TC_ACT_REDIRECT, XDP_PASS, encap, R.Decap);
  });

  it('from_uplink: a later UDP fragment is never read as VXLAN; a GSO packet lying about its length is bounded by the skb', () => {
    // Payload bytes of a later fragment that look like a UDP header to port 4789, from a host that is no node.
    const later = P.ethernet(
      { dst: UPLINK_MAC, src: PEER_UPLINK_MAC },
      P.ipv4({ src: UNKNOWN_HOST, dst: NODE, protocol: P.PROTO_UDP, fragOffset: 185, id: 5 }, P.udp(UNKNOWN_HOST, NODE, 1, VXLAN_PORT, P.pattern(40))),
    );
    for (const prog of [fx.dp.programs.fromUplink, fx.dp.programs.fromUplinkXdp]) {
      const r = run(prog, later);
      expect(r.retval).toBe(prog === fx.dp.programs.fromUplink ? TC_ACT_OK : XDP_PASS);
      expect(r.out).toEqual(later);
    }
    // GSO with an outer tot_len of 0 (as BIG TCP leaves it) and an inner one far beyond the packet: the inner
    // length is checked against what the skb holds, so this is malformed, never decapsulated.
    const inner = P.ipv4({ src: IPIP_NODE.pod, dst: LOCAL_POD.ip, protocol: P.PROTO_TCP, totalLength: 60000 }, P.tcp(IPIP_NODE.pod, LOCAL_POD.ip, 1, 2, P.pattern(100)));
    const lying = ipipFrame(IPIP_NODE.addr, inner, { totalLength: 0 });
    let r = run(fx.dp.programs.fromUplink, lying, 0, 1400);
    expect(r.retval).toBe(TC_ACT_SHOT);
    expectCounted(r, H.FromUplinkTc, Encap.Ipip, R.DropMalformed);
    // The same with an honest inner header passes every check and reaches decapsulation, which the kernel
    // then refuses: a test run's GSO skb has no gso_type, so it cannot be resized (a real one can).
    const honest = ipipFrame(IPIP_NODE.addr, P.ipv4({ src: IPIP_NODE.pod, dst: TUNNEL_ADDR, protocol: P.PROTO_TCP }, P.tcp(IPIP_NODE.pod, TUNNEL_ADDR, 1, 2, P.pattern(100))), { totalLength: 0 });
    r = run(fx.dp.programs.fromUplink, honest, 0, 1400);
    expectCounted(r, H.FromUplinkTc, Encap.Ipip, R.DropAdjustRoom);
  });

  it('route cache: on, a slot answers until the cache generation changes; a new generation sees the new route', () =>
    onOneCpu(() => {
      // 10.244.5.0/26 is in the pool but in no block: no route, until a remote block appears for it.
      const key = encodeRouteKey('10.244.5.0/26');
      const frame = fromPod({ src: LOCAL_POD.ip, dst: '10.244.5.9', protocol: P.PROTO_UDP }, P.udp(LOCAL_POD.ip, '10.244.5.9', 1, 2, P.pattern(20)));
      fx.setCacheGen(7);
      try {
        expectCounted(run(fx.dp.programs.fromWorkload, frame), H.FromWorkload, Encap.None, R.DropNoRoute);
        fx.dp.maps.routes.update(key, encodeRouteValue({ kind: RouteKind.RemoteBlock, encap: Encap.Ipip, flags: 1, ifindex: 0, nextHop: IPIP_NODE.addr, dstMac: ZERO_MAC, srcMac: ZERO_MAC }));
        // Written behind the generation's back (the agent never does): the cached answer still stands.
        expectCounted(run(fx.dp.programs.fromWorkload, frame), H.FromWorkload, Encap.None, R.DropNoRoute);
        fx.setCacheGen(8);
        let r = run(fx.dp.programs.fromWorkload, frame);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        expectCounted(r, H.FromWorkload, Encap.Ipip, R.Encap);
        fx.dp.maps.routes.delete(key);
        fx.setCacheGen(9);
        expectCounted(run(fx.dp.programs.fromWorkload, frame), H.FromWorkload, Encap.None, R.DropNoRoute);
        // Off (generation 0): the trie answers every lookup.
        fx.setCacheGen(0);
        fx.dp.maps.routes.update(key, encodeRouteValue({ kind: RouteKind.RemoteBlock, encap: Encap.Ipip, flags: 1, ifindex: 0, nextHop: IPIP_NODE.addr, dstMac: ZERO_MAC, srcMac: ZERO_MAC }));
        r = run(fx.dp.programs.fromWorkload, frame);
        expectCounted(r, H.FromWorkload, Encap.Ipip, R.Encap);
      } finally {
        fx.dp.maps.routes.delete(key);
        fx.setCacheGen(0);
      }
    }));

  it('node cache: on, an unknown sender stays unknown until the generation changes, and a removed node goes with it', () =>
    onOneCpu(() => {
      // The inner source is the sender's own underlay address: valid for any known node.
      const frame = ipipFrame(UNKNOWN_HOST, P.ipv4({ src: UNKNOWN_HOST, dst: LOCAL_POD.ip, protocol: P.PROTO_UDP, ttl: 63 }, P.udp(UNKNOWN_HOST, LOCAL_POD.ip, 1, 2, P.pattern(20))));
      const key = encodeKnownNodeKey(UNKNOWN_HOST);
      const both = (encap: Encap, reason: R) => {
        expectCounted(run(fx.dp.programs.fromUplink, frame), H.FromUplinkTc, encap, reason);
        expectCounted(run(fx.dp.programs.fromUplinkXdp, frame), H.FromUplinkXdp, encap, reason);
      };
      fx.setCacheGen(7);
      try {
        both(Encap.Ipip, R.DropUnknownSource);
        fx.dp.maps.knownNodes.update(key, encodeKnownNodeValue({ vtepMac: ZERO_MAC, flags: NodeFlags.AllowIpip, tunnelAddr: ZERO_IP }));
        both(Encap.Ipip, R.DropUnknownSource); // written behind the generation's back: the cached miss stands
        fx.setCacheGen(8);
        both(Encap.Ipip, R.Decap);
        fx.dp.maps.knownNodes.delete(key);
        fx.setCacheGen(9);
        both(Encap.Ipip, R.DropUnknownSource);
      } finally {
        if (fx.dp.maps.knownNodes.lookup(key)) fx.dp.maps.knownNodes.delete(key);
        fx.setCacheGen(0);
      }
    }));

  it('to_uplink: a destination that is a cluster node is never encapsulated, even inside a remote block', () => {
    // A pool overlapping the underlay: the block 10.0.0.0/24 (holding IPIP_NODE's own address) is remote.
    const key = encodeRouteKey('10.0.0.0/24');
    fx.dp.maps.routes.update(key, encodeRouteValue({ kind: RouteKind.RemoteBlock, encap: Encap.Ipip, flags: 1, ifindex: 0, nextHop: IPIP_NODE.addr, dstMac: ZERO_MAC, srcMac: ZERO_MAC }));
    try {
      const inner = P.ipv4({ src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP }, P.pattern(30));
      const ownTunnel = P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: NODE, dst: IPIP_NODE.addr, protocol: P.PROTO_IPIP }, inner));
      let r = run(fx.dp.programs.toUplink, ownTunnel);
      expect([r.retval, r.out.equals(ownTunnel)]).toEqual([TC_ACT_OK, true]);
      expectCounted(r, H.ToUplink, Encap.None, R.Pass);
      // Another address of that block is encapsulated as before.
      const other = P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: TUNNEL_ADDR, dst: '10.0.0.77', protocol: P.PROTO_UDP }, P.pattern(30)));
      r = run(fx.dp.programs.toUplink, other);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expectCounted(r, H.ToUplink, Encap.Ipip, R.Encap);
    } finally {
      fx.dp.maps.routes.delete(key);
    }
  });
  // ------------------------------------------------------------------ hand-off to the uplink (next_hop_map)

  it('hand-off: a fresh next_hop_map entry writes its Ethernet header; none, or one flagged VERIFY, leaves it to the kernel', () => {
    const key = encodeNextHopKey(IPIP_NODE.addr);
    const seg = P.udp(LOCAL_POD.ip, IPIP_NODE.pod, 1000, 2000, P.pattern(64));
    const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, ttl: 20, df: true };
    const input = fromPod(ip, seg);
    const hostInput = P.ethernet({ dst: '00:00:00:00:00:00', src: UPLINK_MAC }, P.ipv4({ ...ip, src: TUNNEL_ADDR }, P.udp(TUNNEL_ADDR, IPIP_NODE.pod, 1000, 2000, P.pattern(64))));
    const handOff = (frame: Buffer) => {
      const prog = frame === input ? fx.dp.programs.fromWorkload : fx.dp.programs.toUplink;
      const r = run(prog, frame);
      expect(r.retval).toBe(TC_ACT_REDIRECT);
      expectCounted(r, frame === input ? H.FromWorkload : H.ToUplink, Encap.Ipip, R.Encap);
      expect(P.dissect(r.out).ip!.dst).toBe(IPIP_NODE.addr);
      return r.out.subarray(0, 14);
    };
    const entry = { node: IPIP_NODE.addr, dstMac: PEER_UPLINK_MAC, srcMac: UPLINK_MAC, ifindex: FIXTURE_UPLINK_IFINDEX, flags: 0 };
    const preResolved = P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, Buffer.alloc(0));
    try {
      for (const frame of [input, hostInput]) expect(handOff(frame)).toEqual(frame.subarray(0, 14)); // no entry
      writeNextHop(fx.dp, entry);
      for (const frame of [input, hostInput]) expect(handOff(frame)).toEqual(preResolved);
      // The kernel's entry went STALE: the kernel must see a use to re-verify it, so the packet goes through it.
      writeNextHop(fx.dp, { ...entry, flags: NextHopFlags.Verify });
      for (const frame of [input, hostInput]) expect(handOff(frame)).toEqual(frame.subarray(0, 14));
      // The peer's MAC changed: the next packet carries the new one (caches off here: the map answers each packet).
      writeNextHop(fx.dp, { ...entry, dstMac: '52:54:00:00:00:22' });
      expect(handOff(input)).toEqual(P.ethernet({ dst: '52:54:00:00:00:22', src: UPLINK_MAC }, Buffer.alloc(0)));
      fx.dp.maps.nextHops.delete(key);
      expect(handOff(input)).toEqual(input.subarray(0, 14));
    } finally {
      if (fx.dp.maps.nextHops.lookup(key)) fx.dp.maps.nextHops.delete(key);
    }
  });

  it('next-hop cache: on, a slot answers until next_hop_gen_map changes; a new generation sees the new entry', () =>
    onOneCpu(() => {
      const key = encodeNextHopKey(IPIP_NODE.addr);
      const input = fromPod({ src: LOCAL_POD.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, ttl: 20 }, P.udp(LOCAL_POD.ip, IPIP_NODE.pod, 1, 2, P.pattern(20)));
      const eth = () => {
        const r = run(fx.dp.programs.fromWorkload, input);
        expect(r.retval).toBe(TC_ACT_REDIRECT);
        return r.out.subarray(0, 14);
      };
      const entry = { node: IPIP_NODE.addr, dstMac: PEER_UPLINK_MAC, srcMac: UPLINK_MAC, ifindex: FIXTURE_UPLINK_IFINDEX, flags: 0 };
      const preResolved = (mac: string) => P.ethernet({ dst: mac, src: UPLINK_MAC }, Buffer.alloc(0));
      fx.setCacheGen(7);
      try {
        expect(eth()).toEqual(input.subarray(0, 14)); // no entry: the miss is cached
        writeNextHop(fx.dp, entry);
        expect(eth()).toEqual(input.subarray(0, 14)); // written behind the generation's back: the cached miss stands
        fx.setCacheGen(8);
        expect(eth()).toEqual(preResolved(PEER_UPLINK_MAC));
        writeNextHop(fx.dp, { ...entry, dstMac: '52:54:00:00:00:22' });
        expect(eth()).toEqual(preResolved(PEER_UPLINK_MAC));
        fx.setCacheGen(9);
        expect(eth()).toEqual(preResolved('52:54:00:00:00:22'));
        fx.dp.maps.nextHops.delete(key);
        fx.setCacheGen(10);
        expect(eth()).toEqual(input.subarray(0, 14));
        // Off (generation 0): the map answers every lookup.
        fx.setCacheGen(0);
        writeNextHop(fx.dp, entry);
        expect(eth()).toEqual(preResolved(PEER_UPLINK_MAC));
      } finally {
        if (fx.dp.maps.nextHops.lookup(key)) fx.dp.maps.nextHops.delete(key);
        fx.setCacheGen(0);
      }
    }));

  it('hand-off: VXLAN to a node behind a gateway leaves with the gateway\'s MAC; the plain forward never reads the map', () => {
    const seg = P.tcp(LOCAL_POD.ip, VXLAN_NODE.pod, 1000, 2000, P.pattern(64));
    const ip: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: VXLAN_NODE.pod, protocol: P.PROTO_TCP, ttl: 20, df: true };
    const r = run(fx.dp.programs.fromWorkload, fromPod(ip, seg));
    expect(r.retval).toBe(TC_ACT_REDIRECT);
    expect(r.out.subarray(0, 14)).toEqual(P.ethernet({ dst: GATEWAY_MAC, src: UPLINK_MAC }, Buffer.alloc(0)));
    checkEncapsulated(r.out, fromPod(ip, seg), forwarded(ip, seg), Encap.Vxlan, VXLAN_NODE.addr, VXLAN_NODE.vtepMac);
    // An entry for PLAIN_NODE changes nothing for unencapsulated traffic (bpf_redirect_neigh to its address).
    const key = encodeNextHopKey(PLAIN_NODE.addr);
    writeNextHop(fx.dp, { node: PLAIN_NODE.addr, dstMac: PEER_UPLINK_MAC, srcMac: UPLINK_MAC, ifindex: FIXTURE_UPLINK_IFINDEX, flags: 0 });
    try {
      const plainIp: P.Ipv4Spec = { src: LOCAL_POD.ip, dst: PLAIN_NODE.pod, protocol: P.PROTO_UDP, ttl: 20 };
      const input = fromPod(plainIp, P.udp(LOCAL_POD.ip, PLAIN_NODE.pod, 1, 2, P.pattern(20)));
      const p = run(fx.dp.programs.fromWorkload, input);
      expect(p.retval).toBe(TC_ACT_REDIRECT);
      expect(p.out.subarray(0, 14)).toEqual(input.subarray(0, 14));
      expectCounted(p, H.FromWorkload, Encap.None, R.ForwardPlain);
    } finally {
      fx.dp.maps.nextHops.delete(key);
    }
  });
});
