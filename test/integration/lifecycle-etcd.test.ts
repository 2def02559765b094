// SPDX-License-Identifier: Apache-2.0
// Record lifecycle and IPAM safety against a real etcd started for this file (loopback, random ports, temp data
// dir removed afterwards). Every test starts from an empty store: the previous test's keys are deleted first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatastore, type StoredKind } from '../../src/control/datastore/index.js';
import { API_VERSION, RESOURCE_KINDS, type WorkloadEndpoint } from '../../src/control/model/types.js';
import { etcdDescribe, startEtcd, type EtcdServer } from '../harness/etcd.js';
import { createNodes } from '../harness/ipam-fixtures.js';
import { lifecycleContract, runCli } from '../harness/lifecycle-contract.js';

async function emptyStore(url: string): Promise<void> {
  const ds = await openDatastore(url);
  try {
    for (const kind of [...RESOURCE_KINDS, 'IPAMBlock'] as StoredKind[]) {
      const names = (await ds.list(kind)).map((r) => r.metadata.name);
      for (let i = 0; i < names.length; i += 100) {
        await ds.deleteAll(names.slice(i, i + 100).map((name) => ({ kind, name })), { ignoreMissing: true });
      }
    }
  } finally {
    await ds.close();
  }
}

etcdDescribe('record lifecycle (etcd)', () => {
  let etcd: EtcdServer;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  describe('contract', () => {
    lifecycleContract('etcd', async () => {
      await emptyStore(etcd.url);
      return etcd.url;
    });
  });

  it('deletes a node with more records than one etcd transaction may hold, in safe steps', async () => {
    await emptyStore(etcd.url);
    const ds = await openDatastore(etcd.url);
    try {
      await createNodes(ds, ['big', 'other']);
      const weps: WorkloadEndpoint[] = [...Array(150)].map((_, i) => ({
        apiVersion: API_VERSION,
        kind: 'WorkloadEndpoint',
        metadata: { name: `big.wl-${i}` },
        spec: {
          node: i < 140 ? 'big' : 'other',
          containerID: `c${i}`,
          interfaceName: 'eth0',
          hostInterface: `bo${i}`,
          hostIfindex: i + 10,
          hostMac: '02:00:00:00:00:01',
          mac: '02:00:00:00:00:02',
          ipNetworks: [`10.17.0.${i}/32`],
          pool: 'p',
        },
      }));
      // 50 per batch: a WorkloadEndpoint takes two etcd operations (the record and its per-node index key).
      for (let i = 0; i < weps.length; i += 50) await ds.applyAll(weps.slice(i, i + 50));
      const res = runCli(etcd.url, ['--log-level', 'info', 'delete', 'node', 'big']);
      expect(res.code).toBe(0);
      expect(res.stdout).toBe('node/big deleted (released 0 address(es), 0 block(s), 0 affinity(ies), 140 endpoint(s))\n');
      expect(res.stderr).toContain('deleted in 141 transactions (too many records for one)');
      expect((await ds.list('Node')).map((n) => n.metadata.name)).toEqual(['other']);
      expect((await ds.list('WorkloadEndpoint')).map((w) => w.spec.node)).toEqual(Array(10).fill('other'));
    } finally {
      await ds.close();
    }
  });
});
