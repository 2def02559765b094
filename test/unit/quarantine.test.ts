// SPDX-License-Identifier: Apache-2.0
// Admission between the cache and the compiler: records that would harm this node or others are held back with
// a reason naming them, everything else flows on, and a record is released when its conflict goes away.
import { describe, expect, it } from 'vitest';
import { Admission } from '../../src/control/node/quarantine.js';
import { hostVethName } from '../../src/control/cni/names.js';
import type { CompilerEvent, CompilerSnapshot } from '../../src/control/compile/incremental.js';
import { AGENT_STARTED_ANNOTATION } from '../../src/control/model/node-record.js';
import { API_VERSION, type BlockAffinity, type Node, type WorkloadEndpoint } from '../../src/control/model/types.js';

const node = (name: string, addr: string, startedAt?: string, tunnel?: string): Node => ({
  apiVersion: API_VERSION,
  kind: 'Node',
  metadata: { name, ...(startedAt ? { annotations: { [AGENT_STARTED_ANNOTATION]: startedAt } } : {}) },
  spec: { bgp: { ipv4Address: `${addr}/24`, ...(tunnel ? { ipv4IPIPTunnelAddr: tunnel } : {}) } },
});
const block = (name: string, cidr: string, onNode: string): BlockAffinity => ({
  apiVersion: API_VERSION,
  kind: 'BlockAffinity',
  metadata: { name },
  spec: { node: onNode, cidr, state: 'confirmed' },
});
const wep = (name: string, containerID: string, opts: { hostInterface?: string; ip?: string } = {}): WorkloadEndpoint => ({
  apiVersion: API_VERSION,
  kind: 'WorkloadEndpoint',
  metadata: { name },
  spec: {
    node: 'a',
    containerID,
    interfaceName: 'eth0',
    hostInterface: opts.hostInterface ?? hostVethName(containerID, 'eth0'),
    hostIfindex: 9,
    hostMac: '02:00:00:00:00:01',
    mac: '02:00:00:00:00:02',
    ipNetworks: [`${opts.ip ?? '10.244.0.5'}/32`],
    pool: 'p',
  },
});
const snapshot = (s: Partial<CompilerSnapshot>): CompilerSnapshot => ({
  pools: [],
  nodes: [],
  blockAffinities: [],
  workloads: [],
  configs: [],
  ...s,
});
const names = (items: readonly { metadata: { name: string } }[]) => items.map((i) => i.metadata.name).sort();
const put = (r: Node | BlockAffinity | WorkloadEndpoint): CompilerEvent => ({ type: 'put', kind: r.kind, name: r.metadata.name, resource: r });

describe('admission', () => {
  it('holds back a stale Node with a live node address, and its conflict never blocks the live one', () => {
    // Agent of node a (10.0.0.1). Live node b (10.0.0.2) registered by its agent; stale s claims b's address;
    // stale t claims a's own address.
    const adm = new Admission({ node: 'a', address: '10.0.0.1/24' });
    const out = adm.reset(
      snapshot({
        nodes: [node('a', '10.0.0.1', '2026-01-01T00:00:00Z'), node('b', '10.0.0.2', '2026-01-02T00:00:00Z'), node('s', '10.0.0.2'), node('t', '10.0.0.1')],
        blockAffinities: [block('bs', '10.244.9.0/26', 's'), block('bb', '10.244.1.0/26', 'b')],
      }),
    );
    expect(names(out.nodes)).toEqual(['a', 'b']);
    expect(names(out.blockAffinities)).toEqual(['bb', 'bs']); // the compiler skips a block of an unknown node
    expect(adm.quarantined()).toEqual([
      { kind: 'Node', name: 's', reason: 'address 10.0.0.2 belongs to Node b (its agent registered it at 2026-01-02T00:00:00Z)' },
      { kind: 'Node', name: 't', reason: "address 10.0.0.1 is this node's (a) own address" },
    ]);

    // Deleting the stale node releases nothing else and clears its entry; b stays admitted throughout.
    expect(adm.apply([{ type: 'delete', kind: 'Node', name: 's' }])).toEqual([]);
    expect(adm.quarantined().map((q) => q.name)).toEqual(['t']);

    // When t moves to a free address it is admitted (the compiler gets a put).
    const moved = node('t', '10.0.0.7');
    expect(adm.apply([put(moved)])).toEqual([put(moved)]);
    expect(adm.quarantined()).toEqual([]);
  });

  it('gives an address to the node whose agent started last; with no agent start, neither gets it', () => {
    const adm = new Admission({ node: 'a', address: '10.0.0.1/24' });
    adm.reset(snapshot({ nodes: [node('a', '10.0.0.1'), node('x', '10.0.0.5'), node('y', '10.0.0.5')] }));
    expect(adm.quarantined().map((q) => `${q.name}: ${q.reason}`)).toEqual([
      'x: address 10.0.0.5 is also claimed by Node y and no agent registered it',
      'y: address 10.0.0.5 is also claimed by Node x and no agent registered it',
    ]);
    // y's agent starts: y is admitted, x stays out.
    const y = node('y', '10.0.0.5', '2026-03-01T00:00:00Z');
    expect(adm.apply([put(y)])).toEqual([put(y)]);
    expect(adm.quarantined().map((q) => q.name)).toEqual(['x']);
  });

  it('holds back a block covering the underlay subnet or holding a node address, re-checked when nodes move', () => {
    const adm = new Admission({ node: 'a', address: '10.0.0.1/24' });
    adm.reset(
      snapshot({
        nodes: [node('a', '10.0.0.1'), node('b', '172.16.0.9')],
        blockAffinities: [
          block('under', '10.0.0.0/23', 'b'),
          block('inside', '10.0.0.64/26', 'b'), // inside the underlay subnet, no node address in it: harmless
          block('overb', '172.16.0.0/26', 'b'),
          block('ok', '10.244.0.0/26', 'b'),
        ],
      }),
    );
    expect(adm.quarantined().map((q) => `${q.name}: ${q.reason}`)).toEqual([
      'overb: block 172.16.0.0/26 contains the address 172.16.0.9 of Node b',
      "under: block 10.0.0.0/23 covers this node's underlay subnet 10.0.0.1/24",
    ]);
    // b moves out of the block: the block is admitted again.
    const out = adm.apply([put(node('b', '172.16.1.9'))]);
    expect(out.map((e) => `${e.type} ${e.kind} ${e.name}`).sort()).toEqual(['put BlockAffinity overb', 'put Node b']);
  });

  it('re-checks exactly the blocks of any size that hold a moved node address, and forgets deleted blocks', () => {
    const adm = new Admission({ node: 'a', address: '10.0.0.1/24' });
    adm.reset(
      snapshot({
        nodes: [node('a', '10.0.0.1'), node('b', '172.16.0.9')],
        blockAffinities: [block('small', '172.16.5.0/26', 'b'), block('big', '172.17.0.0/16', 'b'), block('gone', '172.18.0.0/26', 'b')],
      }),
    );
    expect(adm.quarantined()).toEqual([]);
    const moved = (addr: string) => adm.apply([put(node('b', addr))]).map((e) => `${e.type} ${e.kind} ${e.name}`).sort();
    expect(moved('172.16.5.7')).toEqual(['delete BlockAffinity small', 'put Node b']);
    expect(moved('172.17.200.1')).toEqual(['delete BlockAffinity big', 'put BlockAffinity small', 'put Node b']);
    adm.apply([{ type: 'delete', kind: 'BlockAffinity', name: 'gone' }]);
    expect(moved('172.18.0.1')).toEqual(['put BlockAffinity big', 'put Node b']);
  });

  it('admits a WorkloadEndpoint again once no node records its address as a tunnel address', () => {
    const adm = new Admission({ node: 'a', address: '10.0.0.1/24' });
    adm.reset(
      snapshot({
        nodes: [node('a', '10.0.0.1'), node('b', '10.0.0.2', undefined, '10.244.7.1'), node('c', '10.0.0.3', undefined, '10.244.7.1')],
        workloads: [wep('w', 'c1', { ip: '10.244.7.1' })],
      }),
    );
    expect(adm.quarantined().map((q) => q.name)).toEqual(['w']);
    expect(adm.apply([put(node('b', '10.0.0.2'))]).map((e) => `${e.type} ${e.kind} ${e.name}`)).toEqual(['put Node b']); // c still records it
    expect(adm.apply([put(node('c', '10.0.0.3'))]).map((e) => `${e.type} ${e.kind} ${e.name}`).sort()).toEqual(['put Node c', 'put WorkloadEndpoint w']);
  });

  it("holds back a local WorkloadEndpoint that names a veth the CNI did not make, or a node's address", () => {
    const adm = new Admission({ node: 'a', address: '10.0.0.1/24' });
    const out = adm.reset(
      snapshot({
        nodes: [node('a', '10.0.0.1'), node('b', '10.0.0.2', undefined, '10.244.7.1')],
        workloads: [
          wep('good', 'c1'),
          wep('uplink', 'c2', { hostInterface: 'eth0' }),
          wep('hijack', 'c3', { ip: '10.0.0.1' }),
          wep('tunnel', 'c4', { ip: '10.244.7.1' }),
        ],
      }),
    );
    expect(names(out.workloads)).toEqual(['good']);
    expect(adm.quarantined().map((q) => `${q.name}: ${q.reason}`)).toEqual([
      `hijack: address 10.0.0.1 is a node's underlay or tunnel address`,
      `tunnel: address 10.244.7.1 is a node's underlay or tunnel address`,
      `uplink: hostInterface "eth0" is not the CNI's veth name ${hostVethName('c2', 'eth0')} for container c2 interface eth0`,
    ]);
    // Fixing the record admits it.
    const fixed = wep('uplink', 'c2');
    expect(adm.apply([put(fixed)])).toEqual([put(fixed)]);
  });

  it('passes everything else through untouched and emits nothing for unchanged verdicts', () => {
    const adm = new Admission({ node: 'a', address: '10.0.0.1/24' });
    adm.reset(snapshot({ nodes: [node('a', '10.0.0.1')] }));
    const b = node('b', '10.0.0.2');
    expect(adm.apply([put(b)])).toEqual([put(b)]);
    expect(adm.apply([{ type: 'delete', kind: 'Node', name: 'b' }])).toEqual([{ type: 'delete', kind: 'Node', name: 'b' }]);
    expect(adm.apply([{ type: 'delete', kind: 'Node', name: 'never-seen' }])).toEqual([]);
  });
});
