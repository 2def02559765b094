// SPDX-License-Identifier: Apache-2.0
// The etcd per-node index of IPAMBlocks and BlockAffinities (and WorkloadEndpoints): after every create, move,
// delete, force-delete of a node and over-large batch, the keys under /bpf-overlay/.by-node/ are exactly one per
// record, under its node, carrying the record's value and version; a store written before the index gets it once.
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BatchTooLargeError, ETCD_DEFAULT_MAX_TXN_OPS, openDatastore, type Datastore, type IPAMBlock } from '../../src/control/datastore/index.js';
import { affinityName, assignAddress, blockName, planNodeDeletion, runSteps, type NodeRelease } from '../../src/control/ipam/index.js';
import { API_VERSION, type BlockAffinity } from '../../src/control/model/types.js';
import { testEndpoint, testPool, uniqueName } from '../harness/datastore-contract.js';
import { etcdDescribe, startEtcd, type EtcdServer } from '../harness/etcd.js';
import { createNodes, labelEqualsSelector } from '../harness/ipam-fixtures.js';

const ROOT = '/bpf-overlay/';
const INDEX = `${ROOT}.by-node/`;
const INDEXED_KINDS = ['WorkloadEndpoint', 'IPAMBlock', 'BlockAffinity'];

function block(cidr: string, node: string, allocations: IPAMBlock['spec']['allocations'] = {}): IPAMBlock {
  return { apiVersion: API_VERSION, kind: 'IPAMBlock', metadata: { name: blockName(cidr) }, spec: { cidr, pool: 'p', node, allocations } };
}

function affinity(cidr: string, node: string): BlockAffinity {
  return {
    apiVersion: API_VERSION,
    kind: 'BlockAffinity',
    metadata: { name: affinityName(node, cidr) },
    spec: { node, cidr, state: 'confirmed', deleted: false },
  };
}

const names = (rs: { metadata: { name: string } }[]) => rs.map((r) => r.metadata.name);

etcdDescribe('etcd per-node index of node-owned records', () => {
  let etcd: EtcdServer;
  let raw: Etcd3;
  beforeAll(async () => {
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.clientUrl });
  });
  afterAll(async () => {
    raw?.close();
    await etcd?.stop();
  });

  /**
   * Every disagreement between the records of the indexed kinds and the index keys, as read from etcd itself:
   * a record without its key, a key without its record, under another node, with another value or version.
   */
  async function indexProblems(): Promise<string[]> {
    const problems: string[] = [];
    const expected = new Map<string, { value: string; version: string }>();
    for (const kind of INDEXED_KINDS) {
      const res = await raw.getAll().prefix(`${ROOT}${kind}/`).exec();
      for (const kv of res.kvs) {
        const value = kv.value.toString();
        const spec = (JSON.parse(value) as { spec: { node: string; allowSpoofedSourcePrefixes?: string[] } }).spec;
        const node = kind === 'WorkloadEndpoint' && (spec.allowSpoofedSourcePrefixes?.length ?? 0) > 0 ? '*' : spec.node;
        expected.set(`${INDEX}${node}/${kind}/${kv.key.toString().slice(`${ROOT}${kind}/`.length)}`, { value, version: kv.mod_revision });
      }
    }
    const index = await raw.getAll().prefix(INDEX).exec();
    for (const kv of index.kvs) {
      const key = kv.key.toString();
      if (key.slice(INDEX.length).startsWith('.')) continue; // markers
      const want = expected.get(key);
      if (!want) problems.push(`${key}: no such record`);
      else if (want.value !== kv.value.toString()) problems.push(`${key}: value differs from the record's`);
      else if (want.version !== kv.mod_revision) problems.push(`${key}: version ${kv.mod_revision}, record's ${want.version}`);
      expected.delete(key);
    }
    for (const key of expected.keys()) problems.push(`${key}: missing`);
    return problems;
  }

  async function withStore<T>(fn: (ds: Datastore) => Promise<T>): Promise<T> {
    const ds = await openDatastore(etcd.url);
    try {
      return await fn(ds);
    } finally {
      await ds.close();
    }
  }

  it('keeps one index key per block and affinity across create, affinity move, update and delete', async () => {
    const [a, b] = [uniqueName('a'), uniqueName('b')];
    await withStore(async (ds) => {
      await ds.applyAll([block('10.10.0.64/26', a), block('10.10.0.0/26', a), block('10.10.1.0/26', b)]);
      await ds.applyAll([affinity('10.10.0.0/26', a), affinity('10.10.1.0/26', b)]);
      expect(await indexProblems()).toEqual([]);
      expect(names(await ds.listOwnedBy('IPAMBlock', a))).toEqual(['10-10-0-0-26', '10-10-0-64-26']);
      expect(names(await ds.listOwnedBy('BlockAffinity', b))).toEqual([affinityName(b, '10.10.1.0/26')]);
      expect(await ds.listOwnedBy('IPAMBlock', uniqueName('none'))).toEqual([]);

      // The block's affinity moves from b to a: its index key moves in the same commit.
      await ds.put(block('10.10.1.0/26', a, { '10.10.1.1': { handle: 'h1' } }));
      expect(names(await ds.listOwnedBy('IPAMBlock', a))).toEqual(['10-10-0-0-26', '10-10-0-64-26', '10-10-1-0-26']);
      expect(await ds.listOwnedBy('IPAMBlock', b)).toEqual([]);
      expect(await indexProblems()).toEqual([]);

      // Versions read through the index are the records' own: a compare-and-swap with one succeeds.
      const [moved] = (await ds.listOwnedBy('IPAMBlock', a)).filter((x) => x.metadata.name === '10-10-1-0-26');
      expect(moved).toEqual(await ds.get('IPAMBlock', '10-10-1-0-26'));
      await ds.put({ ...moved, spec: { ...moved.spec, allocations: {} } }, { expectedResourceVersion: moved.metadata.resourceVersion });
      expect(await indexProblems()).toEqual([]);

      // A record read, changed in place by the caller and written back at the version read, still moves its key.
      const inPlace = (await ds.get('IPAMBlock', '10-10-0-64-26'))!;
      inPlace.spec.node = b;
      await ds.put(inPlace, { expectedResourceVersion: inPlace.metadata.resourceVersion });
      expect(names(await ds.listOwnedBy('IPAMBlock', b))).toEqual(['10-10-0-64-26']);
      expect(await indexProblems()).toEqual([]);

      // Deletes, single and batched, inside a transaction too, take the index key along.
      await ds.delete('IPAMBlock', '10-10-0-64-26');
      await ds.deleteAll([{ kind: 'BlockAffinity', name: affinityName(b, '10.10.1.0/26') }]);
      await ds.transact(async (tx) => {
        for (const x of await tx.listOwnedBy('IPAMBlock', a)) if (x.spec.cidr === '10.10.0.0/26') tx.delete('IPAMBlock', x.metadata.name);
      });
      expect(names(await ds.listOwnedBy('IPAMBlock', a))).toEqual(['10-10-1-0-26']);
      expect(await ds.listOwnedBy('BlockAffinity', b)).toEqual([]);
      expect(await indexProblems()).toEqual([]);
    });
  });

  it('follows concurrent moves of one block between nodes and never leaves a stale key', async () => {
    const nodes = [uniqueName('m'), uniqueName('m'), uniqueName('m')];
    await withStore(async (ds) => {
      await ds.put(block('10.11.0.0/26', nodes[0]));
      // Unconditional puts racing from several clients: whichever wins last, one key under its node remains.
      const clients = await Promise.all(nodes.map(() => openDatastore(etcd.url)));
      try {
        await Promise.all(clients.flatMap((c, i) => [0, 1, 2, 3].map((r) => c.put(block('10.11.0.0/26', nodes[(i + r) % 3])))));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      const owner = (await ds.get('IPAMBlock', '10-11-0-0-26'))!.spec.node;
      for (const n of nodes) expect(names(await ds.listOwnedBy('IPAMBlock', n))).toEqual(n === owner ? ['10-11-0-0-26'] : []);
      expect(await indexProblems()).toEqual([]);
    });
  });

  it('refuses a batch whose index keys exceed --max-txn-ops as a whole, and a forced node delete still clears its index', async () => {
    const node = uniqueName('big');
    const cidrs = Array.from({ length: ETCD_DEFAULT_MAX_TXN_OPS / 2 + 1 }, (_, i) => `10.12.${i}.0/26`);
    await withStore(async (ds) => {
      await createNodes(ds, [node]);
      // 65 blocks are 130 etcd operations with their index keys: refused, nothing written.
      await expect(ds.applyAll(cidrs.map((c) => block(c, node)))).rejects.toThrow(BatchTooLargeError);
      expect(await ds.listOwnedBy('IPAMBlock', node)).toEqual([]);
      expect(await indexProblems()).toEqual([]);
      // 64 fit in one transaction.
      await ds.applyAll(cidrs.slice(0, ETCD_DEFAULT_MAX_TXN_OPS / 2).map((c) => block(c, node)));
      await ds.applyAll(cidrs.slice(ETCD_DEFAULT_MAX_TXN_OPS / 2).map((c) => block(c, node)));
      for (let i = 0; i < cidrs.length; i += 32) await ds.applyAll(cidrs.slice(i, i + 32).map((c) => affinity(c, node)));
      await ds.put(testEndpoint(uniqueName('wep'), node));
      expect(await ds.listOwnedBy('IPAMBlock', node)).toHaveLength(cidrs.length);
      expect(await indexProblems()).toEqual([]);

      // Deleting the node is too large for one transaction: the steps fallback runs, and the index follows.
      const release: NodeRelease = { endpoints: 0, blocks: 0, affinities: 0, addresses: 0 };
      const { mode } = await runSteps(ds, (tx) => planNodeDeletion(tx, node, {}, release));
      expect(mode).toMatch(/^\d+ transactions$/);
      expect(release).toMatchObject({ blocks: cidrs.length, affinities: cidrs.length, endpoints: 1 });
      expect(await ds.listOwnedBy('IPAMBlock', node)).toEqual([]);
      expect(await ds.listOwnedBy('BlockAffinity', node)).toEqual([]);
      expect((await raw.getAll().prefix(`${INDEX}${node}/`).keys()).length).toBe(0);
      expect(await indexProblems()).toEqual([]);
    });
  });

  it('indexes the blocks and affinities of a store written before the index once, and IPAM then allocates from them', async () => {
    const node = uniqueName('old');
    const pool = uniqueName('oldpool');
    const wep = uniqueName('oldwep');
    await withStore(async (ds) => {
      await createNodes(ds, [node]);
      await ds.create(testPool(pool, '10.13.0.0/16'));
    });
    // As the version that indexed WorkloadEndpoints only stored them: blocks and affinities under their own keys
    // only, endpoints with their node key, and that version's marker.
    const old = block('10.13.0.0/26', node, { '10.13.0.1': { handle: 'held' } });
    old.spec.pool = pool;
    await raw.put(`${ROOT}IPAMBlock/${old.metadata.name}`).value(JSON.stringify(old));
    await raw.put(`${ROOT}BlockAffinity/${affinityName(node, '10.13.0.0/26')}`).value(JSON.stringify(affinity('10.13.0.0/26', node)));
    const endpoint = JSON.stringify(testEndpoint(wep, node));
    const value = Buffer.from(endpoint);
    await raw.kv.txn({
      compare: [],
      success: [`${ROOT}WorkloadEndpoint/${wep}`, `${INDEX}${node}/WorkloadEndpoint/${wep}`].map((key) => ({ request_put: { key: Buffer.from(key), value } })),
      failure: [],
    });
    await raw.delete().key(`${ROOT}.node-index-complete`);
    await raw.put(`${INDEX}.indexed`).value('1');
    expect(await indexProblems()).not.toEqual([]);

    await withStore(async (ds) => {
      expect(names(await ds.listOwnedBy('IPAMBlock', node))).toEqual([old.metadata.name]);
      expect(names(await ds.listOwnedBy('BlockAffinity', node))).toEqual([affinityName(node, '10.13.0.0/26')]);
      expect(names((await ds.snapshot(['WorkloadEndpoint'], { node })).items)).toEqual([wep]);
      expect(await indexProblems()).toEqual([]);
      expect((await raw.get(`${ROOT}.node-index-complete`).string()) ?? '').not.toBe('');
      // The allocation guards its commit with the version it read through the index.
      const got = await assignAddress(ds, { node, handle: uniqueName('h') }, labelEqualsSelector);
      expect(got).toMatchObject({ address: '10.13.0.2', block: '10.13.0.0/26', pool });
      expect(await indexProblems()).toEqual([]);
    });
  });
});
