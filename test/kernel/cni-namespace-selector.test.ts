// SPDX-License-Identifier: Apache-2.0
// IPPool.namespaceSelector through the real CNI plugin: the namespace comes from K8S_POD_NAMESPACE in CNI_ARGS,
// and a pool whose selector rejects it is never used (the ADD fails with a one-line reason and leaves nothing).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hostVethName } from '../../src/control/cni/names.js';
import { openDatastore } from '../../src/control/datastore/index.js';
import type { Datastore } from '../../src/control/datastore/types.js';
import { API_VERSION } from '../../src/control/model/types.js';
import { buildDist, invokeCni } from '../harness/cni.js';
import { Topology, type Netns } from '../harness/netns.js';
import { kernelDescribe } from '../harness/privileges.js';

kernelDescribe('CNI plugin: IPPool namespaceSelector', () => {
  const topo = new Topology('bons');
  const nodeName = `${topo.prefix}-n1`;
  let tmp: string;
  let ds: Datastore;
  let node: Netns;
  let pod: Netns;

  beforeAll(async () => {
    buildDist();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'bo-cni-ns-'));
    ds = await openDatastore(`sqlite://${tmp}/store.db`);
    node = topo.addNamespace('node');
    pod = topo.addNamespace('p1');
    await ds.applyAll([
      { apiVersion: API_VERSION, kind: 'Node', metadata: { name: nodeName }, spec: { bgp: { ipv4Address: '10.78.1.1/24' } } },
      {
        apiVersion: API_VERSION,
        kind: 'IPPool',
        metadata: { name: 'team-a-only' },
        spec: { cidr: '10.246.0.0/16', ipipMode: 'Never', vxlanMode: 'Always', natOutgoing: false, disabled: false, blockSize: 26, nodeSelector: 'all()', namespaceSelector: "kubernetes.io/metadata.name == 'team-a'" },
      },
    ]);
  });

  afterAll(async () => {
    try {
      topo.destroy();
      await ds?.close();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a pod of another namespace with a one-line IPAM reason, leaving no veth and no allocation', async () => {
    const reply = invokeCni({
      command: 'ADD',
      containerId: 'c1',
      netns: pod.path,
      ifname: 'eth0',
      args: { K8S_POD_NAMESPACE: 'team-b', K8S_POD_NAME: 'web' },
      config: { cniVersion: '1.0.0', name: 'test-net', type: 'bpf-overlay', datastore: `sqlite://${tmp}/store.db`, nodeName, mtu: 1450 },
      hostNetns: node.path,
    });
    expect(reply.code).not.toBe(0);
    expect(reply.json?.msg).toBe(`IPAM: no enabled IPv4 IPPool for Workload addresses selects node "${nodeName}" and admits namespace "team-b"`);
    expect(node.ip('-j', 'link', 'show')).not.toContain(hostVethName('c1', 'eth0'));
    expect(await ds.list('IPAMBlock')).toEqual([]);
  });
});
