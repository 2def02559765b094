// SPDX-License-Identifier: Apache-2.0
// BGP with real BIRD in the namespace cluster. The router runs BIRD as a top-of-rack speaker (AS 65000) and
// installs what it learns into its kernel table; the nodes peer with it through BGPPeer resources selected by
// rack labels, and with each other in the node-to-node mesh. Before any BGP resource exists the cluster is
// VXLAN-only and runs no BIRD at all.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { BirdPaths } from '../../src/control/bgp/paths.js';
import { API_VERSION, type Node, type Resource } from '../../src/control/model/types.js';
import { cli, CLI, httpGetIn } from '../harness/agent.js';
import { kernelDescribe } from '../harness/privileges.js';
import { between, clusterPerFile, expectEncap, waitInSync } from './checks.js';
import { ippool, type Cluster, type ClusterNode, type Workload } from '../lab/cluster.js';

const TOR_AS = 65000;
const OCTET = 113;
const PLAIN = ippool('plain', '10.246.0.0/16'); // Never: packets on the wire as the pods sent them
const PRIVATE = ippool('private', '10.247.0.0/16', { disableBGPExport: true });

interface BgpReport {
  bgp: { enabled: boolean; asNumber: number | null; routerId: string | null; peers: { peerIP: string; asNumber: number; type: string; state: string; since: string | null }[] };
}

/** `status -o json` in the node's namespace; it exits 1 while maps catch up, with its report on stdout all the same. */
function status(cluster: Cluster, node: ClusterNode): BgpReport {
  const res = spawnSync(
    'nsenter',
    [`--net=${node.ns.path}`, '--', process.execPath, CLI, 'status', '--node', node.name, '--bpffs', cluster.bpffs, '-o', 'json', '--datastore', cluster.datastoreUrl],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (!res.stdout?.trim().startsWith('{')) throw new Error(`status --node ${node.name}: ${res.stderr || res.error?.message}`);
  return JSON.parse(res.stdout) as BgpReport;
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const allEstablished = (r: BgpReport) => r.bgp.enabled && r.bgp.peers.length > 0 && r.bgp.peers.every((p) => p.state === 'Established');

function birdPid(node: ClusterNode): number | null {
  const file = new BirdPaths(node.name).pidFile;
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return existsSync(`/proc/${pid}`) ? pid : null;
}

/** BIRD processes started for a node, found by its control socket on their command line. */
function birdProcesses(node: ClusterNode): number[] {
  const socket = new BirdPaths(node.name).socket;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (/(^|\/)bird$/.test(argv[0]) && argv.includes(socket)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Blocks the router's kernel learned from BIRD: cidr -> gateway. */
function routerBgpRoutes(cluster: Cluster): Map<string, string> {
  const routes = JSON.parse(cluster.router.exec('ip', ['-j', 'route', 'show', 'proto', 'bird'])) as { dst: string; gateway?: string }[];
  return new Map(routes.map((r) => [r.dst, r.gateway ?? '']));
}

function blocksOf(cluster: Cluster, node: ClusterNode, prefix: string): string[] {
  return cluster
    .get('blockaffinities')
    .filter((b) => (b as { spec: { node: string; cidr: string } }).spec.node === node.name)
    .map((b) => (b as { spec: { cidr: string } }).spec.cidr)
    .filter((c) => c.startsWith(prefix));
}

function startTorBird(cluster: Cluster): void {
  const [n1, n2, n3] = cluster.nodes;
  const conf = path.join(cluster.tmp, 'tor.conf');
  const neighbor = (n: ClusterNode) =>
    `protocol bgp n_${n.address.replace(/\./g, '_')} { local as ${TOR_AS}; neighbor ${n.address} as 64512; multihop; ipv4 { import all; export none; }; }`;
  writeFileSync(
    conf,
    [
      `router id ${cluster.routerAddress('A')};`,
      'protocol device { scan time 2; }',
      'protocol direct { ipv4; interface "*"; }',
      // The top-of-rack router installs every workload route it learns: that is how the fabric routes pods.
      'protocol kernel { ipv4 { import none; export all; }; }',
      ...[n1, n2, n3].map(neighbor),
      '',
    ].join('\n'),
  );
  const child = cluster.router.spawn('bird', ['-f', '-c', conf, '-s', path.join(cluster.tmp, 'tor.ctl')], { stdio: 'ignore' });
  cluster.topo.track(child);
}

kernelDescribe('BGP with BIRD: mesh, top-of-rack peering, no-overlay pools across the router', () => {
  let cluster: Cluster;
  let w1: Workload;
  let w2: Workload;
  let w3: Workload;
  let wPrivate: Workload;

  const log = clusterPerFile('bgp.test.ts', { tag: 'bgp', underlayOctet: OCTET, resources: [ippool('vx', '10.244.0.0/16', { vxlanMode: 'Always' })] }, (c) => {
    cluster = c;
  });

  it('a VXLAN-only cluster (no BGPConfiguration, no BGPPeer) runs no BIRD and reports BGP off', async () => {
    await waitInSync(cluster);
    for (const node of cluster.nodes) {
      expect(birdProcesses(node)).toEqual([]);
      expect(existsSync(new BirdPaths(node.name).dir)).toBe(false);
      expect(status(cluster, node).bgp).toEqual({ enabled: false, asNumber: null, routerId: null, peers: [] });
    }
    log.add('VXLAN-only: no bird process, no state directory, status bgp.enabled=false on all 3 nodes');
  });

  it('with BGPConfiguration and rack BGPPeers every node peers with the mesh and its top-of-rack: all Established', async () => {
    startTorBird(cluster);
    const x = `10.${OCTET}`;
    const labelled = (cluster.get('nodes') as Node[]).map((n) => ({
      ...n,
      metadata: { name: n.metadata.name, labels: { rack: n.spec.bgp?.ipv4Address?.startsWith(`${x}.1.`) ? 'a' : 'b' } },
    }));
    const bgp: Resource[] = [
      { apiVersion: API_VERSION, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { asNumber: 64512, nodeToNodeMeshEnabled: true, logSeverityScreen: 'Info' } },
      { apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name: 'tor-a' }, spec: { nodeSelector: "rack == 'a'", peerIP: `${x}.1.1`, asNumber: TOR_AS } },
      { apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name: 'tor-b' }, spec: { nodeSelector: "rack == 'b'", peerIP: `${x}.2.1`, asNumber: TOR_AS } },
    ];
    cluster.apply([...labelled, PLAIN, PRIVATE, ...bgp]);
    const started = Date.now();
    const reports = await until('every BGP session Established', 60_000, () => {
      const r = cluster.nodes.map((n) => status(cluster, n));
      return r.every(allEstablished) ? r : undefined;
    });
    const [n1, , n3] = cluster.nodes;
    expect(reports[0].bgp.asNumber).toBe(64512);
    expect(reports[0].bgp.routerId).toBe(n1.address);
    const types = reports[0].bgp.peers.map((p) => `${p.peerIP} ${p.type} ${p.asNumber}`).sort();
    expect(types).toEqual([`${cluster.nodes[1].address} node-to-node mesh 64512`, `${n3.address} node-to-node mesh 64512`, `${x}.1.1 node specific ${TOR_AS}`].sort());
    expect(reports[2].bgp.peers.find((p) => p.type === 'node specific')?.peerIP).toBe(`${x}.2.1`);
    for (const p of reports[0].bgp.peers) expect(p.since).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    // /readyz names the BGP check while BGP is on; metrics count sessions per state
    const ready = await until('readyz 200 with BGP', 20_000, () => {
      const r = httpGetIn(n1.ns, `http://127.0.0.1:${n1.healthPort}/readyz`);
      return r.status === 200 ? r : undefined;
    });
    expect(JSON.parse(ready.body).checks).toEqual({ 'BGP peers established': true });
    const metrics = httpGetIn(n1.ns, `http://127.0.0.1:${n1.metricsPort}/metrics`).body;
    expect(metrics).toMatch(/bpf_overlay_bgp_peers\{state="Established",node="[^"]+"\} 3/);
    const table = cli(['status', '--node', n1.name, '--bpffs', cluster.bpffs, '--datastore', cluster.datastoreUrl], { ns: n1.ns }).toString();
    expect(table).toContain('| PEER ADDRESS');
    log.add(`BGP on: ${reports.map((r) => r.bgp.peers.length).join('/')} sessions Established on n1/n2/n3 in ${Date.now() - started} ms; readyz checks ${ready.body.match(/"checks":\{[^}]*\}/)?.[0]}`);
  });

  it('BIRD is reconfigured only when its configuration changes, and a reconfiguration keeps the sessions up', async () => {
    const [n1, n2] = cluster.nodes;
    const reconfigures = () => (n1.agent!.log().match(/bird reconfigured/g) ?? []).length;
    const sessions = () => status(cluster, n1).bgp.peers.map((p) => `${p.peerIP} ${p.state} ${p.since}`).sort();
    const before = { count: reconfigures(), sessions: sessions() };
    // unrelated to n1's BGP: a label no selector reads, on another node
    const node2 = (cluster.get('nodes') as Node[]).find((n) => n.metadata.name === n2.name)!;
    cluster.apply([{ ...node2, metadata: { name: node2.metadata.name, labels: { ...node2.metadata.labels, team: 'blue' } } }]);
    await waitInSync(cluster);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(reconfigures()).toBe(before.count);
    // relevant: the log level is part of BIRD's configuration
    cluster.apply([{ apiVersion: API_VERSION, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { asNumber: 64512, nodeToNodeMeshEnabled: true, logSeverityScreen: 'Warning' } }]);
    await until('n1 reconfigures bird', 15_000, () => reconfigures() > before.count);
    await new Promise((r) => setTimeout(r, 2_500));
    expect(sessions()).toEqual(before.sessions);
    log.add(`unrelated edit: 0 reconfigurations; logSeverityScreen Warning: ${reconfigures() - before.count} reconfiguration, sessions unchanged (${before.sessions.length} Established, same since)`);
  });

  it('the router learns every node block with the node as next hop; a disableBGPExport pool is not advertised', async () => {
    w1 = cluster.addWorkload(0, { pool: 'plain' });
    w2 = cluster.addWorkload(1, { pool: 'plain' });
    w3 = cluster.addWorkload(2, { pool: 'plain' });
    wPrivate = cluster.addWorkload(2, { pool: 'private' });
    const expected = new Map(cluster.nodes.flatMap((n) => blocksOf(cluster, n, '10.246.').map((b) => [b, n.address] as const)));
    expect(expected.size).toBe(3);
    const learned = await until('router kernel learns all three blocks', 30_000, () => {
      const routes = routerBgpRoutes(cluster);
      return [...expected].every(([b, gw]) => routes.get(b) === gw) ? routes : undefined;
    });
    const privateBlocks = blocksOf(cluster, cluster.nodes[2], '10.247.');
    expect(privateBlocks.length).toBe(1);
    // give BIRD a few more update rounds: the withheld block must still be absent
    await new Promise((r) => setTimeout(r, 3_000));
    expect([...routerBgpRoutes(cluster).keys()].filter((d) => d.startsWith('10.247.'))).toEqual([]);
    log.add(`router kernel (proto bird): ${[...expected].map(([b, gw]) => `${b} via ${gw}`).join(', ')}; withheld ${privateBlocks.join(', ')} absent (${wPrivate.address})`);
  });

  it('a Never pool carries pod <-> pod traffic across the router, plain on the wire; an external host reaches pods by address', async () => {
    await waitInSync(cluster);
    const [n1, , n3] = cluster.nodes;
    const cap1 = await cluster.capture(n1.ns, 'eth0');
    const cap3 = await cluster.capture(n3.ns, 'eth0');
    const across = cluster.ping(w1, w3.address, { count: 5 });
    const tcp = await cluster.tcpTransfer(w3, w1, { bytes: 2 * 1024 * 1024 });
    const sameSubnet = cluster.ping(w1, w2.address);
    const fromExt = cluster.ping(cluster.ext, w3.address);
    const fromExt1 = cluster.ping(cluster.ext, w1.address);
    const s1 = await cap1.stop();
    const s3 = await cap3.stop();
    expect(across.ok, across.output).toBe(true);
    expect(tcp.ok, tcp.error).toBe(true);
    expect(sameSubnet.ok, sameSubnet.output).toBe(true);
    expect(fromExt.ok, fromExt.output).toBe(true);
    expect(fromExt1.ok, fromExt1.output).toBe(true);
    const pods1 = between(s1, w1.address, w3.address);
    const pods3 = between(s3, w1.address, w3.address);
    expectEncap(pods1, 'plain');
    expectEncap(pods3, 'plain');
    // Plain across the router: node1 hands the packets to the router's MAC, never ARPs for node3's address.
    expect(s1.packets.filter((p) => p.arpTarget === n3.address)).toEqual([]);
    const ext = between(s3, cluster.extAddress, w3.address);
    expectEncap(ext, 'plain');
    log.add(`Never pool across the router: ping ${across.received}/5, TCP 2 MiB sha256 ok in ${tcp.ms} ms, ${pods1.length}+${pods3.length} plain frames on n1/n3 uplinks, 0 ARP for ${n3.address}; ext -> pods ok (${ext.length} plain frames)`);
  });

  it('a killed BIRD is detected and restarted by the agent; sessions come back', async () => {
    const n1 = cluster.nodes[0];
    const before = birdPid(n1);
    expect(before).not.toBeNull();
    process.kill(before!, 'SIGKILL');
    const started = Date.now();
    const after = await until('a new bird', 20_000, () => {
      const pid = birdPid(n1);
      return pid !== null && pid !== before ? pid : undefined;
    });
    await until('sessions Established again', 60_000, () => allEstablished(status(cluster, n1)));
    const metrics = httpGetIn(n1.ns, `http://127.0.0.1:${n1.metricsPort}/metrics`).body;
    expect(metrics).toMatch(/bpf_overlay_bgp_bird_restarts\{node="[^"]+"\} 1/);
    expect(cluster.ping(w1, w3.address).ok).toBe(true);
    log.add(`bird ${before} killed: agent started bird ${after}, all sessions Established again after ${Date.now() - started} ms`);
  });

  it('agent SIGTERM: BIRD leaves with graceful restart, the router keeps the node block and pods stay reachable; a new agent restores the sessions', async () => {
    const n3 = cluster.nodes[2];
    const block = blocksOf(cluster, n3, '10.246.')[0];
    await cluster.stopAgent(n3);
    expect(birdProcesses(n3)).toEqual([]);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(routerBgpRoutes(cluster).get(block)).toBe(n3.address);
    const ping = cluster.ping(cluster.ext, w3.address);
    expect(ping.ok, ping.output).toBe(true);
    const started = Date.now();
    await cluster.startAgent(n3); // ready only once its BGP sessions are Established
    expect(allEstablished(status(cluster, n3))).toBe(true);
    log.add(`agent ${n3.name} stopped: router kept ${block} (graceful restart), ext -> pod ping ${ping.received}/3; restarted agent ready with BGP Established in ${Date.now() - started} ms`);
  });

  it('mixed cluster: a block a Calico node announces in the mesh is routed like our own nodes\' blocks', async () => {
    // The ext host plays a Calico node: a Node in the datastore (so every node meshes with it), BIRD configured
    // the way calico/node's confd does (Mesh_ sessions, AS 64512, its block as a static route), no BlockAffinity
    // in our datastore: only BGP tells our nodes where its block is.
    const [n1] = cluster.nodes;
    const calicoBlock = '10.246.200.0/26';
    const calicoPod = '10.246.200.1';
    cluster.ext.ip('addr', 'add', `${calicoPod}/32`, 'dev', 'lo');
    cluster.router.ip('route', 'add', calicoBlock, 'via', cluster.extAddress); // the fabric's route to the Calico node
    const conf = path.join(cluster.tmp, 'calico-node.conf');
    const mesh = cluster.nodes.map(
      (n) =>
        `protocol bgp Mesh_${n.address.replace(/\./g, '_')} { local as 64512; neighbor ${n.address} as 64512; source address ${cluster.extAddress}; multihop; graceful restart; ipv4 { gateway recursive; import all; export where proto = "calico_blocks"; }; }`,
    );
    writeFileSync(
      conf,
      [
        `router id ${cluster.extAddress};`,
        'protocol device { scan time 2; }',
        'protocol direct { ipv4; interface "*"; }',
        'protocol kernel { ipv4 { import all; export none; }; learn; }',
        `protocol static calico_blocks { ipv4; route ${calicoBlock} blackhole; }`,
        ...mesh,
        '',
      ].join('\n'),
    );
    cluster.topo.track(cluster.ext.spawn('bird', ['-f', '-c', conf, '-s', path.join(cluster.tmp, 'calico-node.ctl')], { stdio: 'ignore' }));
    cluster.apply([{ apiVersion: API_VERSION, kind: 'Node', metadata: { name: `${cluster.topo.prefix}-calico` }, spec: { bgp: { ipv4Address: `${cluster.extAddress}/24` } } }]);
    const started = Date.now();
    await until('n1 meshes with the Calico node', 60_000, () =>
      status(cluster, n1).bgp.peers.find((p) => p.peerIP === cluster.extAddress && p.type === 'node-to-node mesh')?.state === 'Established',
    );
    const route = await until('n1 routes the Calico block', 30_000, () => {
      const { items } = JSON.parse(cli(['get', 'routes', calicoBlock, '--node', n1.name, '-o', 'json', '--datastore', cluster.datastoreUrl], { ns: n1.ns })) as {
        items: { kind: string | null; nextHop: string; reason: string }[];
      };
      return items.find((r) => r.kind === 'remote-block');
    });
    expect(route.nextHop).toBe(cluster.extAddress);
    expect(route.reason).toMatch(/^learned over BGP from 10\.\d+\.3\.2; ipipMode and vxlanMode Never -> plain$/);
    const cap = await cluster.capture(n1.ns, 'eth0');
    const ping = cluster.ping(w1, calicoPod);
    const s = await cap.stop();
    expect(ping.ok, ping.output).toBe(true);
    expectEncap(between(s, w1.address, calicoPod), 'plain');
    log.add(`mixed cluster: ${calicoBlock} learned from the Calico node ${cluster.extAddress} in the mesh after ${Date.now() - started} ms, w1 -> ${calicoPod} ping ${ping.received}/3 plain`);
  });

  it('unload leaves no BIRD process or socket, even after the agent was killed outright', async () => {
    const n2 = cluster.nodes[1];
    const pid = birdPid(n2);
    expect(pid).not.toBeNull();
    n2.agent!.child.kill('SIGKILL');
    await cluster.stopAgent(n2);
    expect(birdProcesses(n2)).toEqual([pid]); // orphaned, still serving routes until unload
    const out = cluster.unload(n2);
    expect(out).toContain(`bird ${pid} stopped`);
    expect(birdProcesses(n2)).toEqual([]);
    expect(existsSync(new BirdPaths(n2.name).socket)).toBe(false);
    expect(existsSync(new BirdPaths(n2.name).dir)).toBe(false);
    log.add(`unload ${n2.name}: ${out.trim()}; no bird process, no socket`);
  });
});
