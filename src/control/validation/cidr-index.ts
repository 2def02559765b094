// SPDX-License-Identifier: Apache-2.0
// Which of many CIDRs contain a given address or CIDR, in one lookup per distinct prefix length instead of one
// comparison per CIDR: validation of a manifest with thousands of pools and nodes stays linear.
import { maskedValue, networkOf, type Cidr, type IpFamily } from '../model/cidr.js';

/** CIDRs by (family, prefix, network): "which of them contain this address/prefix" costs one lookup per prefix. */
export class CidrIndex<T> {
  private readonly byKey = new Map<string, Array<{ cidr: Cidr; entry: T }>>();
  private readonly prefixes: Record<IpFamily, Set<number>> = { 4: new Set(), 6: new Set() };

  add(cidr: Cidr, entry: T): void {
    const key = `${cidr.family}/${cidr.prefix}/${networkOf(cidr)}`;
    const list = this.byKey.get(key);
    if (list) list.push({ cidr, entry });
    else this.byKey.set(key, [{ cidr, entry }]);
    this.prefixes[cidr.family].add(cidr.prefix);
  }

  /** Entries whose CIDR contains the network value/prefix (equal CIDRs included). */
  containing(family: IpFamily, value: bigint, prefix: number): T[] {
    const out: T[] = [];
    for (const p of this.prefixes[family]) {
      if (p > prefix) continue;
      const list = this.byKey.get(`${family}/${p}/${maskedValue(family, value, p)}`);
      if (list) out.push(...list.map((x) => x.entry));
    }
    return out;
  }

  *all(): Generator<{ cidr: Cidr; entry: T }> {
    for (const list of this.byKey.values()) yield* list;
  }
}
