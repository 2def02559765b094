// An array kept in order under single inserts and removals (binary search + splice), so a desired-state
// list of 20,000 entries is handed out by copying, never re-sorted per event. A bulk load sorts once instead.

export class SortedList<T> {
  private items: T[] = [];
  private copy: T[] | null = null;

  constructor(private readonly cmp: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  /** Replaces the contents, sorting once. */
  reset(items: T[]): void {
    this.items = items.sort(this.cmp);
    this.copy = null;
  }

  insert(x: T): void {
    this.items.splice(this.lowerBound(x), 0, x);
    this.copy = null;
  }

  /** Removes the element that is `x` (by identity); ties of the order are searched. */
  remove(x: T): void {
    for (let i = this.lowerBound(x); i < this.items.length && this.cmp(this.items[i], x) === 0; i++) {
      if (this.items[i] === x) {
        this.items.splice(i, 1);
        this.copy = null;
        return;
      }
    }
    throw new Error('SortedList.remove: element not held (the index and the list disagree)');
  }

  /** The elements in order; the same array until the next change, never mutated afterwards. */
  values(): readonly T[] {
    this.copy ??= this.items.slice();
    return this.copy;
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
