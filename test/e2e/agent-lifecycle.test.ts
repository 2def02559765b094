// SPDX-License-Identifier: Apache-2.0
// The agent's life on every node: a `kill -9` and a restart leave an established TCP flow running (the data
// path lives in the kernel, pinned) and the data-path counters continue where they were; then `unload` on every
// node leaves no program, pin, nftables table, route or interface of bpf-overlay behind.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { nftTableName } from '../../src/control/compile/nft.js';
import { kernelDescribe } from '../harness/privileges.js';
import { run, type Netns } from '../harness/netns.js';
import { between, clusterPerFile, counterTotals, describeFlow, describePackets, expectEncap, startPacedFlow } from './checks.js';
import { ippool, type Cluster, type ClusterNode, type Workload } from '../lab/cluster.js';

const POOL_CIDR = '10.244.0.0/16';
const RATE = 1024 * 1024;
const FLOW_S = 14;
const PORT = 15301;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface KernelObjects {
  links: number[];
  progs: number[];
  maps: number[];
}

/** Ids of the bpf_links a node pinned, their programs and those programs' maps (ids are machine-wide). */
function pinnedObjects(cluster: Cluster, node: ClusterNode): KernelObjects {
  const dir = cluster.pins(node).linksDir;
  const links: number[] = [];
  const progs = new Set<number>();
  const maps = new Set<number>();
  for (const name of readdirSync(dir)) {
    const link = JSON.parse(run('bpftool', ['-j', 'link', 'show', 'pinned', path.join(dir, name)])) as { id: number; prog_id: number };
    links.push(link.id);
    progs.add(link.prog_id);
  }
  for (const id of progs) {
    const prog = JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'id', String(id)])) as { map_ids?: number[] };
    for (const m of prog.map_ids ?? []) maps.add(m);
  }
  return { links, progs: [...progs], maps: [...maps] };
}

function stillExisting(objects: KernelObjects): string[] {
  const alive = (kind: string, id: number) => {
    try {
      run('bpftool', ['-j', kind, 'show', 'id', String(id)]);
      return true;
    } catch {
      return false;
    }
  };
  return [
    ...objects.links.filter((id) => alive('link', id)).map((id) => `link ${id}`),
    ...objects.progs.filter((id) => alive('prog', id)).map((id) => `prog ${id}`),
    ...objects.maps.filter((id) => alive('map', id)).map((id) => `map ${id}`),
  ];
}

/** tc filters (cls_bpf fallback) and XDP programs on any interface of the namespace. */
function tcAndXdp(ns: Netns): string[] {
  const found: string[] = [];
  const links = JSON.parse(ns.ip('-j', '-d', 'link', 'show')) as { ifname: string; xdp?: unknown }[];
  for (const l of links) {
    if (l.xdp) found.push(`${l.ifname}: xdp`);
    if (l.ifname === 'lo') continue;
    for (const dir of ['ingress', 'egress']) {
      const out = ns.exec('tc', ['filter', 'show', 'dev', l.ifname, dir]).trim();
      if (out) found.push(`${l.ifname} ${dir}: ${out}`);
    }
  }
  return found;
}

kernelDescribe('agent kill -9 and restart under a TCP flow, then unload on every node (VXLAN Always, natOutgoing)', () => {
  let cluster: Cluster;
  let w1: Workload;
  let w3: Workload;

  const log = clusterPerFile('agent-lifecycle.test.ts', { tag: 'boa', underlayOctet: 106, disableChecksumOffload: true, resources: [ippool('life-pool', POOL_CIDR, { vxlanMode: 'Always', natOutgoing: true })] }, (c) => {
    cluster = c;
    w1 = cluster.addWorkload(0);
    w3 = cluster.addWorkload(2);
  });

  it('kill -9 of the node1 agent and a restart: the established flow survives, counters continue', async () => {
    const n1 = cluster.nodes[0];
    const objectsBefore = pinnedObjects(cluster, n1);
    const cap = await cluster.capture(n1.ns, n1.uplink, { snaplen: 128 });
    const flow = await startPacedFlow(cluster, w1, w3, { bytes: RATE * FLOW_S, rate: RATE, port: PORT, timeoutMs: 60_000 });
    await sleep(3_000);
    const beforeKill = counterTotals(cluster, n1).packets;
    const agent = n1.agent!;
    const killedAt = Date.now();
    await agent.stop('SIGKILL');
    n1.agent = undefined;
    expect(agent.child.signalCode).toBe('SIGKILL');
    await sleep(2_000);
    const whileDown = counterTotals(cluster, n1).packets;
    const restartAt = Date.now();
    await cluster.startAgent(n1);
    const readyMs = Date.now() - restartAt;
    const afterRestart = counterTotals(cluster, n1).packets;
    const objectsAfter = pinnedObjects(cluster, n1);
    const result = await flow.done;
    const atEnd = counterTotals(cluster, n1).packets;
    const s = await cap.stop();

    expect(result.error).toBeUndefined();
    expect(result.receivedBytes).toBe(RATE * FLOW_S);
    expect(result.sha256Match).toBe(true);
    // The data path forwarded while no agent ran, and the restart adopted the pinned counters.
    expect(whileDown).toBeGreaterThan(beforeKill);
    expect(afterRestart).toBeGreaterThanOrEqual(whileDown);
    expect(atEnd).toBeGreaterThan(afterRestart);
    const ofFlow = between(s, w1.address, w3.address);
    expectEncap(ofFlow, 'vxlan', [n1.address, cluster.nodes[2].address]);
    expect(s.checksumErrors).toBe(0);
    const badSums = s.packets
      .filter((p) => p.expert.some((m) => /checksum/i.test(m) && /bad|incorrect/i.test(m)))
      .map((p) => `#${p.frame} ${p.encap} ${p.innerSrc}->${p.innerDst} ${p.expert.filter((m) => /checksum/i.test(m)).join('/')}`);
    const downWindow = ofFlow.filter((p) => p.time * 1000 >= killedAt && p.time * 1000 < restartAt + readyMs).length;
    log.add(
      `kill -9 node1 agent during VXLAN Always flow pod node1 -> pod node3: ${describeFlow(result)}; ` +
        `${downWindow} frames of the flow crossed node1 while its agent was dead or starting; restart ready in ${readyMs} ms; ` +
        `node1 counters (packets) ${beforeKill} before kill, ${whileDown} while down, ${afterRestart} after restart, ${atEnd} at the end; ` +
        `pinned link ids ${objectsBefore.links.join(',')} before, ${objectsAfter.links.join(',')} after the restart; capture: ${describePackets(ofFlow)}` +
        (badSums.length ? ` (bad checksums: ${badSums.join('; ')})` : ''),
    );
  }, 120_000);

  it('unload on every node leaves no programs, pins, nftables tables, routes or interfaces of bpf-overlay', async () => {
    const objects = new Map(cluster.nodes.map((n) => [n, pinnedObjects(cluster, n)] as const));
    for (const n of cluster.nodes) {
      expect(objects.get(n)!.links.length).toBeGreaterThan(0);
      expect(n.ns.exec('nft', ['list', 'tables'])).toContain(nftTableName(n.name));
    }
    // As the README says: stop the agent, then unload.
    for (const n of cluster.nodes) await cluster.stopAgent(n);
    const outputs = cluster.nodes.map((n) => cluster.unload(n).trim());
    const facts: string[] = [];
    for (const n of cluster.nodes) {
      const objs = objects.get(n)!;
      // The kernel frees programs and maps once their last reference (link, pin) is gone; that is deferred work.
      let left = stillExisting(objs);
      for (let i = 0; i < 50 && left.length > 0; i++) {
        await sleep(100);
        left = stillExisting(objs);
      }
      expect(left, `${n.name}: kernel objects left`).toEqual([]);
      expect(existsSync(cluster.pins(n).root)).toBe(false);
      expect(n.ns.exec('nft', ['list', 'tables'])).not.toContain('bpf_overlay');
      expect(tcAndXdp(n.ns)).toEqual([]);
      const routes = n.ns.ip('route').trim().split('\n');
      // What stays is the workloads' own /32 routes (the CNI plugin's, removed by CNI DEL), never a block route.
      expect(routes.filter((r) => r.startsWith('10.244.') && !/^10\.244\.\d+\.\d+ dev /.test(r))).toEqual([]);
      expect(n.ns.ip('-br', 'addr', 'show', 'dev', 'lo')).not.toContain('10.244.');
      facts.push(`${n.name}: ${objs.links.length} links, ${objs.progs.length} programs, ${objs.maps.length} maps gone`);
    }
    // The workloads outlive an unload (as pods outlive their node agent); CNI DEL removes the rest.
    for (const w of [...cluster.workloads]) cluster.removeWorkload(w);
    for (const n of cluster.nodes) {
      const links = (JSON.parse(n.ns.ip('-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname).sort();
      expect(links).toEqual(['eth0', 'lo']);
      expect(n.ns.ip('route').trim().split('\n').filter((r) => r.includes('10.244.'))).toEqual([]);
    }
    log.add(
      `unload on every node: ${outputs.join(' | ')}; ${facts.join('; ')}; no pins, no bpf_overlay nft table, no tc filter/XDP, ` +
        `no block routes or tunnel address; after CNI DEL of the workloads only lo and eth0 remain`,
    );
  });
});
