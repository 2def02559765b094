// SPDX-License-Identifier: Apache-2.0
// The etcd datastore variant of the mode cases: etcd served from the router namespace on its subnet-A address,
// so agents and the CNI plugin reach it over the underlay as in a real cluster. VXLAN CrossSubnet, the mode the
// README recommends.
import { existsSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { ETCD_BINARY } from '../harness/etcd.js';
import { kernelDescribe } from '../harness/privileges.js';
import { clusterPerFile } from './checks.js';
import { ippool, type Cluster } from '../lab/cluster.js';
import { describeMode, MODES, POOL_CIDR, POOL_NAME } from './mode-cases.js';

const MODE = { ...MODES.find((m) => m.name === 'VXLAN CrossSubnet')!, bulkBytes: 16 * 1024 * 1024 };

kernelDescribe('VXLAN CrossSubnet with etcd served from the router namespace', () => {
  let cluster: Cluster;

  beforeAll(() => {
    if (!existsSync(ETCD_BINARY)) throw new Error(`${ETCD_BINARY} is missing: the etcd variant needs it`);
  });

  const log = clusterPerFile('etcd-datastore.test.ts', {
    tag: 'boe',
    underlayOctet: 102,
    datastore: 'etcd',
    disableChecksumOffload: true,
    resources: [ippool(POOL_NAME, POOL_CIDR, MODE.spec)],
  }, (c) => {
    cluster = c;
  });

  it('every agent registered itself in etcd, reached over the underlay', () => {
    expect(cluster.datastoreUrl).toBe(`etcd://${cluster.routerAddress('A')}:2379`);
    const names = cluster.get('nodes').map((n) => n.metadata.name).sort();
    expect(names).toEqual(cluster.nodes.map((n) => n.name).sort());
    log.add(`etcd ${cluster.datastoreUrl}: ${names.length} Nodes registered`);
  });

  describeMode(MODE, () => cluster, log);
});
