// SPDX-License-Identifier: Apache-2.0
// One bad record never stalls a node (issue #11). A stale Node left behind with a live node's address (cloud
// address reuse) and a block of its own: both agents stay ready, traffic keeps flowing, the stale node is named
// in `status` and counted in /metrics, and no host route via a node's own address is ever attempted. Then a
// known-nodes map made smaller than the cluster: what fits is written, the agent stays ready and says so.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import { decodeRouteKey, MAP_NAMES } from '../../src/control/maps/layout.js';
import { cli, httpGetIn, startAgent, twoNodeLab } from '../harness/agent.js';
import { kernelDescribe } from '../harness/privileges.js';

const POOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: quarantine-pool
spec:
  cidr: 10.248.0.0/16
  ipipMode: Always
`;

kernelDescribe('quarantine: a bad record is skipped, named, counted, and blocks nothing', () => {
  const lab = twoNodeLab('boqr', '172.30.7');
  const { datastore, bpffs, names, namespaces, agents } = lab;
  const ds = ['--datastore', datastore];
  const stale = `${names[0]}-stale`;
  const staleYaml = `apiVersion: projectcalico.org/v3
kind: Node
metadata:
  name: ${stale}
spec:
  bgp:
    ipv4Address: 172.30.7.2/24
---
apiVersion: projectcalico.org/v3
kind: BlockAffinity
metadata:
  name: ${stale}-10-248-200-0-26
spec:
  node: ${stale}
  cidr: 10.248.200.0/26
  state: confirmed
`;

  const routesOf = (node: string): string[] => {
    const m = openPinnedMap(`${bpffs}/bpf-overlay/${node}/${MAP_NAMES.routes}`);
    try {
      return m.keys().map(decodeRouteKey);
    } finally {
      m.close();
    }
  };
  const tunnelAddrOf = (node: string): string =>
    (JSON.parse(cli([...ds, 'get', 'nodes', node, '-o', 'json'])) as { spec: { bgp: { ipv4IPIPTunnelAddr: string } } }).spec.bgp
      .ipv4IPIPTunnelAddr;
  const statusOf = (i: number) =>
    JSON.parse(
      cli([...ds, 'status', '--node', names[i], '--bpffs', bpffs, '-o', 'json'], { ns: namespaces[i] }).toString(),
    ) as { inSync: boolean; warnings: string[] };
  const waitFor = async (what: string, cond: () => boolean, ms = 5_000) => {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    lab.wire();
    cli([...ds, 'apply', '-f', '-'], { input: POOL });
    for (let i = 0; i < 2; i++) {
      agents.push(await startAgent({ ns: namespaces[i], node: names[i], datastore, bpffs, uplink: 'eth0' }));
    }
    await waitFor('tunnel addresses', () => names.every((n) => !!tunnelAddrOf(n)));
  });

  afterAll(() => lab.tearDown());

  it('keeps every agent ready with a stale Node holding a live node address and a block', async () => {
    cli([...ds, 'apply', '-f', '-'], { input: staleYaml });
    // Give both agents time to see it (the SQLite watch polls every 50 ms), then every probe must say ready.
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 2; i++) {
      await waitFor(`readyz of ${names[i]}`, () => httpGetIn(namespaces[i], 'http://127.0.0.1:9099/readyz').status === 200);
    }
    for (const n of names) expect(routesOf(n)).not.toContain('10.248.200.0/26');
    // Node 2's agent would have routed the stale block via its own address ("Nexthop has invalid gateway").
    expect(namespaces[1].ip('route', 'show', 'proto', '201')).not.toMatch(/10\.248\.200\.0/);
    for (const a of agents) expect(a.log()).not.toMatch(/Nexthop has invalid gateway/);
  });

  it('carries traffic between the live nodes in both directions', () => {
    expect(namespaces[0].exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', tunnelAddrOf(names[1])])).toMatch(/2 received/);
    expect(namespaces[1].exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', tunnelAddrOf(names[0])])).toMatch(/2 received/);
  });

  it('names the stale node in status warnings and counts it in /metrics, for every node', async () => {
    for (let i = 0; i < 2; i++) {
      const status = statusOf(i);
      expect(status.warnings.filter((w) => w.includes(`Node ${stale}:`)).length).toBeGreaterThan(0);
      expect(status.inSync).toBe(true);
      const metrics = httpGetIn(namespaces[i], 'http://127.0.0.1:9091/metrics').body;
      expect(metrics).toMatch(/^bpf_overlay_quarantined_records\{[^}]*kind="Node"[^}]*\} 1$/m);
      // The whole test so far cost each agent one datastore list: everything else came from its watch.
      expect(metrics).toMatch(/^bpf_overlay_datastore_lists_total\{[^}]*\} 1$/m);
    }
    // Logged once, with kind and name.
    await new Promise((r) => setTimeout(r, 100)); // the agent's log reaches us through a pipe
    const lines = agents[1].log().split('\n').filter((l) => l.includes('record quarantined') && l.includes(stale));
    expect(lines).toHaveLength(1);
  });

  it('admits the block again once the stale node is deleted', async () => {
    cli([...ds, 'delete', 'node', stale]);
    await waitFor('status warnings cleared', () => statusOf(1).warnings.every((w) => !w.includes(stale)));
    expect(httpGetIn(namespaces[1], 'http://127.0.0.1:9099/readyz').status).toBe(200);
    await waitFor('release logged', () => /record released from quarantine/.test(agents[1].log()));
  });

  it('registers its Node again when it is deleted under a running agent', async () => {
    cli([...ds, 'delete', 'node', names[1]]);
    await waitFor('Node registered again', () => {
      try {
        return !!tunnelAddrOf(names[1]);
      } catch {
        return false; // not there yet
      }
    });
    await waitFor(`readyz of ${names[1]}`, () => httpGetIn(namespaces[1], 'http://127.0.0.1:9099/readyz').status === 200);
    expect(namespaces[0].exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', tunnelAddrOf(names[1])])).toMatch(/2 received/);
  });

  it('writes what fits in a map smaller than the cluster, stays ready and says which entries are left out', async () => {
    // Node 1 restarts with a known-nodes map of 2 entries (a fresh pin: unload first), then 3 more nodes come.
    for (const a of agents.splice(0, 1)) await a.stop('SIGTERM');
    cli(['unload', '--node', names[0], '--bpffs', bpffs], { ns: namespaces[0] });
    agents.unshift(
      await startAgent({
        ns: namespaces[0],
        node: names[0],
        datastore,
        bpffs,
        uplink: 'eth0',
        extraArgs: ['--max-known-nodes', '2'],
      }),
    );
    const extra = [10, 11, 12]
      .map((h) => `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata:\n  name: ${names[0]}-x${h}\nspec:\n  bgp:\n    ipv4Address: 172.30.8.${h}/24\n`)
      .join('---\n');
    cli([...ds, 'apply', '-f', '-'], { input: extra });
    const known = () => {
      const m = openPinnedMap(`${bpffs}/bpf-overlay/${names[0]}/${MAP_NAMES.knownNodes}`);
      try {
        return { max: m.maxEntries, count: m.keys().length };
      } finally {
        m.close();
      }
    };
    await waitFor('map full warning', () => statusOf(0).warnings.some((w) => w.includes(`${MAP_NAMES.knownNodes} is full`)));
    expect(known()).toEqual({ max: 2, count: 2 });
    expect(httpGetIn(namespaces[0], 'http://127.0.0.1:9099/readyz').status).toBe(200);
    await waitFor('map full logged', () => /map full: entries beyond its capacity are not written/.test(agents[0].log()));
    // The live peer sorts first and fits: traffic still flows.
    expect(namespaces[0].exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', tunnelAddrOf(names[1])])).toMatch(/2 received/);
    // Room frees up: the left-out entries are written without anyone asking.
    for (const h of [10, 11]) cli([...ds, 'delete', 'node', `${names[0]}-x${h}`]);
    await waitFor('map warning cleared', () => statusOf(0).warnings.every((w) => !w.includes('is full')));
    expect(known()).toEqual({ max: 2, count: 2 });
  });
});
