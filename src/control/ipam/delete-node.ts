// SPDX-License-Identifier: Apache-2.0
// Deleting a Node releases everything recorded for it, as Calico does: its WorkloadEndpoints, the addresses of
// its workloads and tunnels, its blocks and their affinities, then the Node itself (last, so that an interrupted
// run leaves a Node to re-run `delete node` on). This IPAM never lends a node's block to another node, so every
// address in a block affine to the node is the node's own.
import { describeRef, NotFoundError, type IPAMBlock, type Txn } from '../datastore/types.js';
import type { WorkloadEndpoint } from '../model/types.js';
import { affinityName } from './blocks.js';
import { allocationNode, heldByEndpoint } from './owners.js';
import type { Step } from './steps.js';

export interface NodeRelease {
  endpoints: number;
  blocks: number;
  affinities: number;
  /** Addresses released: those in the node's blocks and the node's own ones held elsewhere. */
  addresses: number;
}

function ownedElsewhere(block: IPAMBlock, node: string, endpoints: readonly WorkloadEndpoint[]): string[] {
  return Object.entries(block.spec.allocations)
    .filter(([, a]) => allocationNode(a) === node || endpoints.some((w) => heldByEndpoint(a, w)))
    .map(([address]) => address);
}

export async function planNodeDeletion(
  tx: Txn,
  name: string,
  opts: { ignoreMissing?: boolean },
  result: NodeRelease,
): Promise<Step[]> {
  Object.assign(result, { endpoints: 0, blocks: 0, affinities: 0, addresses: 0 });
  if (!(await tx.get('Node', name))) {
    if (opts.ignoreMissing) return [];
    throw new NotFoundError(`${describeRef({ kind: 'Node', name })} not found`, { kind: 'Node', name });
  }
  const endpoints = (await tx.list('WorkloadEndpoint', { guardKind: true })).filter((w) => w.spec.node === name);
  const blocks = await tx.list('IPAMBlock', { guardKind: true });
  const affinities = (await tx.list('BlockAffinity', { guardKind: true })).filter((a) => a.spec.node === name);
  const steps: Step[] = [];
  const drop = (kind: 'WorkloadEndpoint' | 'BlockAffinity' | 'IPAMBlock', item: string): Step => async (t) => {
    if (await t.get(kind, item)) t.delete(kind, item);
  };

  for (const w of endpoints) steps.push(drop('WorkloadEndpoint', w.metadata.name));
  const own = blocks.filter((b) => b.spec.node === name);
  for (const b of own) {
    result.addresses += Object.keys(b.spec.allocations).length;
    steps.push(drop('IPAMBlock', b.metadata.name));
  }
  for (const b of blocks.filter((x) => x.spec.node !== name)) {
    const addresses = ownedElsewhere(b, name, endpoints);
    if (addresses.length === 0) continue;
    result.addresses += addresses.length;
    steps.push(async (t) => {
      const current = await t.get('IPAMBlock', b.metadata.name);
      if (!current) return;
      const allocations = { ...current.spec.allocations };
      for (const address of ownedElsewhere(current, name, endpoints)) delete allocations[address];
      t.put({ ...current, spec: { ...current.spec, allocations } });
    });
  }
  const affinityNames = new Set([...affinities.map((a) => a.metadata.name)]);
  for (const b of own) {
    const a = affinityName(name, b.spec.cidr);
    if ((await tx.get('BlockAffinity', a)) !== undefined) affinityNames.add(a);
  }
  for (const a of affinityNames) steps.push(drop('BlockAffinity', a));
  steps.push(async (t) => {
    if (await t.get('Node', name)) t.delete('Node', name);
  });
  Object.assign(result, { endpoints: endpoints.length, blocks: own.length, affinities: affinityNames.size });
  return steps;
}
