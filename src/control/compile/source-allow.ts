// SPDX-License-Identifier: Apache-2.0
// The source allow-list: WorkloadEndpoint spec.allowSpoofedSourcePrefixes (Calico's field). A local workload
// may send from the prefixes on its host veth (from_workload); a workload on another node may, and its node's
// tunnel packets may carry them as inner source (the check after decapsulation).
import type { SourceAllowEntry } from '../maps/layout.js';
import { compareCidrText, compareIpText, parseCidr } from '../model/cidr.js';
import type { WorkloadEndpoint } from '../model/types.js';

/** The key a change set uses for an entry. */
export function sourceAllowKey(e: SourceAllowEntry): string {
  return e.scope === 'veth' ? `veth ${e.ifindex} ${e.cidr}` : `node ${e.node} ${e.cidr}`;
}

export function compareEntries(a: SourceAllowEntry, b: SourceAllowEntry): number {
  if (a.scope !== b.scope) return a.scope === 'veth' ? -1 : 1;
  const owner = a.scope === 'veth' ? a.ifindex - (b as typeof a).ifindex : compareIpText(a.node, (b as typeof a).node);
  return owner || compareCidrText(a.cidr, b.cidr);
}

/**
 * Entries for every endpoint that lists prefixes: veth entries for this node's, node entries (by the underlay
 * address `addressOf` gives, none when it gives null) for the others'. Sorted (veth first, by owner, then
 * prefix) and unique; prefixes that are no CIDR go to `warnings`.
 */
export function compileSourceAllow(
  workloads: readonly WorkloadEndpoint[],
  localNode: string,
  addressOf: (node: string) => string | null,
  warnings: string[],
): SourceAllowEntry[] {
  const entries = new Map<string, SourceAllowEntry>();
  for (const w of workloads) {
    const prefixes = w.spec.allowSpoofedSourcePrefixes ?? [];
    if (prefixes.length === 0) continue;
    const node = w.spec.node === localNode ? null : addressOf(w.spec.node);
    if (w.spec.node !== localNode && !node) continue; // a node without an address sends no tunnel packets
    for (const prefix of prefixes) {
      const c = parseCidr(prefix);
      if (!c) {
        warnings.push(`WorkloadEndpoint ${w.metadata.name}: allowSpoofedSourcePrefixes entry ${JSON.stringify(prefix)} is no CIDR, ignored`);
        continue;
      }
      if (c.family !== 4) continue; // the data plane carries IPv4 only: an IPv6 prefix has nothing to allow
      const entry: SourceAllowEntry = node ? { scope: 'node', node, cidr: c.network } : { scope: 'veth', ifindex: w.spec.hostIfindex, cidr: c.network };
      entries.set(sourceAllowKey(entry), entry);
    }
  }
  return [...entries.values()].sort(compareEntries);
}
