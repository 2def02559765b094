// SPDX-License-Identifier: Apache-2.0
// BGP: value formats, validation of Calico's BGP resources, the plan (which sessions, what is advertised), the
// BIRD configuration rendered from it (checked by BIRD's own parser when bird is installed), and birdc parsing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLearnedRoutes, parseProtocols } from '../../src/control/bgp/birdc.js';
import { planBgp, type BgpInputs } from '../../src/control/bgp/plan.js';
import { renderBirdConfig } from '../../src/control/bgp/render.js';
import { bgpStatusOf, renderBgpStatusTable } from '../../src/control/bgp/status.js';
import { compile } from '../../src/control/compile/compile.js';
import { IncrementalCompiler } from '../../src/control/compile/incremental.js';
import { parseAsNumber, parseDurationSeconds, parsePeerAddress } from '../../src/control/model/bgp.js';
import type { BGPConfiguration, BGPPeer, BlockAffinity, IPPool, Node, WorkloadEndpoint } from '../../src/control/model/types.js';
import { formatProblem, loadManifests } from '../../src/control/validation/index.js';

const V3 = 'projectcalico.org/v3' as const;
const doc = (kind: string, name: string, spec: unknown) => JSON.stringify({ apiVersion: V3, kind, metadata: { name }, spec });
function errors(text: string): string[][] {
  return loadManifests(text, 'in.yaml').problems.filter((p) => p.severity === 'error').map((p) => [p.field, p.message]);
}

describe('BGP value formats', () => {
  it('AS numbers: plain, decimal text and dotted A.B; 0 and out of range are none', () => {
    expect([64512, '64512', '1.10', 4294967295, '65535.65535'].map(parseAsNumber)).toEqual([64512, 64512, 65546, 4294967295, 4294967295]);
    expect([0, '0', '65536.1', 4294967296, '-1', 'x', 1.5].map(parseAsNumber)).toEqual([null, null, null, null, null, null, null]);
  });
  it('peer addresses: IPv4 with an optional port', () => {
    expect(parsePeerAddress('10.0.0.1')).toEqual({ ip: '10.0.0.1' });
    expect(parsePeerAddress('10.0.0.1:1790')).toEqual({ ip: '10.0.0.1', port: 1790 });
    expect(['10.0.0.1:0', '10.0.0.1:70000', '10.0.0.256', 'fd00::1', '[fd00::1]:179'].map(parsePeerAddress)).toEqual([null, null, null, null, null]);
  });
  it('durations', () => {
    expect(['120s', '2m', '1m30s', '1h', '500ms'].map(parseDurationSeconds)).toEqual([120, 120, 90, 3600, 1]);
    expect(['120', 's', '2d', ''].map(parseDurationSeconds)).toEqual([null, null, null, null]);
  });
});

describe('validation of BGP resources', () => {
  it("accepts Calico's BGP manifests unchanged, warning that service IPs are not advertised", () => {
    const r = loadManifests(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'calico-bgp.yaml'), 'utf8'), 'calico-bgp.yaml');
    expect(r.problems.filter((p) => p.severity === 'error').map(formatProblem)).toEqual([]);
    expect(r.problems.map((p) => [p.severity, p.field])).toEqual([['warning', 'spec.serviceClusterIPs']]);
    const node = r.resources.find((x) => x.resource.kind === 'Node')!.resource as Node;
    expect(node.spec.bgp).toMatchObject({ asNumber: 63400, routeReflectorClusterID: '244.0.0.1' });
    const peer = r.resources.find((x) => x.resource.metadata.name === 'my-global-peer')!.resource as BGPPeer;
    expect(peer.spec).toEqual({ peerIP: '192.20.30.41:1790', asNumber: 64567, keepOriginalNextHop: true, maxRestartTime: '2m', sourceAddress: 'UseNodeIP' });
  });

  it.each([
    [{ node: 'a', nodeSelector: 'all()', peerIP: '10.0.0.1', asNumber: 1 }, 'spec.nodeSelector', 'node and nodeSelector cannot both be set'],
    [{ peerIP: '10.0.0.1', peerSelector: 'all()' }, 'spec.peerSelector', 'peerIP and peerSelector cannot both be set'],
    [{ peerSelector: 'all()', asNumber: 5 }, 'spec.asNumber', "asNumber must be empty when peerSelector is set (the peers' own AS numbers are used)"],
    [{ asNumber: 5 }, 'spec.peerIP', 'one of peerIP or peerSelector must be set'],
    [{ peerIP: '10.0.0.1' }, 'spec.asNumber', "the peer's AS number is required with peerIP"],
    [{ peerIP: '10.0.0.1:99999', asNumber: 5 }, 'spec.peerIP', 'must be an IPv4 address with an optional port, e.g. 10.0.0.1 or 10.0.0.1:1790'],
    [{ peerIP: '10.0.0.1', asNumber: '70000.1' }, 'spec.asNumber', 'must be an AS number: 1 to 4294967295, or the dotted form A.B (each part 0 to 65535)'],
    [{ peerIP: '10.0.0.1', asNumber: 5, sourceAddress: 'Auto' }, 'spec.sourceAddress', 'must be "UseNodeIP" or "None"'],
    [{ peerIP: '10.0.0.1', asNumber: 5, maxRestartTime: '2 minutes' }, 'spec.maxRestartTime', 'must be a duration between 1s and 65535s, e.g. 120s or 5m'],
    [{ peerIP: '10.0.0.1', asNumber: 5, nodeSelector: 'rack ==' }, 'spec.nodeSelector', expect.any(String)],
    [{ peerIP: '10.0.0.1', asNumber: 5, password: { secretKeyRef: { name: 's', key: 'k' } } }, 'spec.password', 'not supported by bpf-overlay yet; remove it to peer without it'],
    [{ peerIP: '10.0.0.1', asNumber: 5, peerip: 'x' }, 'spec.peerip', 'unknown field; did you mean "peerIP"?'],
  ])('BGPPeer %j is refused', (spec, field, message) => {
    expect(errors(doc('BGPPeer', 'p', spec))).toEqual([[field, message]]);
  });

  it.each([
    ['default', { listenPort: 0 }, 'spec.listenPort', 'must be a TCP port between 1 and 65535'],
    ['default', { logSeverityScreen: 'Verbose' }, 'spec.logSeverityScreen', 'must be one of Debug, Info, Warning, Error, Fatal, None'],
    ['default', { nodeToNodeMeshEnabled: 'yes' }, 'spec.nodeToNodeMeshEnabled', 'must be true or false'],
    ['default', { asNumber: 0 }, 'spec.asNumber', 'must be an AS number: 1 to 4294967295, or the dotted form A.B (each part 0 to 65535)'],
    ['default', { serviceExternalIPs: [{ cidr: 'x' }] }, 'spec.serviceExternalIPs[0].cidr', 'must be a CIDR, e.g. 10.96.0.0/12'],
    ['node.n1', { asNumber: 65000 }, 'spec.asNumber', 'may only be set in the "default" BGPConfiguration, not a per-node one'],
  ])('BGPConfiguration %s %j is refused', (name, spec, field, message) => {
    expect(errors(doc('BGPConfiguration', name, spec))).toEqual([[field, message]]);
  });

  it('Node spec.bgp.asNumber and routeReflectorClusterID are checked', () => {
    expect(errors(doc('Node', 'n', { bgp: { ipv4Address: '10.0.0.1/24', asNumber: 'x', routeReflectorClusterID: '1.2.3' } }))).toEqual([
      ['spec.bgp.asNumber', 'must be an AS number: 1 to 4294967295, or the dotted form A.B (each part 0 to 65535)'],
      ['spec.bgp.routeReflectorClusterID', 'must be a valid IPv4 address, e.g. 192.168.0.1'],
    ]);
  });
});

// --- plan ---------------------------------------------------------------------------------------------------
const node = (name: string, addr: string, labels: Record<string, string> = {}, bgp: Partial<NonNullable<Node['spec']['bgp']>> = {}): Node => ({
  apiVersion: V3,
  kind: 'Node',
  metadata: { name, labels },
  spec: { bgp: { ipv4Address: addr, ...bgp } },
});
const config = (name: string, spec: BGPConfiguration['spec'] = {}): BGPConfiguration => ({ apiVersion: V3, kind: 'BGPConfiguration', metadata: { name }, spec });
const peer = (name: string, spec: BGPPeer['spec']): BGPPeer => ({ apiVersion: V3, kind: 'BGPPeer', metadata: { name }, spec });
const pool = (name: string, cidr: string, disableBGPExport = false): IPPool => ({
  apiVersion: V3,
  kind: 'IPPool',
  metadata: { name },
  spec: { cidr, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false, blockSize: 26, nodeSelector: 'all()', disableBGPExport },
});
const block = (n: string, cidr: string): BlockAffinity => ({ apiVersion: V3, kind: 'BlockAffinity', metadata: { name: `${n}-${cidr.replace(/[./]/g, '-')}` }, spec: { node: n, cidr } });
const wep = (n: string, ip: string): WorkloadEndpoint =>
  ({ apiVersion: V3, kind: 'WorkloadEndpoint', metadata: { name: `w-${ip}` }, spec: { node: n, ipNetworks: [`${ip}/32`] } }) as WorkloadEndpoint;

const NODES = [
  node('n1', '10.0.1.2/24', { rack: 'a' }),
  node('n2', '10.0.1.3/24', { rack: 'a' }),
  node('n3', '10.0.2.2/24', { rack: 'b' }),
];
function inputs(over: Partial<BgpInputs> = {}): BgpInputs {
  return {
    localNode: 'n1',
    configs: [config('default')],
    peers: [],
    nodes: NODES,
    pools: [pool('plain', '10.244.0.0/16'), pool('private', '10.245.0.0/16', true)],
    blockAffinities: [block('n1', '10.244.1.0/26'), block('n1', '10.245.1.0/26'), block('n2', '10.244.2.0/26')],
    workloads: [wep('n1', '10.244.1.5'), wep('n1', '10.244.9.9'), wep('n2', '10.244.2.7')],
    ...over,
  };
}

describe('BGP plan', () => {
  it('is off without a BGPConfiguration or a BGPPeer selecting the node (a VXLAN-only cluster needs no BGP)', () => {
    expect(planBgp(inputs({ configs: [] }))).toMatchObject({ enabled: false, reason: 'no BGPConfiguration and no BGPPeer selects this node' });
    expect(planBgp(inputs({ configs: [], peers: [peer('p', { node: 'n2', peerIP: '10.0.1.1', asNumber: 65000 })] })).enabled).toBe(false);
    // a peer selecting n1 turns BGP on for n1 only: the mesh then contains no node without BGP
    const p = planBgp(inputs({ configs: [], peers: [peer('tor', { nodeSelector: "rack == 'a'", peerIP: '10.0.1.1', asNumber: 65000 })] }));
    expect(p).toMatchObject({ enabled: true, reason: 'BGPPeer tor selects this node', asNumber: 64512, routerId: '10.0.1.2' });
    expect(p.peers.map((x) => [x.name, x.type])).toEqual([
      ['Mesh_10_0_1_3', 'node-to-node mesh'],
      ['Node_10_0_1_1', 'node specific'],
    ]);
  });

  it('full mesh with Calico passive rule, global and node-specific peers, ports, AS overrides', () => {
    const p = planBgp(
      inputs({
        configs: [config('default', { asNumber: '1.1' })],
        nodes: [NODES[0], NODES[1], node('n3', '10.0.2.2/24', { rack: 'b' }, { asNumber: 65010 }), node('n0', '10.0.0.9/24')],
        peers: [
          peer('global', { peerIP: '192.0.2.1:1790', asNumber: 65000, keepOriginalNextHop: true, maxRestartTime: '90s' }),
          peer('own', { node: 'n1', peerIP: '10.0.1.1', asNumber: 65000, sourceAddress: 'None' }),
          peer('other-rack', { nodeSelector: "rack == 'b'", peerIP: '10.0.2.1', asNumber: 65000 }),
        ],
      }),
    );
    expect(p.asNumber).toBe(65537);
    expect(p.peers.map((x) => [x.name, x.asNumber, x.passive, x.sourceAddress ?? null])).toEqual([
      ['Mesh_10_0_0_9', 65537, false, '10.0.1.2'], // "10.0.0.9" < "10.0.1.2": we connect
      ['Mesh_10_0_1_3', 65537, true, '10.0.1.2'], // the greater address waits
      ['Mesh_10_0_2_2', 65010, true, '10.0.1.2'],
      ['Global_192_0_2_1_port_1790', 65000, false, '10.0.1.2'],
      ['Node_10_0_1_1', 65000, false, null],
    ]);
    expect(p.peers[3]).toMatchObject({ type: 'global', port: 1790, keepNextHop: true, restartTime: 90 });
  });

  it('nodeToNodeMeshEnabled false leaves only BGPPeers; peerSelector peers with matching nodes at their AS', () => {
    const p = planBgp(
      inputs({
        configs: [config('default', { nodeToNodeMeshEnabled: false })],
        nodes: [NODES[0], NODES[1], node('rr', '10.0.3.3/24', { rr: 'true' }, { asNumber: 64512, routeReflectorClusterID: '244.0.0.1' })],
        peers: [peer('to-rr', { nodeSelector: '!has(rr)', peerSelector: "rr == 'true'" })],
      }),
    );
    expect(p.peers.map((x) => [x.name, x.type, x.rrClient])).toEqual([['Node_10_0_3_3', 'node specific', false]]);
  });

  it('a route reflector treats iBGP peers outside its cluster ID as clients and reflects pool routes to them', () => {
    const rr = node('n1', '10.0.1.2/24', { rr: 'true' }, { routeReflectorClusterID: '244.0.0.1' });
    const p = planBgp(
      inputs({
        configs: [config('default', { nodeToNodeMeshEnabled: false })],
        nodes: [rr, NODES[1], node('n3', '10.0.2.2/24', {}, { routeReflectorClusterID: '244.0.0.1' })],
        peers: [peer('clients', { nodeSelector: "rr == 'true'", peerSelector: 'all()' })],
      }),
    );
    expect(p.peers.map((x) => [x.name, x.rrClient])).toEqual([
      ['Node_10_0_1_3', true],
      ['Node_10_0_2_2', false], // same cluster ID: another reflector, not a client
    ]);
    const text = renderBirdConfig(p);
    expect(text).toContain('  rr client;\n  rr cluster id 244.0.0.1;\n  ipv4 { export filter bo_export_reflect; };');
    expect(text).toContain('if source = RTS_BGP && net ~ [ 10.244.0.0/16+ ] then accept;');
  });

  it('advertises its blocks and its /32s outside them, never disableBGPExport pools; nothing of other nodes', () => {
    const p = planBgp(inputs({ workloads: [wep('n1', '10.244.1.5'), wep('n1', '10.244.9.9'), wep('n1', '10.245.7.7'), wep('n2', '10.244.2.7')] }));
    expect(p.advertised).toEqual(['10.244.1.0/26', '10.244.9.9/32']);
    expect(p.withheld).toEqual(['10.245.1.0/26', '10.245.7.7/32']);
    expect(p.exportablePools).toEqual(['10.244.0.0/16']);
  });

  it('the same session from two sources is made once (mesh first) and the duplicate is reported', () => {
    const p = planBgp(inputs({ peers: [peer('dup', { peerIP: '10.0.1.3', asNumber: 64512 })] }));
    expect(p.peers.map((x) => x.name)).toEqual(['Mesh_10_0_1_3', 'Mesh_10_0_2_2']);
    expect(p.warnings).toEqual(['BGPPeer dup: a session with 10.0.1.3:179 already exists; not added twice']);
  });
});

describe('BIRD configuration', () => {
  const plan = planBgp(
    inputs({
      configs: [config('default', { logSeverityScreen: 'Warning' }), config('node.n1', { listenPort: 1790 })],
      peers: [peer('tor', { nodeSelector: "rack == 'a'", peerIP: '10.0.1.1', asNumber: 65000, keepOriginalNextHop: true, maxRestartTime: '2m' })],
    }),
  );
  const text = renderBirdConfig(plan);

  it('router id, AS, per-node listen port, originated prefixes, one protocol per session', () => {
    expect(text).toContain('log stderr { warning, error, auth, fatal, bug };');
    expect(text).toContain('router id 10.0.1.2;');
    expect(text).toContain('  local port 1790 as 64512;');
    expect(text).toContain('  route 10.244.1.0/26 blackhole;\n  route 10.244.9.9/32 blackhole;\n}');
    expect(text).not.toMatch(/route 10\.245\./);
    expect(text).toContain('protocol kernel { ipv4 { import all; export none; }; learn; scan time 2; }');
    expect(text).toContain(
      'protocol bgp Node_10_0_1_1 from bo_peer {\n  description "node specific";\n  neighbor 10.0.1.1 as 65000;\n  source address 10.0.1.2;\n  graceful restart time 120;\n  ipv4 { next hop keep; };\n}',
    );
    expect(text).toContain('protocol bgp Mesh_10_0_1_3 from bo_peer {\n  description "node-to-node mesh";\n  neighbor 10.0.1.3 as 64512;\n  source address 10.0.1.2;\n  passive on;\n}');
    expect(renderBirdConfig(plan)).toBe(text);
  });

  it('refuses to render while BGP is off', () => {
    expect(() => renderBirdConfig(planBgp(inputs({ configs: [] })))).toThrow('BGP is off on node n1: no BGPConfiguration and no BGPPeer selects this node');
  });

  const bird = spawnSync('bird', ['--version'], { encoding: 'utf8' });
  it.skipIf(bird.error !== undefined)('is accepted by BIRD\'s own parser (bird -p)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bo-bird-'));
    try {
      for (const [i, t] of [text, renderBirdConfig(planBgp(inputs({ configs: [config('default', { logSeverityScreen: 'Debug' })], blockAffinities: [], workloads: [] })))].entries()) {
        writeFileSync(join(dir, `${i}.conf`), t);
        const res = spawnSync('bird', ['-p', '-c', join(dir, `${i}.conf`)], { encoding: 'utf8' });
        expect(`${res.status} ${res.stderr}`).toBe('0 ');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('birdc output', () => {
  const PROTOCOLS = [
    'BIRD 2.0.12 ready.',
    'Name       Proto      Table      State  Since         Info',
    'device1    Device     ---        up     2026-11-30 18:57:29  ',
    'bo_origin  Static     master4    up     2026-11-30 18:57:29  ',
    'Mesh_10_0_1_3 BGP        ---        up     2026-11-30 18:57:39  Established   ',
    'Node_10_0_1_1 BGP        ---        start  2026-11-30 18:57:29  Active        Socket: Connection refused',
    '',
  ].join('\n');

  it('parses the protocol table and joins it with the plan for status', () => {
    const rows = parseProtocols(PROTOCOLS);
    expect(rows.map((r) => [r.name, r.state, r.since, r.info])).toEqual([
      ['device1', 'up', '2026-11-30 18:57:29', ''],
      ['bo_origin', 'up', '2026-11-30 18:57:29', ''],
      ['Mesh_10_0_1_3', 'up', '2026-11-30 18:57:39', 'Established'],
      ['Node_10_0_1_1', 'start', '2026-11-30 18:57:29', 'Active        Socket: Connection refused'],
    ]);
    const plan = planBgp(inputs({ peers: [peer('tor', { node: 'n1', peerIP: '10.0.1.1', asNumber: 65000 })] }));
    expect(bgpStatusOf(plan, rows)).toEqual({
      enabled: true,
      asNumber: 64512,
      routerId: '10.0.1.2',
      peers: [
        { peerIP: '10.0.1.3', asNumber: 64512, type: 'node-to-node mesh', state: 'Established', since: '2026-11-30 18:57:39' },
        { peerIP: '10.0.2.2', asNumber: 64512, type: 'node-to-node mesh', state: 'Down', since: null },
        { peerIP: '10.0.1.1', asNumber: 65000, type: 'node specific', state: 'Active', since: '2026-11-30 18:57:29' },
      ],
    });
  });

  it('renders the table of calicoctl node status', () => {
    const rows = parseProtocols(PROTOCOLS);
    const plan = planBgp(inputs({ peers: [peer('tor', { node: 'n1', peerIP: '10.0.1.1', asNumber: 65000 })] }));
    expect(renderBgpStatusTable(bgpStatusOf(plan, rows), rows, plan).split('\n')).toEqual([
      'BIRD is running.',
      'AS 64512, router id 10.0.1.2',
      '',
      'IPv4 BGP status',
      '+--------------+-------------------+-------+---------------------+------------------------------------------+',
      '| PEER ADDRESS | PEER TYPE         | STATE | SINCE               | INFO                                     |',
      '+--------------+-------------------+-------+---------------------+------------------------------------------+',
      '| 10.0.1.3     | node-to-node mesh | up    | 2026-11-30 18:57:39 | Established                              |',
      '| 10.0.2.2     | node-to-node mesh | down  |                     | not configured in BIRD                   |',
      '| 10.0.1.1     | node specific     | start | 2026-11-30 18:57:29 | Active        Socket: Connection refused |',
      '+--------------+-------------------+-------+---------------------+------------------------------------------+',
      '',
    ]);
  });

  it('parses learned routes: the best route of each prefix with its BGP next hop', () => {
    const text = [
      'BIRD 2.0.12 ready.',
      'Table master4:',
      '10.250.2.0/26        unicast [Mesh_10_9_0_2 18:57:42.911] * (100) [i]',
      '\tvia 10.9.0.2 on bo-va',
      '\tType: BGP univ',
      '\tBGP.origin: IGP',
      '\tBGP.as_path: ',
      '\tBGP.next_hop: 10.9.0.2',
      '\tBGP.local_pref: 100',
      '                     unicast [Node_10_9_0_9 18:57:43.000] (100) [AS65000i]',
      '\tvia 10.9.0.9 on bo-va',
      '\tBGP.next_hop: 10.9.0.9',
      '10.250.3.0/26        unicast [Mesh_10_9_0_3 18:57:42.911] * (100) [i]',
      '\tvia 10.9.0.1 on bo-va',
      '\tBGP.next_hop: 10.9.0.3',
      '',
    ].join('\n');
    expect(parseLearnedRoutes(text)).toEqual([
      { cidr: '10.250.2.0/26', nextHop: '10.9.0.2', protocol: 'Mesh_10_9_0_2' },
      { cidr: '10.250.3.0/26', nextHop: '10.9.0.3', protocol: 'Mesh_10_9_0_3' },
    ]);
  });
});

describe('incremental compiler and learned routes', () => {
  it('setLearnedRoutes reports the routes it changes and stays equal to compile()', () => {
    const inc = new IncrementalCompiler({ localNode: 'n1', uplinkMtu: 1500 });
    inc.load({ pools: [pool('plain', '10.244.0.0/16')], nodes: NODES, blockAffinities: [block('n2', '10.244.2.0/26')], workloads: [], configs: [] });
    const learned = [{ cidr: '10.244.7.0/26', nextHop: '10.0.2.2' }, { cidr: '10.244.2.0/26', nextHop: '10.0.9.9' }];
    const changes = inc.setLearnedRoutes(learned);
    expect([...changes.routes]).toEqual(['10.244.7.0/26']);
    expect(inc.state).toEqual(compile(inc.compileInput()));
    expect(inc.state.routes.find((r) => r.cidr === '10.244.2.0/26')?.nextHop).toBe('10.0.1.3');
    expect([...inc.setLearnedRoutes([]).routes]).toEqual(['10.244.7.0/26']);
  });
});
