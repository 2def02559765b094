// SPDX-License-Identifier: Apache-2.0
// A pool's encapsulation changed under a running TCP flow: IPIP Always -> VXLAN Always -> IPIP Always, pod on
// node1 -> pod on node3 (across the router, so the flow lives only while it is encapsulated). The agents keep
// running (same processes); the capture on the node1 underlay timestamps every packet of the flow, so the test
// can tell when each direction (data from node1, ACKs from node3) took the new encapsulation after the apply.
import { expect, it } from 'vitest';
import { kernelDescribe } from '../harness/privileges.js';
import { clusterPerFile, countByEncap, counterTotals, describeFlow, notableCounterGrowth, startPacedFlow } from './checks.js';
import { ippool, type Cluster, type DissectedPacket, type Workload } from '../lab/cluster.js';

const IPIP = ippool('live-pool', '10.244.0.0/16', { ipipMode: 'Always' });
const VXLAN = ippool('live-pool', '10.244.0.0/16', { vxlanMode: 'Always' });
const RATE = 600 * 1024; // bytes/s: the flow lasts FLOW_S whatever the machine's speed
const FLOW_S = 24;
const PORT = 15201;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

kernelDescribe('live pool mode change under a running TCP flow', () => {
  let cluster: Cluster;
  let w1: Workload;
  let w3: Workload;

  const log = clusterPerFile('live-mode-change.test.ts', { tag: 'bol', underlayOctet: 105, disableChecksumOffload: true, resources: [IPIP] }, (c) => {
    cluster = c;
    w1 = cluster.addWorkload(0);
    w3 = cluster.addWorkload(2);
  });

  it('IPIP Always -> VXLAN Always -> IPIP Always: new packets take the new encapsulation within 1 s, the flow completes', async () => {
    const [n1, , n3] = cluster.nodes;
    const pids = cluster.nodes.map((n) => n.agent!.child.pid);
    const countersBefore = [n1, n3].map((n) => counterTotals(cluster, n));
    const cap = await cluster.capture(n1.ns, n1.uplink, { snaplen: 128 });
    const flow = await startPacedFlow(cluster, w1, w3, { bytes: RATE * FLOW_S, rate: RATE, port: PORT, timeoutMs: 90_000 });
    const t0 = Date.now();
    await sleep(7_000);
    const toVxlan = { start: Date.now(), end: 0 };
    cluster.apply([VXLAN]);
    toVxlan.end = Date.now();
    await sleep(Math.max(0, t0 + 15_000 - Date.now()));
    const toIpip = { start: Date.now(), end: 0 };
    cluster.apply([IPIP]);
    toIpip.end = Date.now();
    const result = await flow.done;
    const s = await cap.stop();
    const notable = [n1, n3].flatMap((n, i) => notableCounterGrowth(countersBefore[i], counterTotals(cluster, n)).map((x) => `${i === 0 ? 'node1' : 'node3'} ${x}`));

    expect(cluster.nodes.map((n) => n.agent?.child.pid)).toEqual(pids);
    expect(cluster.nodes.every((n) => n.agent?.child.exitCode === null)).toBe(true);

    const ofFlow = s.packets.filter((p) => p.tcpSrcPort === PORT || p.tcpDstPort === PORT);
    const data = ofFlow.filter((p) => p.src === n1.address && p.innerSrc === w1.address);
    const acks = ofFlow.filter((p) => p.src === n3.address && p.innerSrc === w3.address);
    // In a direction, the switch happened at the last packet of the old form and the first of the new one.
    const switchOf = (pkts: DissectedPacket[], from: 'ipip' | 'vxlan', to: 'ipip' | 'vxlan', after: number, before: number) => {
      const window = pkts.filter((p) => p.time * 1000 >= after - 2_000 && p.time * 1000 < before);
      const firstNew = window.find((p) => p.encap === to && p.time * 1000 >= after);
      const lastOld = [...window].reverse().find((p) => p.encap === from);
      return {
        firstNewMs: firstNew ? Math.round(firstNew.time * 1000 - after) : undefined,
        lastOldMs: lastOld ? Math.round(lastOld.time * 1000 - after) : undefined,
        counts: countByEncap(window),
      };
    };
    const phases = [
      { name: 'IPIP->VXLAN', from: 'ipip' as const, to: 'vxlan' as const, apply: toVxlan, until: toIpip.start },
      { name: 'VXLAN->IPIP', from: 'vxlan' as const, to: 'ipip' as const, apply: toIpip, until: Date.now() + 60_000 },
    ];
    const lines: string[] = [];
    for (const ph of phases) {
      for (const [dir, pkts] of [['data node1->node3', data], ['ACKs node3->node1', acks]] as const) {
        const sw = switchOf(pkts, ph.from, ph.to, ph.apply.end, ph.until);
        lines.push(
          `${ph.name} ${dir}: first ${ph.to.toUpperCase()} ${sw.firstNewMs} ms, last ${ph.from.toUpperCase()} ${sw.lastOldMs} ms after the apply returned ` +
            `(apply took ${ph.apply.end - ph.apply.start} ms)`,
        );
        expect(sw.firstNewMs, `${ph.name} ${dir}: no ${ph.to} packet after the apply`).toBeDefined();
        expect(sw.firstNewMs!).toBeLessThanOrEqual(1_000);
        expect(sw.lastOldMs ?? -Infinity).toBeLessThanOrEqual(1_000);
      }
    }
    const all = countByEncap(ofFlow);
    const summary =
      `live change IPIP Always -> VXLAN Always -> IPIP Always, pod node1 -> pod node3, agents not restarted (same pids): ` +
      `${describeFlow(result)}; capture of the flow: ${all.ipip} IPIP, ${all.vxlan} VXLAN, ${all.plain} plain, ${s.malformed} malformed, ${s.checksumErrors} bad checksums; ` +
      `throughput per second (KB) ${result.perSecond.map((b) => Math.round(b / 1024)).join(' ')}; ` +
      `drop/frag-needed counters that grew: ${notable.length ? notable.join(', ') : 'none'}; workload MTU ${w1.ns.ip('-j', 'link', 'show', 'dev', w1.ifname).match(/"mtu":(\d+)/)?.[1]}`;
    log.add(summary);
    for (const l of lines) log.add(`  ${l}`);
    expect(result.error).toBeUndefined();
    expect(result.receivedBytes).toBe(RATE * FLOW_S);
    expect(result.sha256Match).toBe(true);
    expect(s.malformed).toBe(0);
    expect(s.checksumErrors).toBe(0);
  }, 150_000);
});
