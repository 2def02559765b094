// Cost of each data-path program per packet, as BPF_PROG_TEST_RUN measures it inside the kernel (the time of
// the program runs only, no syscall or JS overhead). Run as root:
//   npx vitest run --config bench/vitest.config.ts bench/prog-cost.ts
// Two figures per case:
//  - "repeat=1M": one test run repeating the program 1,000,000 times on the SAME skb/xdp buffer. The kernel does
//    not restore the packet between repetitions, so after the first run an encapsulating program sees its own
//    output (a node-addressed packet: the pass path), a decapsulating one sees the inner packet, and a
//    forwarding one decrements the TTL until the stack path takes over. It measures the steady state of that
//    sequence, not the first-pass path.
//  - "fresh": the mean of SAMPLES runs with repeat=1 on a fresh copy of the packet: the true cost of the named
//    path (the kernel's timer adds a few ns of its own to each sample).
// With BENCH_BUDGET_NS set, fails when a "fresh" hot path exceeds it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { kernelDescribe } from '../test/harness/privileges.js';
import * as P from '../test/harness/packets.js';
import { HOST_VETH_MAC, IPIP_NODE, LOCAL_POD, LOCAL_POD2, NODE, PEER_UPLINK_MAC, UPLINK_MAC, VNI, VTEP_MAC, VXLAN_NODE, VXLAN_PORT, loadFixture, type Fixture } from '../test/harness/datapath.js';
import type { BpfProgram } from '../src/control/kernel/types.js';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 1_000_000);
const BUDGET_NS = Number(process.env.BENCH_BUDGET_NS ?? 0); // 0: report only

let fx: Fixture;

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200_000);

function repeated(prog: BpfProgram, frame: Buffer): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) best = Math.min(best, prog.testRun({ data: frame, repeat: REPEAT }).durationNs);
  return best;
}

function fresh(prog: BpfProgram, frame: Buffer): number {
  for (let i = 0; i < 1000; i++) prog.testRun({ data: frame, repeat: 1 }); // warm-up
  let total = 0;
  for (let i = 0; i < SAMPLES; i++) total += prog.testRun({ data: frame, repeat: 1 }).durationNs;
  return total / SAMPLES;
}

kernelDescribe('data path cost per packet (BPF_PROG_TEST_RUN)', () => {
  beforeAll(() => {
    fx = loadFixture();
  });
  afterAll(() => fx?.close());

  it(`measures every program with repeat=${REPEAT}`, () => {
    const payload = P.pattern(64);
    const podTo = (dst: string) =>
      P.ethernet({ dst: HOST_VETH_MAC, src: LOCAL_POD2.mac }, P.ipv4({ src: LOCAL_POD2.ip, dst, protocol: P.PROTO_UDP, df: true }, P.udp(LOCAL_POD2.ip, dst, 1000, 2000, payload)));
    const inner = P.ipv4({ src: '10.244.3.9', dst: LOCAL_POD.ip, protocol: P.PROTO_UDP, df: true }, P.udp('10.244.3.9', LOCAL_POD.ip, 1, 2, payload));
    const ipip = P.ethernet({ dst: UPLINK_MAC, src: PEER_UPLINK_MAC }, P.ipv4({ src: IPIP_NODE.addr, dst: NODE, protocol: P.PROTO_IPIP }, inner));
    const vxlan = P.ethernet(
      { dst: UPLINK_MAC, src: PEER_UPLINK_MAC },
      P.ipv4({ src: VXLAN_NODE.addr, dst: NODE, protocol: P.PROTO_UDP }, P.udp(VXLAN_NODE.addr, NODE, 50000, VXLAN_PORT, Buffer.concat([P.vxlanHeader(VNI), P.ethernet({ dst: VTEP_MAC, src: VXLAN_NODE.vtepMac }, inner)]), { checksum: false })),
    );
    const hostTo = (dst: string) =>
      P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: '10.244.1.1', dst, protocol: P.PROTO_UDP, df: true }, P.udp('10.244.1.1', dst, 1, 2, payload)));

    const { fromWorkload, toUplink, fromUplink, fromUplinkXdp } = fx.dp.programs;
    const cases: [string, BpfProgram, Buffer][] = [
      ['from_workload  local workload (redirect_peer)', fromWorkload, podTo(LOCAL_POD.ip)],
      ['from_workload  IPIP encap', fromWorkload, podTo(IPIP_NODE.pod)],
      ['from_workload  VXLAN encap', fromWorkload, podTo(VXLAN_NODE.pod)],
      ['from_workload  plain forward', fromWorkload, podTo('10.244.4.9')],
      ['from_workload  outside, to stack', fromWorkload, podTo('192.0.2.1')],
      ['to_uplink      IPIP encap', toUplink, hostTo(IPIP_NODE.pod)],
      ['to_uplink      VXLAN encap', toUplink, hostTo(VXLAN_NODE.pod)],
      ['to_uplink      pass (not overlay)', toUplink, hostTo('192.0.2.1')],
      ['from_uplink    IPIP decap -> workload', fromUplink, ipip],
      ['from_uplink    VXLAN decap -> workload', fromUplink, vxlan],
      ['from_uplink_xdp IPIP decap', fromUplinkXdp, ipip],
      ['from_uplink_xdp VXLAN decap', fromUplinkXdp, vxlan],
    ];
    const lines: string[] = [];
    for (const [name, prog, frame] of cases) {
      const rep = repeated(prog, frame);
      const one = fresh(prog, frame);
      lines.push(`${name.padEnd(42)} repeat=1M ${rep.toString().padStart(4)} ns   fresh ${one.toFixed(1).padStart(6)} ns`);
      if (BUDGET_NS) expect(one, name).toBeLessThanOrEqual(BUDGET_NS);
    }
    console.log(`BPF_PROG_TEST_RUN per packet, ${frameNote}, fresh = mean of ${SAMPLES} repeat=1 runs\n${lines.join('\n')}`);
  });
});

const frameNote = '64-byte UDP payloads';
