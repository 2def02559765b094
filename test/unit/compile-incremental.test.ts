// SPDX-License-Identifier: Apache-2.0
// Property test of the incremental compiler against the oracle: seeded random event sequences over a small
// universe of names and CIDRs (so that duplicates, overlaps and conflicts are frequent); after every event the
// incremental state equals compile() of the same inputs and the reported changes equal the diff of the states.
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/control/compile/compile.js';
import {
  IncrementalCompiler,
  diffStates,
  type ChangeSet,
  type CompilerEvent,
  type CompilerSnapshot,
} from '../../src/control/compile/incremental.js';
import type { DesiredState } from '../../src/control/compile/types.js';
import { sourceAllowKey } from '../../src/control/compile/source-allow.js';
import type { BlockAffinity, EncapMode, IPPool, Node, OverlayConfiguration, WorkloadEndpoint } from '../../src/control/model/types.js';
import { seededRandom } from '../harness/random.js';

const V3 = 'projectcalico.org/v3' as const;
const LOCAL = 'n0';

class Gen {
  constructor(readonly rnd: () => number) {}
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
}

const POOL_CIDRS = ['10.0.0.0/16', '10.0.0.0/16', '10.0.0.0/8', '10.0.128.0/17', '10.1.0.0/16', '10.0.0.0/26', 'not-a-cidr', 'fd00::/48'];
const MODES: EncapMode[] = ['Never', 'Always', 'CrossSubnet'];
const SELECTORS = ['all()', '', 'zone == "a"', 'zone == "b"', '!has(zone)', 'zone in {"a", "b"}', 'broken (((('];
const NODE_ADDRS = ['10.0.0.70/24', '10.1.0.5/16', '192.168.0.1/24', '192.168.0.2/24', '192.168.0.2/24', '192.168.1.3/24', '192.168.0.4/32', '192.168.1.3/16', 'bogus/24', 'fd00::1/64', undefined];
const VXLAN_TUNNELS = ['10.0.0.1', '10.0.0.65', '10.1.0.1', 'not-ip', undefined];
const IPIP_TUNNELS = ['10.0.0.2', '10.0.0.1', '10.5.0.1', undefined];
const BLOCK_CIDRS = ['10.0.0.0/26', '10.0.0.64/26', '10.0.0.1/26', '10.0.0.0/24', '10.0.128.0/26', '10.1.0.0/26', '10.2.0.0/26', '10.0.0.0/016', '10.0.0.1/32', '10.0.0.0/16', 'bad', 'fd00::/122', 'fd00::0/122'];
const ALLOWED_PREFIXES = ['10.9.0.0/16', '10.9.0.0/16', '192.168.77.0/24', '0.0.0.0/0', 'not-a-prefix', 'fd00::/64', '10.9.0.1/16'];
const WORKLOAD_NETS = ['10.0.0.1/32', '10.0.0.5/32', '10.0.0.2/32', '10.0.0.0/26', 'fd00::5/128', '10.0.0.65/32', '10.9.9.9/32', '10.1.0.1/32', '10.0.0.5/032'];

function pool(g: Gen, name: string): IPPool {
  return {
    apiVersion: V3,
    kind: 'IPPool',
    metadata: { name },
    spec: {
      cidr: g.pick(POOL_CIDRS),
      ipipMode: g.pick(MODES),
      vxlanMode: g.chance(0.5) ? 'Never' : g.pick(MODES),
      natOutgoing: g.chance(0.5),
      disabled: g.chance(0.2),
      blockSize: 26,
      nodeSelector: g.pick(SELECTORS),
    },
  };
}

function node(g: Gen, name: string): Node {
  const addr = g.pick(NODE_ADDRS);
  const ipip = g.pick(IPIP_TUNNELS);
  const bgp = addr || ipip ? { bgp: { ...(addr ? { ipv4Address: addr } : {}), ...(ipip ? { ipv4IPIPTunnelAddr: ipip } : {}) } } : {};
  const vxlan = g.pick(VXLAN_TUNNELS);
  const mac = g.chance(0.3) ? { vxlanTunnelMACAddr: `AA-BB-CC-DD-EE-0${g.int(3)}` } : {};
  const labels = g.chance(0.7) ? { labels: { zone: g.pick(['a', 'b', 'c']) } } : {};
  return { apiVersion: V3, kind: 'Node', metadata: { name, ...labels }, spec: { ...bgp, ...(vxlan ? { ipv4VXLANTunnelAddr: vxlan } : {}), ...mac } };
}

function affinity(g: Gen, name: string): BlockAffinity {
  return {
    apiVersion: V3,
    kind: 'BlockAffinity',
    metadata: { name },
    spec: { node: `n${g.int(10)}`, cidr: g.pick(BLOCK_CIDRS), ...(g.chance(0.15) ? { deleted: true } : {}) },
  };
}

function workload(g: Gen, name: string): WorkloadEndpoint {
  const nets = Array.from({ length: 1 + g.int(3) }, () => g.pick(WORKLOAD_NETS));
  const pod = g.chance(0.8) ? { pod: g.pick(['web', 'db', 'cache']), namespace: g.pick(['default', 'prod']) } : {};
  const allow = g.chance(0.4) ? { allowSpoofedSourcePrefixes: Array.from({ length: g.int(3) }, () => g.pick(ALLOWED_PREFIXES)) } : {};
  return {
    apiVersion: V3,
    kind: 'WorkloadEndpoint',
    metadata: { name },
    spec: {
      node: g.chance(0.6) ? LOCAL : `n${1 + g.int(9)}`,
      containerID: name,
      interfaceName: 'eth0',
      hostInterface: `bo${g.int(5)}`,
      hostIfindex: 10 + g.int(5),
      hostMac: g.pick(['EE:EE:EE:EE:EE:EE', 'ee:ee:ee:ee:ee:01']),
      mac: g.pick(['0A:58:0A:00:00:05', '0a:58:0a:00:00:06']),
      ipNetworks: nets,
      pool: 'p',
      ...pod,
      ...allow,
    },
  };
}

function config(g: Gen, name: string): OverlayConfiguration {
  return { apiVersion: V3, kind: 'OverlayConfiguration', metadata: { name }, spec: g.chance(0.5) ? { mtu: 1300 + g.int(100) } : {} };
}

const KINDS = [
  { kind: 'IPPool', names: 6, make: pool, weight: 2 },
  { kind: 'Node', names: 8, make: node, weight: 4 },
  { kind: 'BlockAffinity', names: 16, make: affinity, weight: 5 },
  { kind: 'WorkloadEndpoint', names: 8, make: workload, weight: 3 },
  { kind: 'OverlayConfiguration', names: 2, make: config, weight: 1 },
] as const;
const TOTAL_WEIGHT = KINDS.reduce((s, k) => s + k.weight, 0);

function randomEvent(g: Gen): CompilerEvent {
  let w = g.int(TOTAL_WEIGHT);
  const k = KINDS.find((x) => (w -= x.weight) < 0)!;
  const name = k.kind === 'OverlayConfiguration' ? g.pick(['default', 'other']) : `${k.kind[0].toLowerCase()}${g.int(k.names)}`;
  // Nodes are named n0..n9 so that affinities can point at them (n0 is this node).
  const resName = k.kind === 'Node' ? `n${g.int(k.names)}` : name;
  if (g.chance(0.25)) return { type: 'delete', kind: k.kind, name: resName };
  return { type: 'put', kind: k.kind, name: resName, resource: k.make(g, resName) };
}

const LEARNED_CIDRS = ['10.0.1.0/26', '10.0.0.0/26', '10.0.0.0/25', '10.0.0.64/27', '10.3.0.0/24', '10.1.0.0/24', '10.0.0.0/16', '10.0.0.1/32', 'bad', '10.0.2.7/26'];
const NEXT_HOPS = ['192.168.0.2', '192.168.1.3', '192.168.0.4', '192.168.0.1', '10.99.0.1'];

function randomLearned(g: Gen): Array<{ cidr: string; nextHop: string }> {
  return Array.from({ length: g.int(5) }, () => ({ cidr: g.pick(LEARNED_CIDRS), nextHop: g.pick(NEXT_HOPS) }));
}

function randomSnapshot(g: Gen): CompilerSnapshot {
  const some = <T>(n: number, make: (i: number) => T) => Array.from({ length: n }, (_, i) => make(i)).filter(() => g.chance(0.7));
  return {
    pools: some(6, (i) => pool(g, `i${i}`)),
    nodes: some(8, (i) => node(g, `n${i}`)),
    blockAffinities: some(16, (i) => affinity(g, `b${i}`)),
    workloads: some(8, (i) => workload(g, `w${i}`)),
    configs: some(1, () => config(g, 'default')),
  };
}

/** The changes compared with the diff of the states; localWorkloads is checked on its own (diffStates has none). */
function withoutWorkloads(c: ChangeSet) {
  return { ...c, localWorkloads: null };
}

function expectOracle(inc: IncrementalCompiler, before: DesiredState, changes: ChangeSet, what: string): void {
  const after = inc.state;
  const oracle = compile(inc.compileInput());
  expect(after, what).toEqual(oracle);
  expect(withoutWorkloads(changes), what).toEqual(withoutWorkloads(diffStates(before, after)));
  // The agent brings its index up to a change by looking up only the changed keys: they agree with the state.
  for (const k of changes.routes) expect(inc.route(k), what).toBe(after.routes.find((r) => r.cidr === k));
  for (const k of changes.knownNodes) expect(inc.knownNode(k), what).toBe(after.knownNodes.find((n) => n.addr === k));
  for (const k of changes.sourceAllow) expect(inc.sourceAllowEntry(k), what).toEqual(after.sourceAllow.find((e) => sourceAllowKey(e) === k));
  expect(inc.settings, what).toEqual(after.settings);
}

/** Local workloads an event batch touches: those held (as local) before or put (as local) by an event. */
function localWorkloadsTouched(inc: IncrementalCompiler, events: readonly CompilerEvent[]): Set<string> {
  const local = new Set(inc.compileInput().workloads.filter((w) => w.spec.node === LOCAL).map((w) => w.metadata.name));
  const touched = new Set<string>();
  for (const ev of events) {
    if (ev.kind !== 'WorkloadEndpoint') continue;
    const isLocal = ev.type === 'put' && (ev.resource as WorkloadEndpoint).spec.node === LOCAL;
    if (local.has(ev.name) || isLocal) touched.add(ev.name);
    if (isLocal) local.add(ev.name);
    else local.delete(ev.name);
  }
  return touched;
}

describe('incremental compiler equals compile() after every event', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: 600 single events', (seed) => {
    const g = new Gen(seededRandom(seed));
    const inc = new IncrementalCompiler({ localNode: LOCAL, uplinkMtu: 1500 });
    expect(inc.state).toEqual(compile(inc.compileInput()));
    for (let i = 0; i < 600; i++) {
      if (g.chance(0.05)) {
        const before = inc.state;
        const learned = randomLearned(g);
        expectOracle(inc, before, inc.setLearnedRoutes(learned), `seed ${seed} learned ${i}: ${JSON.stringify(learned)}`);
        continue;
      }
      const ev = randomEvent(g);
      const before = inc.state;
      const expectedWorkloads = localWorkloadsTouched(inc, [ev]);
      const changes = inc.apply(ev);
      expectOracle(inc, before, changes, `seed ${seed} event ${i}: ${JSON.stringify(ev)}`);
      expect(changes.localWorkloads).toEqual(expectedWorkloads);
    }
  });

  it.each([11, 12, 13])('seed %i: batches and re-lists', (seed) => {
    const g = new Gen(seededRandom(seed));
    const inc = new IncrementalCompiler({ localNode: LOCAL, uplinkMtu: 9000 });
    for (let i = 0; i < 150; i++) {
      const before = inc.state;
      if (g.chance(0.1)) {
        const heldBefore = inc.compileInput().workloads.filter((w) => w.spec.node === LOCAL).map((w) => w.metadata.name);
        const snapshot = randomSnapshot(g);
        const changes = inc.load(snapshot);
        expectOracle(inc, before, changes, `seed ${seed} load ${i}`);
        const heldAfter = snapshot.workloads.filter((w) => w.spec.node === LOCAL).map((w) => w.metadata.name);
        expect(changes.localWorkloads).toEqual(new Set([...heldBefore, ...heldAfter]));
        continue;
      }
      const events = Array.from({ length: 1 + g.int(8) }, () => randomEvent(g));
      const expectedWorkloads = localWorkloadsTouched(inc, events);
      const changes = inc.applyAll(events);
      expectOracle(inc, before, changes, `seed ${seed} batch ${i}: ${JSON.stringify(events)}`);
      expect(changes.localWorkloads).toEqual(expectedWorkloads);
    }
  });

  it('a 200-node cluster: pool and local-node changes that move hundreds of entries at once', () => {
    const g = new Gen(seededRandom(21));
    const modes: Array<Pick<IPPool['spec'], 'ipipMode' | 'vxlanMode'>> = [
      { ipipMode: 'Always', vxlanMode: 'Never' },
      { ipipMode: 'Never', vxlanMode: 'CrossSubnet' },
      { ipipMode: 'CrossSubnet', vxlanMode: 'Never' },
      { ipipMode: 'Never', vxlanMode: 'Never' },
    ];
    const bigPool = (name: string, cidr: string): IPPool => ({
      apiVersion: V3,
      kind: 'IPPool',
      metadata: { name },
      spec: { cidr, ...g.pick(modes), natOutgoing: g.chance(0.5), disabled: false, blockSize: 26, nodeSelector: g.pick(['all()', 'zone == "a"']) },
    });
    const bigNode = (i: number, subnet = i % 3): Node => ({
      apiVersion: V3,
      kind: 'Node',
      metadata: { name: `n${i}`, labels: { zone: g.pick(['a', 'b']) } },
      spec: { bgp: { ipv4Address: `172.16.${subnet}.${10 + i}/24` }, ipv4VXLANTunnelAddr: `10.0.${i}.1` },
    });
    const bigBlock = (i: number, j: number): BlockAffinity => ({
      apiVersion: V3,
      kind: 'BlockAffinity',
      metadata: { name: `n${i}-b${j}` },
      spec: { node: `n${i}`, cidr: `10.${j % 2}.${i}.${(j >> 1) * 64}/26` },
    });
    const inc = new IncrementalCompiler({ localNode: LOCAL, uplinkMtu: 1500 });
    const pools = [bigPool('a', '10.0.0.0/16'), bigPool('b', '10.0.0.0/17'), bigPool('c', '10.1.0.0/16'), bigPool('d', '10.0.0.0/8')];
    const nodes = Array.from({ length: 200 }, (_, i) => bigNode(i));
    const blocks = nodes.flatMap((_, i) => [0, 1, 2, 3].map((j) => bigBlock(i, j)));
    let before = inc.state;
    expectOracle(inc, before, inc.load({ pools, nodes, blockAffinities: blocks, workloads: [], configs: [] }), 'load');
    for (let i = 0; i < 60; i++) {
      const roll = g.int(4);
      const ev: CompilerEvent =
        roll === 0
          ? { type: 'put', kind: 'IPPool', name: g.pick(['a', 'b', 'c', 'd']), resource: bigPool(g.pick(['a', 'b', 'c', 'd']), g.pick(['10.0.0.0/16', '10.0.0.0/17', '10.1.0.0/16', '10.0.0.0/8'])) }
          : roll === 1
            ? { type: 'put', kind: 'Node', name: LOCAL, resource: bigNode(0, g.int(3)) }
            : roll === 2
              ? { type: g.chance(0.5) ? 'put' : 'delete', kind: 'Node', name: `n${1 + g.int(199)}`, resource: bigNode(1 + g.int(199), g.int(3)) }
              : { type: 'delete', kind: 'IPPool', name: g.pick(['a', 'b', 'c', 'd']) };
      // A put's name and resource must agree.
      if (ev.type === 'put') ev.name = ev.resource.metadata.name;
      before = inc.state;
      expectOracle(inc, before, inc.apply(ev), `large event ${i}: ${JSON.stringify(ev)}`);
    }
  });

  it('an event that changes nothing reports nothing and keeps the same state object', () => {
    const g = new Gen(seededRandom(99));
    const inc = new IncrementalCompiler({ localNode: LOCAL, uplinkMtu: 1500 });
    inc.load(randomSnapshot(g));
    const ev = randomEvent(g);
    inc.apply(ev);
    const before = inc.state;
    const again = inc.apply(ev);
    expect(withoutWorkloads(again)).toEqual(withoutWorkloads(diffStates(before, inc.state)));
    expect(again.routes.size + again.knownNodes.size).toBe(0);
  });

  it('refuses a batch with a put whose resource does not match its kind or name, changing nothing', () => {
    const g = new Gen(seededRandom(5));
    const inc = new IncrementalCompiler({ localNode: LOCAL, uplinkMtu: 1500 });
    inc.load(randomSnapshot(g));
    const before = inc.compileInput();
    const good: CompilerEvent = { type: 'put', kind: 'IPPool', name: 'fresh', resource: pool(g, 'fresh') };
    const wrongKind: CompilerEvent = { type: 'put', kind: 'Node', name: 'i0', resource: pool(g, 'i0') };
    const wrongName: CompilerEvent = { type: 'put', kind: 'IPPool', name: 'i1', resource: pool(g, 'other') };
    expect(() => inc.applyAll([good, wrongKind])).toThrow('Node i0: put event carries a resource of kind IPPool');
    expect(() => inc.apply(wrongName)).toThrow('IPPool i1: put event carries metadata.name "other"');
    expect(inc.compileInput()).toEqual(before);
  });

  it('rejects an uplink MTU out of range like compile()', () => {
    expect(() => new IncrementalCompiler({ localNode: LOCAL, uplinkMtu: 100 })).toThrow(/uplinkMtu must be an integer between 576 and 65535, got 100/);
  });
});
