// SPDX-License-Identifier: Apache-2.0
// Per-packet cost of each data-path program through BPF_PROG_TEST_RUN: the packet cases (shared with the vitest
// entry bench/prog-cost.ts) and the three figures the bench reports per case.
//  - repeat: one test run repeating the program `repeat` times on the SAME buffer (the kernel's own average).
//    The kernel does not restore the packet between repetitions, so after the first pass an encapsulating
//    program sees its own output and a decapsulating one the inner packet: this is the steady state of that
//    sequence (mostly the pass path), not the named path.
//  - fresh: mean of `samples` runs with repeat=1 on a fresh copy of the packet: the named path, plus the
//    kernel's per-run timer and setup overhead.
//  - net: fresh minus the fresh cost of a near-empty program of the same type (tc: return_config, XDP: min_xdp
//    from bpf/test), measured in the same round (measureProgramCosts): the named path's own cost. The near-empty programs do a map lookup or a global increment
//    themselves, so net slightly understates (by a few ns) rather than overstates.
import { openObject } from '../../src/control/bpf/index.js';
import type { BpfProgram, Collection } from '../../src/control/bpf/types.js';
import { bpfObjectPath } from '../../src/control/paths.js';
import { Encap, RouteFlags, RouteKind, ZERO_IP, encodeRouteKey, encodeRouteValue } from '../../src/control/maps/layout.js';
import * as P from '../../test/harness/packets.js';
import { spread } from './stats.js';
import { HOST_VETH_MAC, IPIP_NODE, LOCAL_POD, LOCAL_POD2, NODE, PEER_UPLINK_MAC, UPLINK_MAC, VNI, VTEP_MAC, VXLAN_NODE, VXLAN_PORT, ingressCtx, loadFixture, type Fixture } from '../../test/harness/datapath.js';

export interface ProgCase {
  /** Stable key for results ("ipip_encap_tc" ...). */
  key: string;
  label: string;
  hook: 'tc' | 'xdp';
  prog: BpfProgram;
  frame: Buffer;
  /** Covered by the per-program targets (issue #14: encap/decap <= 100 ns, other paths <= 50 ns). */
  target: boolean;
}

export interface ProgCost {
  key: string;
  label: string;
  hook: 'tc' | 'xdp';
  target: boolean;
  repeatNs: number;
  freshNs: number;
  netNs: number;
}

export const PAYLOAD_BYTES = 64;

/** Every program and path of the data path with a packet that takes that path (scenario of test/harness/datapath.ts). */
export function progCostCases(fx: Fixture): ProgCase[] {
  const payload = P.pattern(PAYLOAD_BYTES);
  const podTo = (dst: string) =>
    P.ethernet({ dst: HOST_VETH_MAC, src: LOCAL_POD2.mac }, P.ipv4({ src: LOCAL_POD2.ip, dst, protocol: P.PROTO_UDP, df: true }, P.udp(LOCAL_POD2.ip, dst, 1000, 2000, payload)));
  // Each inner packet comes from a pod of the node that sends it, as decapsulation requires.
  const innerFrom = (src: string) => P.ipv4({ src, dst: LOCAL_POD.ip, protocol: P.PROTO_UDP, df: true }, P.udp(src, LOCAL_POD.ip, 1, 2, payload));
  const inner = innerFrom(VXLAN_NODE.pod);
  const ipip = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src: IPIP_NODE.addr, dst: NODE, protocol: P.PROTO_IPIP }, innerFrom(IPIP_NODE.pod)));
  const vxlan = P.ethernet(
    { dst: UPLINK_MAC, src: PEER_UPLINK_MAC },
    P.ipv4({ src: VXLAN_NODE.addr, dst: NODE, protocol: P.PROTO_UDP }, P.udp(VXLAN_NODE.addr, NODE, 50000, VXLAN_PORT, Buffer.concat([P.vxlanHeader(VNI), P.ethernet({ dst: VTEP_MAC, src: VXLAN_NODE.vtepMac }, inner)]), { checksum: false })),
  );
  const hostTo = (dst: string) =>
    P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: '10.244.1.1', dst, protocol: P.PROTO_UDP, df: true }, P.udp('10.244.1.1', dst, 1, 2, payload)));
  const { fromWorkload, toUplink, fromUplink, fromUplinkXdp } = fx.dp.programs;
  return [
    { key: 'ipip_encap_tc', label: 'from_workload IPIP encap', hook: 'tc', prog: fromWorkload, frame: podTo(IPIP_NODE.pod), target: true },
    { key: 'vxlan_encap_tc', label: 'from_workload VXLAN encap', hook: 'tc', prog: fromWorkload, frame: podTo(VXLAN_NODE.pod), target: true },
    { key: 'ipip_decap_tc', label: 'from_uplink IPIP decap (tc)', hook: 'tc', prog: fromUplink, frame: ipip, target: true },
    { key: 'vxlan_decap_tc', label: 'from_uplink VXLAN decap (tc)', hook: 'tc', prog: fromUplink, frame: vxlan, target: true },
    { key: 'ipip_decap_xdp', label: 'from_uplink_xdp IPIP decap', hook: 'xdp', prog: fromUplinkXdp, frame: ipip, target: true },
    { key: 'vxlan_decap_xdp', label: 'from_uplink_xdp VXLAN decap', hook: 'xdp', prog: fromUplinkXdp, frame: vxlan, target: true },
    { key: 'local_redirect_tc', label: 'from_workload local workload', hook: 'tc', prog: fromWorkload, frame: podTo(LOCAL_POD.ip), target: true },
    { key: 'plain_forward_tc', label: 'from_workload plain forward', hook: 'tc', prog: fromWorkload, frame: podTo('10.244.4.9'), target: true },
    { key: 'outside_tc', label: 'from_workload outside, to stack', hook: 'tc', prog: fromWorkload, frame: podTo('192.0.2.1'), target: true },
    { key: 'ipip_encap_host_tc', label: 'to_uplink IPIP encap (host)', hook: 'tc', prog: toUplink, frame: hostTo(IPIP_NODE.pod), target: true },
    { key: 'vxlan_encap_host_tc', label: 'to_uplink VXLAN encap (host)', hook: 'tc', prog: toUplink, frame: hostTo(VXLAN_NODE.pod), target: true },
    { key: 'pass_host_tc', label: 'to_uplink pass (not overlay)', hook: 'tc', prog: toUplink, frame: hostTo('192.0.2.1'), target: true },
  ];
}

// Every tc run (cases and baseline alike, so that `net` cancels the context's own setup cost) starts from an
// skb that came in on LOCAL_POD2's veth: from_workload checks the packet's source against that veth.
const TC_CTX = ingressCtx(LOCAL_POD2.ifindex);
const ctxFor = (prog: BpfProgram) => (prog.typeName === 'sched_cls' ? { ctx: TC_CTX } : {});

export function repeatedNs(prog: BpfProgram, frame: Buffer, repeat: number): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) best = Math.min(best, prog.testRun({ data: frame, repeat, ...ctxFor(prog) }).durationNs);
  return best;
}

export function freshNs(prog: BpfProgram, frame: Buffer, samples: number): number {
  const ctx = ctxFor(prog);
  for (let i = 0; i < 1000; i++) prog.testRun({ data: frame, repeat: 1, ...ctx });
  let total = 0;
  for (let i = 0; i < samples; i++) total += prog.testRun({ data: frame, repeat: 1, ...ctx }).durationNs;
  return total / samples;
}

/** Near-empty programs of each type, for the per-run overhead that `net` subtracts. */
export function loadBaselines(): { tc: BpfProgram; xdp: BpfProgram; close(): void } {
  const collections: Collection[] = [];
  try {
    const open = (file: string) => {
      const spec = openObject(bpfObjectPath(file));
      try {
        const c = spec.load();
        collections.push(c);
        return c;
      } finally {
        spec.close();
      }
    };
    const tc = open('loader_test.o').program('return_config');
    const xdp = open('loader_min.o').program('min_xdp');
    return { tc, xdp, close: () => collections.forEach((c) => c.close()) };
  } catch (err) {
    for (const c of collections) c.close();
    throw err;
  }
}

export interface ProgCostReport {
  repeat: number;
  samples: number;
  /** Separate loads of the programs, and rounds within each, that the samples were split into (every round
   * measures the baselines and every case in turn). */
  loads: number;
  rounds: number;
  payloadBytes: number;
  baselineFreshNs: { tc: number; xdp: number };
  cases: ProgCost[];
}

/** The routes_map of one node in a 256-node cluster, as bench/lib/helper-cost.ts fills its trie (where an LPM
 * lookup costs ~80 ns instead of ~20): a /26 block of every other node in the pool and more local workloads,
 * none of them an address the measured packets use, so every path stays the same, only the trie deeper. */
function fillBusyNode(fx: Fixture): number {
  const remote = encodeRouteValue({ kind: RouteKind.RemoteBlock, encap: Encap.Ipip, flags: RouteFlags.InPool, ifindex: 0, nextHop: IPIP_NODE.addr, dstMac: '00:00:00:00:00:00', srcMac: '00:00:00:00:00:00' });
  const local = encodeRouteValue({ kind: RouteKind.LocalWorkload, encap: Encap.None, flags: RouteFlags.InPool, ifindex: 100, nextHop: ZERO_IP, dstMac: '02:00:00:00:00:01', srcMac: HOST_VETH_MAC });
  let n = 0;
  for (let b = 5; b < 256; b++, n++) fx.dp.maps.routes.update(encodeRouteKey(`10.244.${b}.0/26`), remote);
  for (let w = 10; w < 64; w++, n++) fx.dp.maps.routes.update(encodeRouteKey(`10.244.1.${w}/32`), local);
  return n;
}

/** One load of the programs and maps: per round, the baselines and then every case (samples split evenly);
 * per case the fresh and net figures of every round. */
function measureOneLoad(opts: { samples: number; rounds: number; cacheGen: number; busyNode: boolean }) {
  const fx = loadFixture();
  const base = loadBaselines();
  try {
    fx.setCacheGen(opts.cacheGen);
    if (opts.busyNode) fillBusyNode(fx);
    const eth = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src: '10.0.0.9', dst: NODE, protocol: P.PROTO_UDP }, P.udp('10.0.0.9', NODE, 1, 2, P.pattern(PAYLOAD_BYTES))));
    const cases = progCostCases(fx);
    const baselines = { tc: [] as number[], xdp: [] as number[] };
    const fresh = cases.map(() => [] as number[]);
    const net = cases.map(() => [] as number[]);
    for (let r = 0; r < opts.rounds; r++) {
      const baseline = { tc: freshNs(base.tc, eth, opts.samples), xdp: freshNs(base.xdp, eth, opts.samples) };
      baselines.tc.push(baseline.tc);
      baselines.xdp.push(baseline.xdp);
      cases.forEach((c, i) => {
        const f = freshNs(c.prog, c.frame, opts.samples);
        fresh[i]!.push(f);
        net[i]!.push(f - baseline[c.hook]);
      });
    }
    return { cases: cases.map((c) => ({ key: c.key, label: c.label, hook: c.hook, target: c.target })), baselines, fresh, net, repeatNs: (repeat: number) => cases.map((c) => repeatedNs(c.prog, c.frame, repeat)), close: () => (base.close(), fx.close()) };
  } catch (err) {
    base.close();
    fx.close();
    throw err;
  }
}

/** `cacheGen`: settings.cache_gen as the agent publishes it (default 1: the lookup caches on, as an agent runs them;
 * 0: off). `busyNode`: routes_map as deep as a node's in a 256-node cluster (fillBusyNode).
 * The samples are split over `loads` (default 3) separate loads of the programs and, within each, `rounds`
 * (default 3) rounds that measure the baselines and then every case: a case's net cost is the median over all
 * rounds of (case − baseline of the same round). Rounds cancel a host whose speed drifts during the measurement;
 * separate loads cancel what one load's placement of code and data costs (on this host one load of the same
 * objects measured an encapsulation 20 ns dearer than the next, in every one of its rounds). */
export function measureProgramCosts(opts: { repeat: number; samples: number; loads?: number; rounds?: number; cacheGen?: number; busyNode?: boolean }): ProgCostReport {
  const loads = Math.max(1, opts.loads ?? 3);
  const rounds = Math.max(1, opts.rounds ?? 3);
  const perRound = Math.ceil(opts.samples / (loads * rounds));
  const all: ReturnType<typeof measureOneLoad>[] = [];
  let open: ReturnType<typeof measureOneLoad> | undefined;
  try {
    for (let l = 0; l < loads; l++) {
      open?.close();
      open = undefined;
      open = measureOneLoad({ samples: perRound, rounds, cacheGen: opts.cacheGen ?? 1, busyNode: opts.busyNode ?? false });
      all.push(open);
    }
    const last = open!;
    const repeatNs = last.repeatNs(opts.repeat);
    const pool = (pick: (one: (typeof all)[number]) => number[]) => spread(all.flatMap(pick)).median;
    return {
      repeat: opts.repeat,
      samples: perRound * rounds * loads,
      loads,
      rounds,
      payloadBytes: PAYLOAD_BYTES,
      baselineFreshNs: { tc: pool((o) => o.baselines.tc), xdp: pool((o) => o.baselines.xdp) },
      cases: last.cases.map((c, i): ProgCost => ({
        ...c,
        repeatNs: repeatNs[i]!,
        freshNs: pool((o) => o.fresh[i]!),
        netNs: Math.max(0, pool((o) => o.net[i]!)),
      })),
    };
  } finally {
    open?.close();
  }
}
