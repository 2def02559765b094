// SPDX-License-Identifier: Apache-2.0
// The datastore of the issue #12 scale bench: 5,000 nodes (node-0 is the measured agent's), 20 pools, 4 blocks
// per node (BlockAffinity + IPAMBlock), 100,000 WorkloadEndpoints spread over the other nodes, each with its
// address allocated in its node's block. Written in batches (one transaction each), a few batches in flight.
import type { Datastore, IPAMBlock, StoredResource } from '../../src/control/datastore/types.js';
import { blockName } from '../../src/control/ipam/blocks.js';
import { API_VERSION, type BlockAffinity, type Node, type WorkloadEndpoint } from '../../src/control/model/types.js';
import { syntheticBlocks, syntheticNode, syntheticPools } from './control-plane.js';

export const SCALE = { nodes: 5000, workloads: 100_000 } as const;
export const LOCAL_NODE = 'node-0';

function ipOf(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function ipValue(text: string): number {
  return text.split('.').reduce((v, o) => v * 256 + Number(o), 0);
}

/**
 * Node `i` as the control-plane bench has it, but 1,000 nodes per /22 from host number 2 on: no node holds a
 * subnet's network or broadcast address (the kernel refuses a broadcast address as a route's gateway).
 */
export function scaleNode(i: number): Node {
  const addr = ipOf(((172 << 24) + (16 << 16) + Math.floor(i / 1000) * 1024 + (i % 1000) + 2) >>> 0);
  const n = syntheticNode(i);
  return { ...n, spec: { ...n.spec, bgp: { ipv4Address: `${addr}/22` } } };
}

/** Workload `slot` of remote node `node` (1-based): its block is slot % 4, its host number 1 + slot / 4. */
export function syntheticWorkload(node: number, slot: number, pool: (cidr: string) => string): WorkloadEndpoint {
  const block = syntheticBlocks(node)[slot % 4].spec.cidr;
  const ip = ipOf(ipValue(block.split('/')[0]) + 1 + Math.floor(slot / 4));
  const id = `${node.toString(16).padStart(4, '0')}${slot.toString(16).padStart(4, '0')}`;
  return {
    apiVersion: API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: { name: `node-${node}-k8s-pod${slot}-eth0` },
    spec: {
      node: `node-${node}`,
      containerID: `c${id}`,
      interfaceName: 'eth0',
      hostInterface: `bo${id}`,
      hostIfindex: 100 + slot,
      hostMac: 'ee:ee:ee:ee:ee:ee',
      mac: `0a:58:${id.match(/../g)!.join(':')}`,
      ipNetworks: [`${ip}/32`],
      pool: pool(block),
      pod: `pod-${node}-${slot}`,
      namespace: 'default',
    },
  };
}

export interface Seeded {
  records: number;
  bytes: number;
  workloadBytes: number;
  seconds: number;
}

/** Writes the whole cluster; `batch` records per transaction (etcd allows 128 operations per transaction). */
export async function seedCluster(ds: Datastore, batch: number, inFlight: number, log: (m: string) => void): Promise<Seeded> {
  const started = Date.now();
  const pools = syntheticPools();
  const poolOf = (cidr: string) => {
    const second = Number(cidr.split('.')[1]);
    return pools[Math.floor(second / 8)].metadata.name;
  };
  const nodes: Node[] = Array.from({ length: SCALE.nodes }, (_, i) => scaleNode(i));
  const affinities: BlockAffinity[] = nodes.flatMap((_, i) => syntheticBlocks(i));
  const workloads: WorkloadEndpoint[] = Array.from({ length: SCALE.workloads }, (_, w) =>
    syntheticWorkload(1 + (w % (SCALE.nodes - 1)), Math.floor(w / (SCALE.nodes - 1)), poolOf),
  );
  const allocations = new Map<string, IPAMBlock['spec']['allocations']>();
  for (const w of workloads) {
    const ip = w.spec.ipNetworks[0].split('/')[0];
    const block = `${ipOf(ipValue(ip) & ~63)}/26`;
    let a = allocations.get(block);
    if (!a) allocations.set(block, (a = {}));
    a[ip] = { handle: w.spec.containerID, attributes: { node: w.spec.node, pod: w.spec.pod!, namespace: 'default' } };
  }
  const ipamBlocks: IPAMBlock[] = affinities.map((ba) => ({
    apiVersion: API_VERSION,
    kind: 'IPAMBlock',
    metadata: { name: blockName(ba.spec.cidr) },
    spec: { cidr: ba.spec.cidr, pool: poolOf(ba.spec.cidr), node: ba.spec.node, allocations: allocations.get(ba.spec.cidr) ?? {} },
  }));
  const all: StoredResource[] = [...pools, ...nodes, ...affinities, ...ipamBlocks, ...workloads] as StoredResource[];
  let next = 0;
  let written = 0;
  const worker = async () => {
    while (next < all.length) {
      const chunk = all.slice(next, (next += batch));
      await ds.applyAll(chunk);
      written += chunk.length;
      if (Math.floor(written / 25_000) !== Math.floor((written - chunk.length) / 25_000)) log(`seeded ${written} / ${all.length}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const size = (rs: readonly unknown[]) => rs.reduce<number>((s, r) => s + JSON.stringify(r).length, 0);
  return { records: all.length, bytes: size(all), workloadBytes: size(workloads), seconds: (Date.now() - started) / 1000 };
}
