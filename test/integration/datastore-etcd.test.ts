// SPDX-License-Identifier: Apache-2.0
// The datastore contract and IPAM concurrency against a real etcd started for this file (loopback, random ports,
// temp data dir removed afterwards).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchTooLargeError,
  ETCD_DEFAULT_MAX_TXN_OPS,
  openDatastore,
} from '../../src/control/datastore/index.js';
import { API_VERSION, type OverlayConfiguration } from '../../src/control/model/types.js';
import { removeChildScripts } from '../harness/child-scripts.js';
import { Etcd3 } from 'etcd3';
import { datastoreContract, testEndpoint, testPool, uniqueName } from '../harness/datastore-contract.js';
import { etcdDescribe, startEtcd, type EtcdServer } from '../harness/etcd.js';
import { allocateConcurrently } from '../harness/ipam-concurrency.js';
import { createNodes } from '../harness/ipam-fixtures.js';

etcdDescribe('etcd datastore', () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    removeChildScripts();
    await etcd?.stop();
  });

  describe('contract', () => {
    datastoreContract('etcd', () => etcd.url);
  });

  it('indexes WorkloadEndpoints written before the per-node index the first time a node lists its own', async () => {
    const raw = new Etcd3({ hosts: etcd.clientUrl });
    const [node, name] = [uniqueName('old-node'), uniqueName('old-wep')];
    try {
      // As an earlier version stored it: the resource key only, and no marker that the store was indexed.
      await raw.put(`/bpf-overlay/WorkloadEndpoint/${name}`).value(JSON.stringify(testEndpoint(name, node)));
      await raw.delete().key('/bpf-overlay/.by-node/.indexed');
      await raw.delete().key('/bpf-overlay/.node-index-complete');
      const ds = await openDatastore(etcd.url);
      try {
        const snap = await ds.snapshot(['WorkloadEndpoint'], { node });
        expect(snap.items.map((r) => r.metadata.name)).toEqual([name]);
        expect((await ds.list('WorkloadEndpoint', { node: uniqueName('other') })).map((r) => r.metadata.name)).not.toContain(name);
      } finally {
        await ds.close();
      }
    } finally {
      raw.close();
    }
  });

  it('refuses a batch over --max-txn-ops as a whole instead of splitting it', async () => {
    const ds = await openDatastore(etcd.url);
    try {
      const prefix = uniqueName('big');
      const configs: OverlayConfiguration[] = [...Array(ETCD_DEFAULT_MAX_TXN_OPS + 1)].map((_, i) => ({
        apiVersion: API_VERSION,
        kind: 'OverlayConfiguration',
        metadata: { name: `${prefix}-${i}` },
        spec: {},
      }));
      await expect(ds.applyAll(configs)).rejects.toThrow(BatchTooLargeError);
      await expect(ds.applyAll(configs)).rejects.toThrow(/129 operations exceeds etcd's limit of 128/);
      expect((await ds.list('OverlayConfiguration')).filter((c) => c.metadata.name.startsWith(prefix))).toEqual([]);
      expect(await ds.applyAll(configs.slice(0, ETCD_DEFAULT_MAX_TXN_OPS))).toHaveLength(ETCD_DEFAULT_MAX_TXN_OPS);
    } finally {
      await ds.close();
    }
  });

  it('accepts several endpoints in one URL', async () => {
    const port = new URL(etcd.clientUrl).port;
    const ds = await openDatastore(`etcd://127.0.0.1:${port},localhost:${port}`);
    try {
      expect(await ds.revision()).toBeGreaterThan(0);
    } finally {
      await ds.close();
    }
  });

  it('never gives an address twice when 4 processes allocate 100 each through etcd', async () => {
    const ds = await openDatastore(etcd.url);
    try {
      // Its own pool range and nodes, so the contract tests' data cannot interfere.
      await ds.create(testPool(uniqueName('conc'), '10.99.0.0/16', { blockSize: 28 }));
      const nodes = [uniqueName('n'), uniqueName('n')];
      await createNodes(ds, nodes);
      const workers = [0, 1, 2, 3].map((i) => ({ node: nodes[i % 2], handlePrefix: uniqueName(`w${i}`) }));
      const outcome = await allocateConcurrently(etcd.url, workers, 100);
      console.log(`[etcd] 4 processes x 100 allocations: slowest worker ${outcome.slowestMs.toFixed(0)} ms`);
      expect(outcome.addresses).toHaveLength(400);
      expect(new Set(outcome.addresses).size).toBe(400);
      const recorded = (await ds.list('IPAMBlock'))
        .filter((b) => nodes.includes(b.spec.node))
        .flatMap((b) => Object.keys(b.spec.allocations));
      expect(new Set(recorded)).toEqual(new Set(outcome.addresses));
    } finally {
      await ds.close();
    }
  });
});
