// SPDX-License-Identifier: Apache-2.0
// `ipam check`, after calicoctl's: addresses nobody holds any more (leaked) and addresses held twice (one address
// in two blocks, or under two handles), and blocks that overlap (the state double allocation starts from).
import type { IPAMBlock } from '../datastore/types.js';
import type { Node, WorkloadEndpoint } from '../model/types.js';
import { formatCidr4, parseCidr4, type Cidr4 } from '../model/cidr.js';
import { endpointHandles, heldByEndpoint, tunnelHandleNode } from './owners.js';

export type IpamProblemKind = 'leaked' | 'double-held' | 'overlapping-blocks';

export interface IpamProblem {
  problem: IpamProblemKind;
  /** Empty for overlapping blocks. */
  address: string;
  block: string;
  handle: string;
  detail: string;
}

export interface IpamReport {
  blocks: number;
  addresses: number;
  leaked: number;
  doubleHeld: number;
  overlappingBlocks: number;
  problems: IpamProblem[];
}

export interface IpamCheckInput {
  blocks: readonly IPAMBlock[];
  nodes: readonly Node[];
  endpoints: readonly WorkloadEndpoint[];
}

/** Why an allocation is leaked, or undefined when a live node or workload still holds it. */
function leakReason(
  handle: string,
  allocation: IPAMBlock['spec']['allocations'][string],
  nodes: ReadonlySet<string>,
  byHandle: ReadonlyMap<string, WorkloadEndpoint>,
  endpoints: readonly WorkloadEndpoint[],
): string | undefined {
  const tunnelNode = tunnelHandleNode(handle);
  if (tunnelNode !== undefined) {
    return nodes.has(tunnelNode) ? undefined : `tunnel address of Node "${tunnelNode}", which does not exist`;
  }
  if (byHandle.has(handle) || endpoints.some((w) => heldByEndpoint(allocation, w))) return undefined;
  return 'no WorkloadEndpoint holds this handle and it is no tunnel handle of an existing Node';
}

export function checkIpam(input: IpamCheckInput): IpamReport {
  const nodes = new Set(input.nodes.map((n) => n.metadata.name));
  const byHandle = new Map<string, WorkloadEndpoint>();
  for (const w of input.endpoints) for (const h of endpointHandles(w)) byHandle.set(h, w);
  const problems: IpamProblem[] = [];
  const holders = new Map<string, { block: string; handle: string }[]>();
  let addresses = 0;

  for (const b of input.blocks) {
    for (const [address, a] of Object.entries(b.spec.allocations)) {
      addresses++;
      const list = holders.get(address) ?? [];
      list.push({ block: b.spec.cidr, handle: a.handle });
      holders.set(address, list);
      const reason = leakReason(a.handle, a, nodes, byHandle, input.endpoints);
      if (reason) problems.push({ problem: 'leaked', address, block: b.spec.cidr, handle: a.handle, detail: reason });
    }
  }
  let doubleHeld = 0;
  for (const [address, list] of holders) {
    if (list.length < 2) continue;
    doubleHeld++;
    const all = list.map((h) => `block ${h.block} handle ${h.handle}`).join('; ');
    for (const h of list) {
      problems.push({ problem: 'double-held', address, block: h.block, handle: h.handle, detail: `held ${list.length} times: ${all}` });
    }
  }
  const ranges = input.blocks
    .map((b) => ({ block: b, range: parseCidr4(b.spec.cidr) }))
    .filter((x): x is { block: IPAMBlock; range: Cidr4 } => x.range !== undefined)
    .sort((x, y) => x.range.base - y.range.base || y.range.size - x.range.size);
  let overlappingBlocks = 0;
  for (let i = 0; i < ranges.length; i++) {
    const end = ranges[i].range.base + ranges[i].range.size;
    for (let j = i + 1; j < ranges.length && ranges[j].range.base < end; j++) {
      overlappingBlocks++;
      const [a, b] = [ranges[i].block, ranges[j].block];
      problems.push({
        problem: 'overlapping-blocks',
        address: '',
        block: formatCidr4(ranges[i].range),
        handle: '',
        detail: `overlaps block ${b.spec.cidr} (pool "${b.spec.pool}", node "${b.spec.node}"); this one: pool "${a.spec.pool}", node "${a.spec.node}"`,
      });
    }
  }
  const leaked = problems.filter((p) => p.problem === 'leaked').length;
  return { blocks: input.blocks.length, addresses, leaked, doubleHeld, overlappingBlocks, problems };
}
