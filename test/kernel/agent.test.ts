// SPDX-License-Identifier: Apache-2.0
// Two agents on one machine, each in its own network namespace, sharing an embedded datastore: a pool applied
// with the CLI lands in both agents' maps within a second, a mode switch updates the entries in place, the
// agents stop and restart without disturbing the data path, and unload leaves nothing behind.
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import type { BpfMap } from '../../src/control/bpf/types.js';
import { decodeRouteKey, decodeRouteValue, decodeSettingsValue, Encap, encodeU32Key, RouteKind } from '../../src/control/maps/layout.js';
import { cli, httpGetIn, startAgent, twoNodeLab, type AgentProcess } from '../harness/agent.js';
import { kernelDescribe } from '../harness/privileges.js';
import { startEtcdIn } from '../lab/cluster.js';

const POOL = (mode: string) => `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: agent-test-pool
spec:
  cidr: 10.244.0.0/16
  ${mode}
  natOutgoing: true
`;

kernelDescribe('agent: two nodes, one datastore', () => {
  const lab = twoNodeLab('boag', '172.30.1');
  const { datastore, bpffs, names, namespaces, agents } = lab;

  const routesMapOf = (node: string): BpfMap => openPinnedMap(`${bpffs}/bpf-overlay/${node}/routes_map`);
  const remoteBlocks = (map: BpfMap) =>
    map
      .entries()
      .map((e) => ({ cidr: decodeRouteKey(e.key), ...decodeRouteValue(e.value) }))
      .filter((r) => r.kind === RouteKind.RemoteBlock);
  const ds = ['--datastore', datastore];

  beforeAll(async () => {
    lab.wire();
    for (let i = 0; i < 2; i++) {
      agents.push(await startAgent({ ns: namespaces[i], node: names[i], datastore, bpffs, uplink: 'eth0' }));
    }
  });

  afterAll(() => lab.tearDown());

  /** SIGTERM-to-exit is bounded: supervisors (systemd, kubelet, tests) must not have to escalate to SIGKILL. */
  async function sigtermToExitMs(agent: AgentProcess, situation: string): Promise<number> {
    const signalled = performance.now();
    const code = await agent.stop('SIGTERM');
    const exitMs = performance.now() - signalled;
    console.log(`${agent.node} (${situation}): SIGTERM -> exit in ${exitMs.toFixed(0)} ms`);
    expect(code, agent.log().slice(-2000)).toBe(0);
    return exitMs;
  }

  it('answers /healthz and /readyz', () => {
    expect(httpGetIn(namespaces[0], 'http://127.0.0.1:9099/healthz').status).toBe(200);
    expect(httpGetIn(namespaces[1], 'http://127.0.0.1:9099/readyz').status).toBe(200);
  });

  it('lands a newly applied pool in both agents maps within one second', async () => {
    cli([...ds, 'apply', '-f', '-'], { input: POOL('ipipMode: Always') });
    const started = Date.now(); // the change exists once apply has returned
    const maps = names.map(routesMapOf);
    try {
      let landed = false;
      while (Date.now() - started < 3000 && !landed) {
        landed = maps.every((m) => remoteBlocks(m).some((r) => r.encap === Encap.Ipip));
        if (!landed) await new Promise((r) => setTimeout(r, 10));
      }
      const elapsed = Date.now() - started;
      console.log(`pool applied -> remote block routes in both maps after ${elapsed} ms`);
      expect(landed).toBe(true);
      expect(elapsed).toBeLessThan(1000);
      // Each node routes the other's block through the other's underlay address.
      expect(remoteBlocks(maps[0])[0].nextHop).toBe('172.30.1.2');
      expect(remoteBlocks(maps[1])[0].nextHop).toBe('172.30.1.1');
    } finally {
      maps.forEach((m) => m.close());
    }
  });

  it('carries host traffic to the other node tunnel address through BPF IP-in-IP', () => {
    const peer = JSON.parse(cli([...ds, 'get', 'nodes', names[1], '-o', 'json'])) as {
      spec: { bgp: { ipv4IPIPTunnelAddr: string } };
    };
    const out = namespaces[0].exec('ping', ['-c', '3', '-i', '0.2', '-W', '1', peer.spec.bgp.ipv4IPIPTunnelAddr]);
    expect(out).toMatch(/3 received/);
    const counters = JSON.parse(cli(['counters', '--node', names[0], '--bpffs', bpffs, '--json'], { ns: namespaces[0] })) as {
      counters: { hook: string; encap: string; reason: string; packets: number }[];
    };
    const encapped = counters.counters.find((c) => c.hook === 'to-uplink' && c.encap === 'ipip' && c.reason === 'encap');
    const decapped = counters.counters.find((c) => c.hook === 'from-uplink-tc' && c.encap === 'ipip' && c.reason === 'decap');
    expect(encapped?.packets).toBeGreaterThanOrEqual(3);
    expect(decapped?.packets).toBeGreaterThanOrEqual(3);
    // Prometheus sees the same kernel counters, labelled, plus the reconciler's own figures.
    const metrics = httpGetIn(namespaces[0], 'http://127.0.0.1:9091/metrics');
    expect(metrics.status).toBe(200);
    const line = metrics.body.split('\n').find((l) => l.startsWith('bpf_overlay_datapath_packets{') && l.includes('hook="to-uplink"') && l.includes('encap="ipip"') && l.includes('reason="encap"'));
    expect(Number(line?.split(' ').pop())).toBeGreaterThanOrEqual(encapped!.packets);
    expect(metrics.body).toMatch(/^bpf_overlay_reconciles_total\{node="[^"]+"\} [1-9]/m);
  });

  it('switches IPIP to VXLAN by updating the route in place: the key never disappears', async () => {
    const maps = names.map(routesMapOf);
    try {
      const cidrs = maps.map((m) => remoteBlocks(m)[0].cidr);
      cli([...ds, 'apply', '-f', '-'], { input: POOL('vxlanMode: Always') });
      const started = Date.now();
      let missing = 0;
      let switched = false;
      while (Date.now() - started < 3000 && !switched) {
        const states = maps.map((m, i) => remoteBlocks(m).find((r) => r.cidr === cidrs[i]));
        missing += states.filter((s) => !s).length;
        switched = states.every((s) => s?.encap === Encap.Vxlan);
        if (!switched) await new Promise((r) => setTimeout(r, 2));
      }
      const elapsed = Date.now() - started;
      console.log(`IPIP -> VXLAN in both maps after ${elapsed} ms; polls that saw the route missing: ${missing}`);
      expect(switched).toBe(true);
      expect(elapsed).toBeLessThan(1000);
      expect(missing).toBe(0);
      for (const m of maps) expect(remoteBlocks(m)[0].dstMac).toMatch(/^66:/);
    } finally {
      maps.forEach((m) => m.close());
    }
  });

  it('carries host traffic through BPF VXLAN after the switch', () => {
    const peer = JSON.parse(cli([...ds, 'get', 'nodes', names[1], '-o', 'json'])) as { spec: { ipv4VXLANTunnelAddr: string } };
    expect(namespaces[0].exec('ping', ['-c', '3', '-i', '0.2', '-W', '1', peer.spec.ipv4VXLANTunnelAddr])).toMatch(/3 received/);
  });

  it('publishes a new cache generation (settings.cache_gen) after every routes change, never 0', async () => {
    const settings = openPinnedMap(`${bpffs}/bpf-overlay/${names[0]}/settings_map`);
    const gen = () => decodeSettingsValue(settings.lookup(encodeU32Key(0))!).cacheGen!;
    const changed = async (from: number) => {
      const started = Date.now();
      while (gen() === from && Date.now() - started < 3000) await new Promise((r) => setTimeout(r, 10));
      return gen();
    };
    try {
      const first = gen();
      expect(first).not.toBe(0); // the programs' lookup caches are on
      // natOutgoing is a route flag: toggling it rewrites the routes, so the caches must move on, twice.
      cli([...ds, 'apply', '-f', '-'], { input: POOL('vxlanMode: Always').replace('natOutgoing: true', 'natOutgoing: false') });
      const second = await changed(first);
      cli([...ds, 'apply', '-f', '-'], { input: POOL('vxlanMode: Always') });
      const third = await changed(second);
      expect([second !== first, third !== second, second !== 0, third !== 0]).toEqual([true, true, true, true]);
    } finally {
      settings.close();
    }
  });

  it('records each remote change in bpf_overlay_event_to_map_seconds, no longer than the change took end to end', async () => {
    /** Sum (s) and count of the histogram for IPPool deltas on each node's agent. */
    const totals = () =>
      namespaces.map((ns) => {
        const t = { sum: 0, count: 0 };
        for (const line of httpGetIn(ns, 'http://127.0.0.1:9091/metrics').body.split('\n')) {
          const m = /^bpf_overlay_event_to_map_seconds_(sum|count)\{(.*)\} (\S+)$/.exec(line);
          if (m && m[2].includes('kind="IPPool"')) t[m[1] as 'sum' | 'count'] = Number(m[3]);
        }
        return t;
      });
    for (const natOutgoing of [false, true]) {
      const before = totals();
      const applied = performance.now(); // the delta reaches the agents after this
      cli([...ds, 'apply', '-f', '-'], { input: POOL('vxlanMode: Always').replace('natOutgoing: true', `natOutgoing: ${natOutgoing}`) });
      let after = totals();
      while (after.some((t, i) => t.count === before[i].count) && performance.now() - applied < 3000) {
        await new Promise((r) => setTimeout(r, 10));
        after = totals();
      }
      const endToEndMs = performance.now() - applied;
      const samplesMs = after.map((t, i) => ((t.sum - before[i].sum) / (t.count - before[i].count)) * 1000);
      console.log(`natOutgoing ${natOutgoing}: event -> map ${samplesMs.map((x) => x.toFixed(2)).join(' / ')} ms per node, apply -> seen ${endToEndMs.toFixed(0)} ms`);
      // One pool change is one delta per agent: one sample each, of a time within the apply-to-seen span.
      expect(after.map((t, i) => t.count - before[i].count)).toEqual([1, 1]);
      for (const ms of samplesMs) {
        expect(ms).toBeGreaterThan(0);
        expect(ms).toBeLessThan(endToEndMs);
      }
    }
  });

  it('keeps forwarding while agents are stopped, and a restarted agent adopts the pinned state', async () => {
    const peer = JSON.parse(cli([...ds, 'get', 'nodes', names[1], '-o', 'json'])) as { spec: { ipv4VXLANTunnelAddr: string } };
    const countersOf = () => lab.totalPackets(names[0]);
    for (const a of agents.splice(0)) expect(await sigtermToExitMs(a, 'idle')).toBeLessThan(500);
    const before = countersOf();
    expect(namespaces[0].exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', peer.spec.ipv4VXLANTunnelAddr])).toMatch(/2 received/);
    for (let i = 0; i < 2; i++) {
      agents.push(await startAgent({ ns: namespaces[i], node: names[i], datastore, bpffs, uplink: 'eth0' }));
    }
    const afterRestart = countersOf();
    expect(afterRestart).toBeGreaterThan(before); // counters survived the stop and kept counting
    expect(namespaces[0].exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', peer.spec.ipv4VXLANTunnelAddr])).toMatch(/2 received/);
    expect(countersOf()).toBeGreaterThan(afterRestart);
    const status = JSON.parse(cli(['--datastore', datastore, 'status', '--node', names[0], '--bpffs', bpffs, '-o', 'json'], { ns: namespaces[0] }).toString()) as {
      inSync: boolean;
    };
    expect(status.inSync).toBe(true);
  });

  it('unload removes links, pins, nftables table, routes and tunnel addresses', async () => {
    for (const a of agents.splice(0)) await a.stop('SIGTERM');
    // Host routes go through next-hop objects of the node's own (host/routes.ts routeReplaceLine says why).
    for (const ns of namespaces) {
      expect(ns.ip('route', 'show', 'proto', '201')).toMatch(/ nhid \d+ via /);
      expect(ns.ip('nexthop', 'show', 'proto', '201')).toMatch(/ onlink/);
    }
    for (let i = 0; i < 2; i++) cli(['unload', '--node', names[i], '--bpffs', bpffs], { ns: namespaces[i] });
    expect(existsSync(`${bpffs}/bpf-overlay`)).toBe(false);
    for (const ns of namespaces) {
      expect(ns.exec('nft', ['list', 'tables'])).not.toMatch(/bpf_overlay/);
      expect(ns.ip('route', 'show', 'proto', '201')).toBe('');
      expect(ns.ip('nexthop', 'show', 'proto', '201')).toBe('');
      expect(ns.ip('addr', 'show', 'dev', 'lo')).not.toMatch(/lo:bo/);
      expect(ns.exec('tc', ['filter', 'show', 'dev', 'eth0', 'ingress'])).toBe('');
      expect(ns.exec('bpftool', ['net', 'show', 'dev', 'eth0'])).not.toMatch(/tcx|from_uplink|to_uplink/);
    }
  });

  it('exits within 0.5 s of SIGTERM after its etcd went away (no library reconnect timer holds it)', async () => {
    // etcd3 re-arms a watch-reconnect backoff on every failed attempt (it grows to seconds, up to 30 s) and its
    // close() never clears it: before the fix, an agent stopped while etcd was down lingered that long after
    // logging "agent stopped".
    const etcd = await startEtcdIn(namespaces[1], '172.30.1.2', mkdtempSync(join(lab.dir, 'etcd-')));
    try {
      agents.push(await startAgent({ ns: namespaces[0], node: names[0], datastore: etcd.url, bpffs, uplink: 'eth0' }));
    } finally {
      await etcd.stop();
    }
    await new Promise((r) => setTimeout(r, 3000)); // a few failed reconnects: the backoff is now seconds long
    expect(await sigtermToExitMs(agents.pop()!, 'etcd down for 3 s')).toBeLessThan(500);
    cli(['unload', '--node', names[0], '--bpffs', bpffs], { ns: namespaces[0] });
  });

  it('exits within 0.5 s of SIGTERM while a failed reconcile waits to be retried', async () => {
    const agent = await startAgent({ ns: namespaces[0], node: names[0], datastore, bpffs, uplink: 'eth0' });
    agents.push(agent);
    // Something the reconcile cannot apply: a Node left behind with this node's address and a block of its own
    // (the host route via our own address fails, issue #11). Until that is quarantined, every pass fails and
    // the loop pauses 0.5 s before the next; SIGTERM right at the start of a pause must not wait it out.
    const stale = `apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: ${names[0]}-stale}
spec: {bgp: {ipv4Address: 172.30.1.1/24}}
---
apiVersion: projectcalico.org/v3
kind: BlockAffinity
metadata: {name: ${names[0]}-stale-10-244-200-0-26}
spec: {node: ${names[0]}-stale, cidr: 10.244.200.0/26}
`;
    cli([...ds, 'apply', '-f', '-'], { input: stale });
    try {
      const failures = () => agent.log().split('reconcile failed').length - 1;
      const deadline = Date.now() + 5000;
      while (failures() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      // Signal right after a failure was logged: the pause has just begun (or the reconcile never failed).
      const seen = failures();
      while (failures() === seen && seen > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      console.log(`reconcile failures logged before SIGTERM: ${failures()}`);
      expect(await sigtermToExitMs(agents.pop()!, 'failing reconcile')).toBeLessThan(500);
    } finally {
      cli([...ds, 'delete', '-f', '-'], { input: stale });
      cli(['unload', '--node', names[0], '--bpffs', bpffs], { ns: namespaces[0] });
    }
  });
});
