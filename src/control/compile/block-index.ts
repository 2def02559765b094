// SPDX-License-Identifier: Apache-2.0
// Block affinities indexed by IPv4 network number, so a pool change finds the blocks inside its CIDR (the only
// ones whose owning pool can change) without walking every block of the cluster.
//
// Held for every block of the cluster (20,000 at issue #12's scale) by three instances: a network almost always
// holds one name, kept as the bare string; a Set only where several names share a network. No name -> network
// map: every caller knows the CIDR it indexed a name at, and passes it again to delete.
import { networkOf, type Cidr } from '../model/cidr.js';

export class BlockIndex {
  private nets: number[] = [];
  /** While true, inserts append and the next query sorts (a bulk load). */
  appending = false;
  private sorted = true;
  private readonly names = new Map<number, string | Set<string>>();

  /** Indexes affinity `name` at `cidr` (IPv4 only; others are never inside a pool). */
  set(name: string, cidr: Cidr | null): void {
    if (!cidr || cidr.family !== 4) return;
    const net = Number(networkOf(cidr));
    const held = this.names.get(net);
    if (held === undefined) {
      this.names.set(net, name);
      if (this.appending) {
        // A bulk load appends and sorts once, on the next query.
        this.nets.push(net);
        this.sorted = false;
      } else {
        this.ensureSorted();
        this.nets.splice(this.lowerBound(net), 0, net);
      }
    } else if (typeof held === 'string') {
      if (held !== name) this.names.set(net, new Set([held, name]));
    } else held.add(name);
  }

  /** Removes `name` as indexed at `cidr` (what set was given for it); nothing when it is not there. */
  delete(name: string, cidr: Cidr | null): void {
    if (!cidr || cidr.family !== 4) return;
    const net = Number(networkOf(cidr));
    const held = this.names.get(net);
    if (held === undefined) return;
    if (typeof held !== 'string') {
      if (!held.delete(name)) return;
      if (held.size === 1) this.names.set(net, held.values().next().value!);
      return;
    }
    if (held !== name) return;
    this.names.delete(net);
    this.ensureSorted();
    this.nets.splice(this.lowerBound(net), 1);
  }

  /** Names of the affinities whose network lies in `outer` (prefix not checked: the caller resolves them). */
  within(outer: Cidr): string[] {
    if (outer.family !== 4) return [];
    this.ensureSorted();
    const lo = Number(networkOf(outer));
    const hi = lo + 2 ** (32 - outer.prefix) - 1;
    const out: string[] = [];
    for (let i = this.lowerBound(lo); i < this.nets.length && this.nets[i] <= hi; i++) {
      const held = this.names.get(this.nets[i])!;
      if (typeof held === 'string') out.push(held);
      else out.push(...held);
    }
    return out;
  }

  private ensureSorted(): void {
    if (this.sorted) return;
    this.nets.sort((a, b) => a - b);
    this.sorted = true;
  }

  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.nets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.nets[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
