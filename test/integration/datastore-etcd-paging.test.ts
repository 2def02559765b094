// SPDX-License-Identifier: Apache-2.0
// Reads of an etcd store far bigger than gRPC's 4 MiB message limit: lists and snapshots come back whole in
// pages of about 1 MiB, every page at the first page's revision (a write made while paging is not half-seen),
// and a watch from the snapshot's revision delivers what came after. Own etcd (loopback, temp dir) per file.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type * as RPC from 'etcd3/lib/rpc.js';
import { DatastoreTimeoutError, ETCD_DEFAULT_MAX_TXN_OPS, openDatastore, type Datastore } from '../../src/control/datastore/index.js';
import { EtcdDatastore } from '../../src/control/datastore/etcd.js';
import type { WatchEvent } from '../../src/control/datastore/types.js';
import type { WorkloadEndpoint } from '../../src/control/model/types.js';
import { testEndpoint, uniqueName } from '../harness/datastore-contract.js';
import { etcdDescribe, startEtcd, type EtcdServer } from '../harness/etcd.js';

const GRPC_DEFAULT_MAX_MESSAGE = 4 * 1024 * 1024;
const NOTE_BYTES = 2048;
const ON_A = 2_400;
const ON_B = 600;

type RangeFn = (req: RPC.IRangeRequest) => Promise<RPC.IRangeResponse>;

/** The raw client inside a datastore, to observe (and perturb) each page it reads. */
function kvOf(ds: Datastore): { range: RangeFn } {
  return (ds as unknown as { client: Etcd3 }).client.kv as unknown as { range: RangeFn };
}

function endpoint(name: string, node: string, generation = 0): WorkloadEndpoint {
  const wep = testEndpoint(name, node);
  wep.metadata.annotations = { note: `${generation}:`.padEnd(NOTE_BYTES, 'x') };
  return wep;
}

const generationOf = (r: { metadata: { annotations?: Record<string, string> } }) => Number(r.metadata.annotations?.note.split(':')[0]);

etcdDescribe('etcd datastore: paged reads of a store over the 4 MiB message limit', () => {
  let etcd: EtcdServer;
  let ds: Datastore;
  const [nodeA, nodeB] = [uniqueName('page-a'), uniqueName('page-b')];
  const namesA: string[] = [];

  beforeAll(async () => {
    etcd = await startEtcd();
    ds = await openDatastore(etcd.url);
    const all: WorkloadEndpoint[] = [];
    for (let i = 0; i < ON_A + ON_B; i++) {
      const name = `wep-${String(i).padStart(5, '0')}`;
      all.push(endpoint(name, i < ON_A ? nodeA : nodeB));
      if (i < ON_A) namesA.push(name);
    }
    // A WorkloadEndpoint is two etcd operations (resource and node index key).
    const perTxn = ETCD_DEFAULT_MAX_TXN_OPS / 2;
    for (let i = 0; i < all.length; i += perTxn * 4) {
      await Promise.all([0, 1, 2, 3].map((j) => ds.applyAll(all.slice(i + j * perTxn, i + (j + 1) * perTxn))));
    }
  }, 120_000);

  afterAll(async () => {
    await ds?.close();
    await etcd?.stop();
  });

  it('lists every record in pages, none near the limit', async () => {
    const kv = kvOf(ds);
    const original = kv.range.bind(kv);
    const pageBytes: number[] = [];
    kv.range = async (req) => {
      const res = await original(req);
      pageBytes.push(res.kvs.reduce((n, r) => n + r.key.length + r.value.length, 0));
      return res;
    };
    try {
      const items = await ds.list('WorkloadEndpoint');
      expect(items).toHaveLength(ON_A + ON_B);
      expect(pageBytes.reduce((a, b) => a + b, 0)).toBeGreaterThan(GRPC_DEFAULT_MAX_MESSAGE);
      expect(Math.max(...pageBytes)).toBeLessThan(2 * 1024 * 1024);
      expect(new Set(items.map((r) => r.metadata.name)).size).toBe(ON_A + ON_B);
    } finally {
      kv.range = original;
    }
  });

  it("snapshots one node's endpoints at one revision though a write lands between pages, and the watch from that revision delivers it", async () => {
    const [first, last] = [namesA[0], namesA[namesA.length - 1]];
    const kv = kvOf(ds);
    const original = kv.range.bind(kv);
    let pages = 0;
    let writtenAt = 0;
    const writer = await openDatastore(etcd.url);
    kv.range = async (req) => {
      const res = await original(req);
      // Only the pages of the node's endpoints (not the node index check before them).
      if (req.keys_only || !req.key?.toString('utf8').includes(`/${nodeA}/`)) return res;
      // After the first page: change the first record (already read) and the last one (not yet read) together.
      if (++pages === 1) {
        const written = await writer.applyAll([endpoint(first, nodeA, 1), endpoint(last, nodeA, 1)]);
        writtenAt = Number(written[0].metadata.resourceVersion);
      }
      return res;
    };
    let snap;
    try {
      snap = await ds.snapshot(['WorkloadEndpoint'], { node: nodeA });
    } finally {
      kv.range = original;
    }
    try {
      expect(pages).toBeGreaterThan(2);
      expect(snap.items).toHaveLength(ON_A);
      const byName = new Map(snap.items.map((r) => [r.metadata.name, r]));
      // Both as before the write: the snapshot is the store at its revision, which precedes the write.
      expect(generationOf(byName.get(first)!)).toBe(0);
      expect(generationOf(byName.get(last)!)).toBe(0);
      expect(writtenAt).toBeGreaterThan(snap.revision);

      const events: WatchEvent[] = [];
      const watch = await ds.watch(['WorkloadEndpoint'], (ev) => events.push(ev), { node: nodeA, afterRevision: snap.revision });
      try {
        await writer.delete('WorkloadEndpoint', namesA[1]);
        const deadline = Date.now() + 10_000;
        while (events.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(events.map((e) => [e.type, e.name, e.resource ? generationOf(e.resource) : undefined])).toEqual([
          ['put', first, 1],
          ['put', last, 1],
          ['delete', namesA[1], undefined],
        ]);
        expect(events[0].revision).toBe(writtenAt);
      } finally {
        await watch.close();
      }
    } finally {
      await writer.delete('WorkloadEndpoint', first);
      await writer.delete('WorkloadEndpoint', last);
      await writer.close();
    }
  });

  it('marks a store whose endpoints all have their node key as indexed without reading any key', async () => {
    const raw = new Etcd3({ hosts: etcd.clientUrl });
    const reader = await openDatastore(etcd.url);
    const kv = kvOf(reader);
    const original = kv.range.bind(kv);
    const keysOnlyReads: RPC.IRangeRequest[] = [];
    kv.range = async (req) => {
      if (req.keys_only) keysOnlyReads.push(req);
      return original(req);
    };
    try {
      await raw.delete().key('/bpf-overlay/.by-node/.indexed');
      await raw.delete().key('/bpf-overlay/.node-index-complete');
      const before = await reader.revision();
      const snap = await reader.snapshot(['WorkloadEndpoint'], { node: nodeB });
      expect(snap.items).toHaveLength(ON_B);
      expect(keysOnlyReads).toEqual([]);
      expect(snap.revision).toBe(before + 1); // the marker
      expect(await raw.get('/bpf-overlay/.by-node/.indexed').string()).toBe('1');
    } finally {
      kv.range = original;
      await reader.close();
      raw.close();
    }
  });

  it('indexes only the endpoints that lack a node key when the store has no index marker', async () => {
    const raw = new Etcd3({ hosts: etcd.clientUrl });
    const reader = await openDatastore(etcd.url);
    const unindexed = namesA[10];
    try {
      await raw.delete().key(`/bpf-overlay/.by-node/${nodeA}/WorkloadEndpoint/${unindexed}`);
      await raw.delete().key('/bpf-overlay/.by-node/.indexed');
      await raw.delete().key('/bpf-overlay/.node-index-complete');
      const before = await reader.revision();
      const snap = await reader.snapshot(['WorkloadEndpoint'], { node: nodeA });
      expect(snap.items.map((r) => r.metadata.name)).toContain(unindexed);
      // One put of the missing node key and one of the marker: nothing else is rewritten.
      expect(snap.revision).toBe(before + 2);
    } finally {
      await reader.close();
      raw.close();
    }
  });

  it('starts a read over at the newest revision when its revision is compacted between pages', async () => {
    const raw = new Etcd3({ hosts: etcd.clientUrl });
    const kv = kvOf(ds);
    const original = kv.range.bind(kv);
    let pages = 0;
    let compactedAt = 0;
    kv.range = async (req) => {
      const res = await original(req);
      if (req.keys_only || !req.key?.toString('utf8').includes(`/${nodeB}/`)) return res;
      if (++pages === 1) {
        // A write and a compaction past the first page's revision: the next page at that revision is refused.
        await raw.put(`/bpf-overlay/.paging-test/${uniqueName('bump')}`).value('1');
        compactedAt = await ds.revision();
        await raw.kv.compact({ revision: compactedAt, physical: true });
      }
      return res;
    };
    try {
      const snap = await ds.snapshot(['WorkloadEndpoint'], { node: nodeB });
      expect(snap.items).toHaveLength(ON_B);
      expect(snap.revision).toBeGreaterThanOrEqual(compactedAt);
      // The refused page, then the whole read again.
      expect(pages).toBeGreaterThan(3);
    } finally {
      kv.range = original;
      raw.close();
    }
  });

  it('gives every page its own deadline: a page that never answers fails the read with DatastoreTimeoutError', async () => {
    const port = new URL(etcd.clientUrl).port;
    const slow = new EtcdDatastore(etcd.url, [`127.0.0.1:${port}`], { callTimeoutMs: 400 });
    const kv = kvOf(slow);
    const original = kv.range.bind(kv);
    let pages = 0;
    kv.range = async (req) => {
      if (++pages === 3) return new Promise<never>(() => undefined);
      return original(req);
    };
    try {
      const started = Date.now();
      await expect(slow.list('WorkloadEndpoint')).rejects.toThrow(DatastoreTimeoutError);
      expect(pages).toBe(3);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await slow.close();
    }
  });
});
