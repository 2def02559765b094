// SPDX-License-Identifier: Apache-2.0
// What pre-resolved next-hop MACs save on real traffic: bpf-ipip pod to pod across two nodes of one subnet, with
// next_hop_map filled (the encapsulated packet leaves through bpf_redirect with the neighbour's MAC) against empty
// (bpf_redirect_neigh: the kernel routes the outer destination and looks the neighbour up per packet). The two
// alternate round by round in one cluster, so host load hits both alike. Per round: UDP 64-byte datagrams
// (delivered kpps, transfer CPU per delivered packet) and TCP (Gbit/s, transfer CPU per GB), both from a
// cpu-clock profile of iperf3 + ksoftirqd, with the share of the kernel's route and neighbour functions in it.
// The agents are stopped once traffic flows (as in the bench, so they take no CPU); a stopped agent leaves the map
// empty, and this bench writes the entries itself, exactly as the agent would (the kernel's neighbour entry of the
// peer node, the uplink's MAC and ifindex).
// Run as root: npx tsc -p bench/tsconfig.json && node --import ./scripts/ts-loader.mjs bench/next-hop-ab.ts [--seconds=5] [--rounds=6] [--streams=1]
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openPinnedMap } from '../src/control/bpf/index.js';
import { encodeNextHopKey, encodeNextHopValue, MAP_NAMES } from '../src/control/maps/layout.js';
import type { Cluster, ClusterNode } from '../test/lab/cluster.js';
import { bpfPaths, type BenchPath } from './lib/paths.js';
import { profile } from './lib/transfer-cpu.js';
import { spread } from './lib/stats.js';
import { startServers, tcpThroughput, udpSmallPackets, waitForServers } from './lib/traffic.js';

const arg = (name: string, dflt: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const SECONDS = arg('seconds', 5);
const ROUNDS = arg('rounds', 6);
const STREAMS = arg('streams', 1);
/** The kernel functions bpf_redirect_neigh(NULL) runs per packet that bpf_redirect does not: route and neighbour. */
const ROUTE_AND_NEIGH = /^(fib_table_lookup|fib4_rule_action|fib_rules_lookup|__fib_lookup|ip_route_output_key_hash(_rcu)?|ip_route_output_flow|__ip_route_output_key|bpf_out_neigh_v4|__bpf_redirect_neigh|ip_neigh_gw4|__ipv4_neigh_lookup_noref|neigh_hh_output|neigh_resolve_output|neigh_output|fib_select_path|ip_mkroute_output|rt_dst_alloc|dst_release|ipv4_neigh_lookup)$/;

type Mode = 'kernel' | 'pre-resolved';

/**
 * Runs this bench's iperf3 under a name of its own (an `iperf3` wrapper first in PATH that execs a symlink so
 * named): the profile then counts this transfer only, not the iperf3 of other benches on a shared host.
 */
const IPERF_COMM = 'bo-nhab-iperf3';
function privateIperf(): { comms: string; remove(): void } {
  const dir = mkdtempSync('/tmp/bo-nhab-');
  symlinkSync('/usr/bin/iperf3', path.join(dir, IPERF_COMM));
  writeFileSync(path.join(dir, 'iperf3'), `#!/bin/sh\nexec ${path.join(dir, IPERF_COMM)} "$@"\n`, { mode: 0o755 });
  process.env.PATH = `${dir}:${process.env.PATH}`;
  return { comms: `${IPERF_COMM},ksoftirqd/0,ksoftirqd/1`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
const iperfBin = privateIperf();

/** node -> peer entries, as the agent writes them from the kernel's neighbour table. */
function setNextHops(cluster: Cluster, pairs: [ClusterNode, ClusterNode][], on: boolean): void {
  for (const [from, to] of pairs) {
    const map = openPinnedMap(cluster.pins(from).map(MAP_NAMES.nextHops));
    try {
      const key = encodeNextHopKey(to.address);
      if (!on) {
        if (map.lookup(key)) map.delete(key);
        continue;
      }
      from.ns.exec('ping', ['-c', '1', '-W', '1', to.address]); // a resolved, current neighbour entry
      const [n] = JSON.parse(from.ns.ip('-4', '-j', 'neigh', 'show', to.address, 'dev', from.uplink)) as { lladdr?: string }[];
      if (!n?.lladdr) throw new Error(`${from.name}: no resolved neighbour for ${to.address}`);
      map.update(key, encodeNextHopValue({ dstMac: n.lladdr, srcMac: from.ns.mac(from.uplink), ifindex: from.ns.ifindex(from.uplink), flags: 0 }));
    } finally {
      map.close();
    }
  }
}

async function udpRound(p: BenchPath) {
  const prof = profile(SECONDS - 1, iperfBin.comms, 0, ROUTE_AND_NEIGH);
  const r = udpSmallPackets(p, SECONDS);
  const perf = await prof;
  const delivered = r.deliveredPps * (SECONDS - 1);
  return { kpps: +(r.deliveredPps / 1e3).toFixed(1), sentKpps: +(r.sentPps / 1e3).toFixed(1), lostPercent: +r.lostPercent.toFixed(1), cpuUsPerPacket: +((perf.transferCpuSeconds / delivered) * 1e6).toFixed(3), routeNeighPercent: perf.matchedPercent! };
}

async function tcpRound(p: BenchPath) {
  const prof = profile(SECONDS - 1, iperfBin.comms, 0, ROUTE_AND_NEIGH);
  const r = tcpThroughput(p, STREAMS, SECONDS);
  const perf = await prof;
  const gb = (r.bytes / 1e9) * ((SECONDS - 1) / r.seconds);
  return { gbps: +(r.bitsPerSecond / 1e9).toFixed(2), cpuSecondsPerGB: +(perf.transferCpuSeconds / gb).toFixed(3), routeNeighPercent: perf.matchedPercent! };
}

const summary = (xs: number[]) => {
  const s = spread(xs);
  return `${s.median.toFixed(3)} (${s.min.toFixed(3)}–${s.max.toFixed(3)})`;
};

async function main() {
  let cluster: Cluster | undefined;
  const cleanup = async () => {
    const c = cluster;
    cluster = undefined;
    await c?.destroy().catch((e) => console.error(`cleanup: ${(e as Error).message}`));
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    const built = await bpfPaths('bnh', 177, false, [{ name: 'bpf-ipip', pool: 'ipip-always', cidr: '10.245.0.0/16', mode: { ipipMode: 'Always' }, mtu: 1480, description: 'bpf-overlay IPIP, tc decap' }]);
    cluster = built.cluster;
    const p = built.paths[0];
    const [n1, n2] = cluster.nodes;
    const pairs: [ClusterNode, ClusterNode][] = [[n1, n2], [n2, n1]];
    for (const child of startServers(p)) cluster.topo.track(child as ChildProcess);
    await waitForServers(p);
    const results: Record<Mode, { udp: Awaited<ReturnType<typeof udpRound>>[]; tcp: Awaited<ReturnType<typeof tcpRound>>[] }> = {
      kernel: { udp: [], tcp: [] },
      'pre-resolved': { udp: [], tcp: [] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      const modes: Mode[] = round % 2 ? ['pre-resolved', 'kernel'] : ['kernel', 'pre-resolved'];
      for (const mode of modes) {
        setNextHops(cluster, pairs, mode === 'pre-resolved');
        const udp = await udpRound(p);
        const tcp = await tcpRound(p);
        results[mode].udp.push(udp);
        results[mode].tcp.push(tcp);
        console.log(`round ${round} ${mode}: udp64 ${JSON.stringify(udp)} tcp -P ${STREAMS} ${JSON.stringify(tcp)}`);
      }
    }
    setNextHops(cluster, pairs, false);
    const lines = (['kernel', 'pre-resolved'] as Mode[]).map((m) => {
      const r = results[m];
      return `| ${m} | ${summary(r.udp.map((x) => x.kpps))} | ${summary(r.udp.map((x) => x.cpuUsPerPacket))} | ${summary(r.udp.map((x) => x.routeNeighPercent))} | ${summary(r.tcp.map((x) => x.gbps))} | ${summary(r.tcp.map((x) => x.cpuSecondsPerGB))} | ${summary(r.tcp.map((x) => x.routeNeighPercent))} |`;
    });
    console.log(
      `\nmedian (min–max) of ${ROUNDS} alternated rounds, ${SECONDS} s each\n` +
        `| hand-off | UDP 64 B kpps | UDP CPU µs/packet | UDP route+neigh % | TCP -P ${STREAMS} Gbit/s | TCP CPU s/GB | TCP route+neigh % |\n|---|---:|---:|---:|---:|---:|---:|\n${lines.join('\n')}`,
    );
    const out = path.join(import.meta.dirname, 'results', `next-hop-ab-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
    writeFileSync(out, JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, streams: STREAMS, results }, null, 2));
    console.log(`wrote ${out}`);
  } finally {
    await cleanup();
    iperfBin.remove();
  }
}

await main();
