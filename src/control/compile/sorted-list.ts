// SPDX-License-Identifier: Apache-2.0
// An array kept in order under inserts and removals, so a desired-state list of 20,000 entries is handed out
// by copying, never re-sorted per event. Changes wait until the list is read: a few are spliced in by binary
// search; many (a load, a pool change touching thousands of blocks) are merged in one pass.

const SPLICE_LIMIT = 32;

export class SortedList<T> {
  private items: T[] = [];
  private readonly adds = new Set<T>();
  private readonly removes = new Set<T>();
  private copy: T[] | null = null;

  constructor(private readonly cmp: (a: T, b: T) => number) {}

  insert(x: T): void {
    if (this.removes.has(x)) this.removes.delete(x);
    else this.adds.add(x);
    this.copy = null;
  }

  /** Removes the element that is `x` (by identity). */
  remove(x: T): void {
    if (this.adds.has(x)) this.adds.delete(x);
    else this.removes.add(x);
    this.copy = null;
  }

  /** The elements in order; the same array until the next change, never mutated afterwards. */
  values(): readonly T[] {
    if (this.copy) return this.copy;
    this.flush();
    this.copy = this.items.slice();
    return this.copy;
  }

  private flush(): void {
    if (this.adds.size + this.removes.size <= SPLICE_LIMIT) {
      for (const x of this.removes) this.spliceOut(x);
      for (const x of this.adds) this.items.splice(this.lowerBound(x), 0, x);
    } else {
      const kept = this.removes.size > 0 ? this.items.filter((x) => !this.removes.has(x)) : this.items;
      this.items = merge(kept, [...this.adds].sort(this.cmp), this.cmp);
    }
    this.adds.clear();
    this.removes.clear();
  }

  private spliceOut(x: T): void {
    for (let i = this.lowerBound(x); i < this.items.length && this.cmp(this.items[i], x) === 0; i++) {
      if (this.items[i] === x) {
        this.items.splice(i, 1);
        return;
      }
    }
    throw new Error('SortedList: removed an element it does not hold (an index and the list disagree)');
  }

  private lowerBound(x: T): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmp(this.items[mid], x) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function merge<T>(a: readonly T[], b: readonly T[], cmp: (x: T, y: T) => number): T[] {
  if (b.length === 0) return a.slice();
  const out: T[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = cmp(a[i], b[j]) <= 0 ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}
