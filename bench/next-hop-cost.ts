// SPDX-License-Identifier: Apache-2.0
// The programs' own cost of the encapsulation hand-off (BPF_PROG_TEST_RUN): IPIP encapsulation to a node with a
// next_hop_map entry (lookup, Ethernet header written, bpf_redirect) against one without (lookup miss,
// bpf_redirect_neigh), the two alternated round by round on one loaded fixture. A test run only records the
// redirect: the kernel's route and neighbour lookups that bpf_redirect_neigh(NULL) causes at transmit are not in
// these figures (bench/next-hop-ab.ts measures them with traffic). With BENCH_BASE_BPF_DIR (objects of a build
// without next_hop_map, e.g. main's: BPF_OUT_DIR=DIR bash scripts/build-bpf.sh in its checkout) its from_workload
// and to_uplink join the rounds, on the same pinned maps. Run as root:
//   [BENCH_BASE_BPF_DIR=DIR] npx vitest run --config bench/vitest.config.ts bench/next-hop-cost.ts
import { join } from 'node:path';
import { it } from 'vitest';
import { openObject } from '../src/control/bpf/index.js';
import type { BpfProgram, Collection } from '../src/control/bpf/types.js';
import { encodeGlobals } from '../src/control/datapath/objects.js';
import { encodeNextHopKey } from '../src/control/maps/layout.js';
import * as P from '../test/harness/packets.js';
import { FIXTURE_UPLINK_IFINDEX, HOST_VETH_MAC, IPIP_NODE, LOCAL_POD2, NODE, PEER_UPLINK_MAC, TUNNEL_ADDR, UPLINK_MAC, VNI, VTEP_MAC, VXLAN_PORT, loadFixture, writeNextHop, type Fixture } from '../test/harness/datapath.js';
import { kernelDescribe } from '../test/harness/privileges.js';
import { freshNs, loadBaselines, PAYLOAD_BYTES } from './lib/prog-cost.js';
import { spread } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 7);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 50_000);
const BASE_DIR = process.env.BENCH_BASE_BPF_DIR;

/** The encapsulating programs of another build, configured as the fixture's and sharing its pinned maps. */
function loadBase(fx: Fixture, dir: string): { fromWorkload: BpfProgram; toUplink: BpfProgram; close(): void } {
  const globals = encodeGlobals({ nodeAddr: NODE, uplinkIfindex: FIXTURE_UPLINK_IFINDEX, vxlanVni: VNI, vxlanPort: VXLAN_PORT, vtepMac: VTEP_MAC, pinRoot: fx.pinRoot });
  const collections: Collection[] = [];
  const load = (file: string, program: string) => {
    const spec = openObject(join(dir, file), { pinRoot: fx.pinRoot });
    try {
      for (const [name, value] of Object.entries(globals)) spec.setVariable(name, value);
      const c = spec.load();
      collections.push(c);
      return c.program(program);
    } finally {
      spec.close();
    }
  };
  try {
    return { fromWorkload: load('from_workload.o', 'from_workload'), toUplink: load('to_uplink.o', 'to_uplink'), close: () => collections.forEach((c) => c.close()) };
  } catch (err) {
    collections.forEach((c) => c.close());
    throw err;
  }
}

kernelDescribe('encapsulation hand-off cost per packet, next_hop_map entry or none (BPF_PROG_TEST_RUN)', () => {
  it(`alternates ${ROUNDS} rounds`, () => {
    const fx = loadFixture();
    const base = loadBaselines();
    const other = BASE_DIR ? loadBase(fx, BASE_DIR) : undefined;
    try {
      fx.setCacheGen(1); // the lookup caches on, as an agent runs them
      const payload = P.pattern(PAYLOAD_BYTES);
      const pod = P.ethernet({ dst: HOST_VETH_MAC, src: LOCAL_POD2.mac }, P.ipv4({ src: LOCAL_POD2.ip, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, df: true }, P.udp(LOCAL_POD2.ip, IPIP_NODE.pod, 1000, 2000, payload)));
      const host = P.ethernet({ dst: PEER_UPLINK_MAC, src: UPLINK_MAC }, P.ipv4({ src: TUNNEL_ADDR, dst: IPIP_NODE.pod, protocol: P.PROTO_UDP, df: true }, P.udp(TUNNEL_ADDR, IPIP_NODE.pod, 1, 2, payload)));
      const cases = [
        { label: 'from_workload IPIP encap', prog: fx.dp.programs.fromWorkload, frame: pod },
        { label: 'to_uplink IPIP encap (host)', prog: fx.dp.programs.toUplink, frame: host },
      ];
      const key = encodeNextHopKey(IPIP_NODE.addr);
      const modes = ['no entry (bpf_redirect_neigh)', 'entry (bpf_redirect)', ...(other ? ['base build, no map (bpf_redirect_neigh)'] : [])];
      const net = new Map<string, number[]>();
      for (let r = 0; r < ROUNDS; r++) {
        for (const mode of r % 2 ? [...modes].reverse() : modes) {
          if (mode === modes[1]) writeNextHop(fx.dp, { node: IPIP_NODE.addr, dstMac: PEER_UPLINK_MAC, srcMac: UPLINK_MAC, ifindex: FIXTURE_UPLINK_IFINDEX, flags: 0 });
          else if (fx.dp.maps.nextHops.lookup(key)) fx.dp.maps.nextHops.delete(key);
          const baseline = freshNs(base.tc, pod, SAMPLES);
          for (const c of cases) {
            const k = `${c.label}, ${mode}`;
            const prog = mode === modes[2] ? (c.prog === fx.dp.programs.fromWorkload ? other!.fromWorkload : other!.toUplink) : c.prog;
            net.set(k, [...(net.get(k) ?? []), freshNs(prog, c.frame, SAMPLES) - baseline]);
          }
        }
      }
      const lines = [...net].map(([k, xs]) => {
        const s = spread(xs);
        return `${k.padEnd(60)} ${s.median.toFixed(1).padStart(7)} ns  (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
      });
      console.log(`net ns per packet, median (range) of ${ROUNDS} alternated rounds of ${SAMPLES} fresh runs\n${lines.join('\n')}`);
    } finally {
      other?.close();
      base.close();
      fx.close();
    }
  });
});
