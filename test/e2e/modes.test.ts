// SPDX-License-Identifier: Apache-2.0
// Every IPPool encapsulation mode on real packets: IPIP and VXLAN, each Always and CrossSubnet, and Never. One
// cluster; the pool is re-applied between modes (measured faster than a cluster per mode, and it exercises the
// in-place mode change every user makes). Captures on the node1 underlay (checksum offload off, so the capture
// holds final checksums) and on the router's link to node3.
import { kernelDescribe } from '../harness/privileges.js';
import { clusterPerFile } from './checks.js';
import { ippool, type Cluster } from '../lab/cluster.js';
import { describeMode, MODES, POOL_CIDR, POOL_NAME } from './mode-cases.js';

kernelDescribe('every IPPool mode on real packets (SQLite datastore)', () => {
  let cluster: Cluster;

  const log = clusterPerFile('modes.test.ts', {
    tag: 'bom',
    underlayOctet: 101,
    disableChecksumOffload: true,
    resources: [ippool(POOL_NAME, POOL_CIDR, MODES[0].spec)],
  }, (c) => {
    cluster = c;
  });

  for (const mode of MODES) describeMode(mode, () => cluster, log);
});
