// SPDX-License-Identifier: Apache-2.0
// Block affinities indexed by IPv4 network number, so a pool change finds the blocks inside its CIDR (the only
// ones whose owning pool can change) without walking every block of the cluster.
//
// Held for every block of the cluster (20,000 at issue #12's scale) by three instances, so kept small: two
// sorted arrays and no hash map (a network is found by binary search); a network almost always holds one name,
// kept as the bare string, a Set only where several share it. No name -> network map either: every caller knows
// the CIDR it indexed a name at, and passes it again to delete.
import { networkOf, type Cidr } from '../model/cidr.js';

export class BlockIndex {
  /** Network numbers, sorted once `sorted`; `names[i]` holds what is indexed at `nets[i]`. */
  private nets: number[] = [];
  private names: Array<string | Set<string>> = [];
  /** While true, inserts append and the next query sorts (a bulk load). */
  appending = false;
  private sorted = true;

  /** Indexes affinity `name` at `cidr` (IPv4 only; others are never inside a pool). */
  set(name: string, cidr: Cidr | null): void {
    if (!cidr || cidr.family !== 4) return;
    const net = Number(networkOf(cidr));
    if (this.appending) {
      // A bulk load appends and sorts once, on the next query (merging names that share a network).
      this.nets.push(net);
      this.names.push(name);
      this.sorted = false;
      return;
    }
    this.ensureSorted();
    const i = this.lowerBound(net);
    if (this.nets[i] !== net) {
      this.nets.splice(i, 0, net);
      this.names.splice(i, 0, name);
      return;
    }
    const held = this.names[i];
    if (typeof held !== 'string') held.add(name);
    else if (held !== name) this.names[i] = new Set([held, name]);
  }

  /** Removes `name` as indexed at `cidr` (what set was given for it); nothing when it is not there. */
  delete(name: string, cidr: Cidr | null): void {
    if (!cidr || cidr.family !== 4) return;
    const net = Number(networkOf(cidr));
    this.ensureSorted();
    const i = this.lowerBound(net);
    if (this.nets[i] !== net) return;
    const held = this.names[i];
    if (typeof held !== 'string') {
      if (!held.delete(name)) return;
      if (held.size === 1) this.names[i] = held.values().next().value!;
      return;
    }
    if (held !== name) return;
    this.nets.splice(i, 1);
    this.names.splice(i, 1);
  }

  /** Names of the affinities whose network lies in `outer` (prefix not checked: the caller resolves them). */
  within(outer: Cidr): string[] {
    if (outer.family !== 4) return [];
    this.ensureSorted();
    const lo = Number(networkOf(outer));
    const hi = lo + 2 ** (32 - outer.prefix) - 1;
    const out: string[] = [];
    for (let i = this.lowerBound(lo); i < this.nets.length && this.nets[i] <= hi; i++) {
      const held = this.names[i];
      if (typeof held === 'string') out.push(held);
      else out.push(...held);
    }
    return out;
  }

  /** Ends a bulk load and sorts now: the load pays for it, not the first block change after a (re)list. */
  finishAppending(): void {
    this.appending = false;
    this.ensureSorted();
  }

  /** Sorts what a bulk load appended; names at one network are merged in the order they were set. */
  private ensureSorted(): void {
    if (this.sorted) return;
    const order = this.nets.map((_, i) => i).sort((a, b) => this.nets[a] - this.nets[b] || a - b);
    const nets: number[] = [];
    const names: Array<string | Set<string>> = [];
    for (const i of order) {
      const net = this.nets[i];
      const name = this.names[i] as string | Set<string>;
      const last = nets.length - 1;
      if (last < 0 || nets[last] !== net) {
        nets.push(net);
        names.push(name);
        continue;
      }
      const held = names[last];
      const merged = typeof held === 'string' ? new Set([held]) : held;
      for (const n of typeof name === 'string' ? [name] : name) merged.add(n);
      names[last] = merged.size === 1 ? [...merged][0] : merged;
    }
    this.nets = nets;
    this.names = names;
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
