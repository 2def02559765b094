// SPDX-License-Identifier: Apache-2.0
// Shared IPAM fixtures: nodes, and a stand-in for the selector engine that understands the two forms the IPAM
// tests use (all() and key == "value"); the real matcher is injected the same way in production.
import type { Datastore } from '../../src/control/datastore/index.js';
import type { PoolSelectsNode } from '../../src/control/ipam/index.js';
import { API_VERSION, type Node } from '../../src/control/model/types.js';

export const labelEqualsSelector: PoolSelectsNode = (pool, node) => {
  const sel = pool.spec.nodeSelector.trim();
  if (sel === 'all()') return true;
  const m = /^(\S+)\s*==\s*"([^"]*)"$/.exec(sel);
  if (!m) throw new Error(`test selector cannot evaluate "${sel}"`);
  return node.metadata.labels?.[m[1]] === m[2];
};

export function testNode(name: string, labels: Record<string, string> = {}): Node {
  return { apiVersion: API_VERSION, kind: 'Node', metadata: { name, labels }, spec: { bgp: { ipv4Address: '192.0.2.1/24' } } };
}

export async function createNodes(ds: Datastore, names: string[]): Promise<void> {
  await ds.applyAll(names.map((n) => testNode(n)));
}
