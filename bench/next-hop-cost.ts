// SPDX-License-Identifier: Apache-2.0
// The programs' own cost of the encapsulation hand-off (BPF_PROG_TEST_RUN): IPIP encapsulation to a node with a
// next_hop_map entry (lookup, Ethernet header written, bpf_redirect) against one without (lookup miss,
// bpf_redirect_neigh), the two alternated round by round on one loaded fixture. A test run only records the
// redirect: the kernel's route and neighbour lookups that bpf_redirect_neigh(NULL) causes at transmit are not in
// these figures (bench/next-hop-ab.ts measures them with traffic). Run as root:
//   npx vitest run --config bench/vitest.config.ts bench/next-hop-cost.ts
import { it } from 'vitest';
import { encodeNextHopKey } from '../src/control/maps/layout.js';
import * as P from '../test/harness/packets.js';
import { FIXTURE_UPLINK_IFINDEX, HOST_VETH_MAC, IPIP_NODE, LOCAL_POD2, PEER_UPLINK_MAC, TUNNEL_ADDR, UPLINK_MAC, loadFixture, writeNextHop } from '../test/harness/datapath.js';
import { kernelDescribe } from '../test/harness/privileges.js';
import { freshNs, loadBaselines, PAYLOAD_BYTES } from './lib/prog-cost.js';
import { spread } from './lib/stats.js';

const ROUNDS = Number(process.env.BENCH_AB_ROUNDS ?? 7);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 50_000);

kernelDescribe('encapsulation hand-off cost per packet, next_hop_map entry or none (BPF_PROG_TEST_RUN)', () => {
  it(`alternates ${ROUNDS} rounds`, () => {
    const fx = loadFixture();
    const base = loadBaselines();
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
      const modes = ['no entry (bpf_redirect_neigh)', 'entry (bpf_redirect)'] as const;
      const net = new Map<string, number[]>();
      for (let r = 0; r < ROUNDS; r++) {
        for (const mode of r % 2 ? [...modes].reverse() : modes) {
          if (mode === modes[1]) writeNextHop(fx.dp, { node: IPIP_NODE.addr, dstMac: PEER_UPLINK_MAC, srcMac: UPLINK_MAC, ifindex: FIXTURE_UPLINK_IFINDEX, flags: 0 });
          else if (fx.dp.maps.nextHops.lookup(key)) fx.dp.maps.nextHops.delete(key);
          const baseline = freshNs(base.tc, pod, SAMPLES);
          for (const c of cases) {
            const k = `${c.label}, ${mode}`;
            net.set(k, [...(net.get(k) ?? []), freshNs(c.prog, c.frame, SAMPLES) - baseline]);
          }
        }
      }
      const lines = [...net].map(([k, xs]) => {
        const s = spread(xs);
        return `${k.padEnd(60)} ${s.median.toFixed(1).padStart(7)} ns  (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
      });
      console.log(`net ns per packet, median (range) of ${ROUNDS} alternated rounds of ${SAMPLES} fresh runs\n${lines.join('\n')}`);
    } finally {
      base.close();
      fx.close();
    }
  });
});
