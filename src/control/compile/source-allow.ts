// The source allow-list of this node's workloads: WorkloadEndpoint spec.allowSpoofedSourcePrefixes (Calico's
// field) per host veth, as from_workload consults it when a packet's source is not the workload's own.
import type { SourceAllowEntry } from '../maps/layout.js';
import { compareCidrText, parseCidr } from '../model/cidr.js';
import type { WorkloadEndpoint } from '../model/types.js';

/** Entries for the local workloads, sorted by ifindex then prefix, unique; skipped inputs go to `warnings`. */
export function compileSourceAllow(workloads: readonly WorkloadEndpoint[], localNode: string, warnings: string[]): SourceAllowEntry[] {
  const entries = new Map<string, SourceAllowEntry>();
  for (const w of workloads) {
    if (w.spec.node !== localNode) continue;
    for (const prefix of w.spec.allowSpoofedSourcePrefixes ?? []) {
      const c = parseCidr(prefix);
      if (!c) {
        warnings.push(`WorkloadEndpoint ${w.metadata.name}: allowSpoofedSourcePrefixes entry ${JSON.stringify(prefix)} is no CIDR, ignored`);
        continue;
      }
      if (c.family !== 4) continue; // the data plane carries IPv4 only: an IPv6 prefix has nothing to allow
      const entry = { ifindex: w.spec.hostIfindex, cidr: c.network };
      entries.set(`${entry.ifindex} ${entry.cidr}`, entry);
    }
  }
  return [...entries.values()].sort((a, b) => a.ifindex - b.ifindex || compareCidrText(a.cidr, b.cidr));
}

/** The key a change set uses for an entry. */
export function sourceAllowKey(e: SourceAllowEntry): string {
  return `${e.ifindex} ${e.cidr}`;
}
