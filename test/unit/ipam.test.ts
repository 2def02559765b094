// SPDX-License-Identifier: Apache-2.0
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatastore, type Datastore } from '../../src/control/datastore/index.js';
import {
  addressesOfHandle,
  assignAddress,
  ensureTunnelAddress,
  IpamExhaustedError,
  releaseByHandle,
  tunnelHandle,
} from '../../src/control/ipam/index.js';
import { removeChildScripts } from '../harness/child-scripts.js';
import { testPool } from '../harness/datastore-contract.js';
import { allocateConcurrently } from '../harness/ipam-concurrency.js';
import { createNodes, labelEqualsSelector as selects, testNode } from '../harness/ipam-fixtures.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-ipam-'));
afterAll(() => {
  removeChildScripts();
  fs.rmSync(dir, { recursive: true, force: true });
});

let ds: Datastore;
let seq = 0;
beforeEach(async () => {
  ds = await openDatastore(`sqlite://${dir}/ipam-${++seq}.db`);
});
afterEach(async () => ds.close());

describe('IPAM block carving and allocation', () => {
  it('claims a block per node on first use and records its affinity', async () => {
    await ds.create(testPool('default', '10.244.0.0/16'));
    await createNodes(ds, ['n1', 'n2']);
    const a1 = await assignAddress(ds, { node: 'n1', handle: 'c1', attributes: { pod: 'p1' } }, selects);
    const a2 = await assignAddress(ds, { node: 'n2', handle: 'c2' }, selects);
    const a3 = await assignAddress(ds, { node: 'n1', handle: 'c3' }, selects);
    // The pool's network address is never handed out; a block's first address otherwise is.
    expect(a1).toEqual({ address: '10.244.0.1', block: '10.244.0.0/26', pool: 'default' });
    expect(a2).toEqual({ address: '10.244.0.64', block: '10.244.0.64/26', pool: 'default' });
    expect(a3.address).toBe('10.244.0.2');
    const affinities = (await ds.list('BlockAffinity')).map((b) => [b.metadata.name, b.spec.node, b.spec.cidr]);
    expect(affinities).toEqual([
      ['n1-10-244-0-0-26', 'n1', '10.244.0.0/26'],
      ['n2-10-244-0-64-26', 'n2', '10.244.0.64/26'],
    ]);
    const block = await ds.get('IPAMBlock', '10-244-0-0-26');
    expect(block?.spec.allocations['10.244.0.1']).toEqual({ handle: 'c1', attributes: { pod: 'p1' } });
  });

  it('is idempotent per handle, releases by handle (idempotently) and reuses freed addresses', async () => {
    await ds.create(testPool('default', '10.244.0.0/16'));
    await createNodes(ds, ['n1']);
    const first = await assignAddress(ds, { node: 'n1', handle: 'c1' }, selects);
    expect(await assignAddress(ds, { node: 'n1', handle: 'c1' }, selects)).toEqual(first);
    await assignAddress(ds, { node: 'n1', handle: 'c2' }, selects);
    expect(await addressesOfHandle(ds, 'c1')).toEqual([first]);
    expect(await releaseByHandle(ds, 'c1')).toEqual([first]);
    expect(await releaseByHandle(ds, 'c1')).toEqual([]);
    expect(await addressesOfHandle(ds, 'c1')).toEqual([]);
    expect((await assignAddress(ds, { node: 'n1', handle: 'c3' }, selects)).address).toBe(first.address);
  });

  it('claims a new block when the node’s blocks are full, then reports exhaustion', async () => {
    // /29 in /30 blocks: 10.8.0.0/30 loses .0 and 10.8.0.4/30 loses .7 (pool network and broadcast).
    await ds.create(testPool('small', '10.8.0.0/29', { blockSize: 30 }));
    await createNodes(ds, ['n1', 'n2']);
    const got: string[] = [];
    for (let i = 0; i < 6; i++) got.push((await assignAddress(ds, { node: 'n1', handle: `c${i}` }, selects)).address);
    expect(got).toEqual(['10.8.0.1', '10.8.0.2', '10.8.0.3', '10.8.0.4', '10.8.0.5', '10.8.0.6']);
    expect((await ds.list('BlockAffinity')).map((b) => b.spec.cidr)).toEqual(['10.8.0.0/30', '10.8.0.4/30']);
    await expect(assignAddress(ds, { node: 'n1', handle: 'c6' }, selects)).rejects.toThrow(IpamExhaustedError);
    await expect(assignAddress(ds, { node: 'n2', handle: 'x' }, selects)).rejects.toThrow(
      /no free address for node "n2": every block of pool\(s\) "small" is claimed/,
    );
  });

  it('selects pools by nodeSelector, lets an explicit ipPool override it, and refuses unusable pools', async () => {
    await ds.applyAll([
      testPool('a-zone-a', '10.10.0.0/16', { nodeSelector: 'zone == "a"' }),
      testPool('b-everyone', '10.20.0.0/16'),
      testPool('c-off', '10.30.0.0/16', { disabled: true }),
      testPool('d-tunnel-only', '10.40.0.0/16', { allowedUses: ['Tunnel'] }),
    ]);
    await ds.applyAll([testNode('na', { zone: 'a' }), testNode('nb', { zone: 'b' })]);
    expect((await assignAddress(ds, { node: 'na', handle: 'h1' }, selects)).pool).toBe('a-zone-a');
    expect((await assignAddress(ds, { node: 'nb', handle: 'h2' }, selects)).pool).toBe('b-everyone');
    expect((await assignAddress(ds, { node: 'nb', handle: 'h3', pool: 'a-zone-a' }, selects)).pool).toBe('a-zone-a');
    await expect(assignAddress(ds, { node: 'nb', handle: 'h4', pool: 'c-off' }, selects)).rejects.toThrow(
      'ipPool "c-off" cannot be used: it is disabled',
    );
    await expect(assignAddress(ds, { node: 'nb', handle: 'h4', pool: 'd-tunnel-only' }, selects)).rejects.toThrow(
      /allowedUses \(Tunnel\) exclude Workload/,
    );
    await expect(assignAddress(ds, { node: 'nb', handle: 'h4', pool: 'nope' }, selects)).rejects.toThrow(
      'ipPool "nope" does not exist',
    );
    await expect(assignAddress(ds, { node: 'ghost', handle: 'h5' }, selects)).rejects.toThrow(
      'Node "ghost" does not exist',
    );
  });

  it('uses a Manual pool only when a request names it', async () => {
    await ds.applyAll([testPool('a-manual', '10.10.0.0/16', { assignmentMode: 'Manual' }), testPool('b-auto', '10.20.0.0/16')]);
    await createNodes(ds, ['n1']);
    expect((await assignAddress(ds, { node: 'n1', handle: 'h1' }, selects)).pool).toBe('b-auto');
    expect((await assignAddress(ds, { node: 'n1', handle: 'h2', pool: 'a-manual' }, selects)).pool).toBe('a-manual');
    expect((await ensureTunnelAddress(ds, 'n1', selects)).vxlan).toMatch(/^10\.20\./);
  });

  it('honours namespaceSelector with the namespace the CNI knows; tunnel addresses ignore it', async () => {
    await ds.applyAll([
      testPool('a-team-a', '10.10.0.0/16', { namespaceSelector: "kubernetes.io/metadata.name == 'team-a'" }),
      testPool('b-others', '10.20.0.0/16', { namespaceSelector: "projectcalico.org/name != 'team-a'" }),
    ]);
    await createNodes(ds, ['n1']);
    expect((await assignAddress(ds, { node: 'n1', handle: 'h1', namespace: 'team-a' }, selects)).pool).toBe('a-team-a');
    expect((await assignAddress(ds, { node: 'n1', handle: 'h2', namespace: 'team-b' }, selects)).pool).toBe('b-others');
    expect((await assignAddress(ds, { node: 'n1', handle: 'h3' }, selects)).pool).toBe('b-others');
    expect((await assignAddress(ds, { node: 'n1', handle: 'h4', namespace: 'team-b', pool: 'a-team-a' }, selects)).pool).toBe('a-team-a');
    await ds.applyAll([testPool('b-others', '10.20.0.0/16', { namespaceSelector: "kubernetes.io/metadata.name == 'x'" })]);
    await expect(assignAddress(ds, { node: 'n1', handle: 'h5', namespace: 'team-b' }, selects)).rejects.toThrow(
      'no enabled IPv4 IPPool for Workload addresses selects node "n1" and admits namespace "team-b"',
    );
    expect((await ensureTunnelAddress(ds, 'n1', selects)).vxlan).toMatch(/^10\.(10|20)\./);
  });

  it('gives every node a tunnel address from its encapsulating pool, and moves or clears it on pool changes', async () => {
    const pool = await ds.create(testPool('overlay', '10.50.0.0/16', { vxlanMode: 'Always' }));
    await ds.create(testPool('plain', '10.60.0.0/16', { vxlanMode: 'Never', ipipMode: 'Never' }));
    await createNodes(ds, ['n1']);
    expect(await ensureTunnelAddress(ds, 'n1', selects)).toEqual({ vxlan: '10.50.0.1' });
    expect(await ensureTunnelAddress(ds, 'n1', selects)).toEqual({ vxlan: '10.50.0.1' });
    expect((await ds.get('Node', 'n1'))?.spec.ipv4VXLANTunnelAddr).toBe('10.50.0.1');
    expect(await addressesOfHandle(ds, tunnelHandle('n1', 'vxlan'))).toHaveLength(1);
    // A workload on the same node shares the node's block.
    expect((await assignAddress(ds, { node: 'n1', handle: 'w', pool: 'overlay' }, selects)).address).toBe('10.50.0.2');

    const ipip = await ds.put({ ...pool, spec: { ...pool.spec, vxlanMode: 'Never', ipipMode: 'CrossSubnet' } });
    expect(await ensureTunnelAddress(ds, 'n1', selects)).toEqual({ ipip: '10.50.0.1' });
    const n1 = (await ds.get('Node', 'n1'))!;
    expect(n1.spec.ipv4VXLANTunnelAddr).toBeUndefined();
    expect(n1.spec.bgp).toEqual({ ipv4Address: '192.0.2.1/24', ipv4IPIPTunnelAddr: '10.50.0.1' });
    expect(await addressesOfHandle(ds, tunnelHandle('n1', 'vxlan'))).toEqual([]);

    await ds.put({ ...ipip, spec: { ...ipip.spec, nodeSelector: 'zone == "elsewhere"' } });
    expect(await ensureTunnelAddress(ds, 'n1', selects)).toEqual({});
    expect((await ds.get('Node', 'n1'))?.spec.bgp).toEqual({ ipv4Address: '192.0.2.1/24' });
    expect(await addressesOfHandle(ds, tunnelHandle('n1', 'ipip'))).toEqual([]);
    expect(await addressesOfHandle(ds, 'w')).toHaveLength(1);
  });

  it('never gives an address twice when 4 processes allocate 100 each from one SQLite file', async () => {
    const url = `sqlite://${dir}/concurrent.db`;
    const store = await openDatastore(url);
    await store.create(testPool('default', '10.244.0.0/16', { blockSize: 28 }));
    await createNodes(store, ['n1', 'n2']);
    const workers = [0, 1, 2, 3].map((i) => ({ node: `n${(i % 2) + 1}`, handlePrefix: `w${i}` }));
    const outcome = await allocateConcurrently(url, workers, 100);
    console.log(`[sqlite] 4 processes x 100 allocations: slowest worker ${outcome.slowestMs.toFixed(0)} ms`);
    expect(outcome.addresses).toHaveLength(400);
    expect(new Set(outcome.addresses).size).toBe(400);
    const blocks = await store.list('IPAMBlock');
    const recorded = blocks.flatMap((b) => Object.keys(b.spec.allocations));
    expect(new Set(recorded)).toEqual(new Set(outcome.addresses));
    // Every block belongs to exactly one node and was claimed once.
    expect(new Set(blocks.map((b) => b.spec.cidr)).size).toBe(blocks.length);
    expect((await store.list('BlockAffinity')).length).toBe(blocks.length);
    await store.close();
  });
});
