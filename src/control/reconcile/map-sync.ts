// SPDX-License-Identifier: Apache-2.0
// Brings one BPF map to a desired set of entries with the fewest writes: read the kernel's current entries,
// write only what differs, and delete only what is no longer wanted. Writes (inserts and in-place updates) go
// before deletes, so that a lookup never meets a moment where neither the old nor the new entry exists: a
// route that changes encapsulation is overwritten in place, never deleted and added again.
import type { BpfMap, MapEntry } from '../bpf/types.js';

export interface SyncStats {
  added: number;
  updated: number;
  deleted: number;
  unchanged: number;
  /** True when the kernel refused batch operations on this map type and single-entry calls were used. */
  fellBackToSingle: boolean;
}

export interface SyncOptions {
  /** Entries per batch system call. */
  batchSize?: number;
}

/** The subset of a BpfMap the reconciler needs (lets tests and dry runs use another backing). */
export type SyncableMap = Pick<BpfMap, 'name' | 'entries' | 'update' | 'delete' | 'batchUpdate' | 'batchDelete'> &
  Partial<Pick<BpfMap, 'batchLookup'>>;

function isBatchUnsupported(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'EINVAL' || code === 'ENOTSUPP' || code === 'EOPNOTSUPP' || code === 'ENOTSUP';
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** What the kernel holds, keyed by the key's hex: read once, or kept by a MirroredMap. */
export type MapContents = ReadonlyMap<string, Buffer>;

export function contentsOf(entries: readonly MapEntry[]): Map<string, Buffer> {
  return new Map(entries.map((e) => [e.key.toString('hex'), e.value]));
}

export function planMapSync(current: MapContents | readonly MapEntry[], desired: readonly MapEntry[]) {
  const currentByKey = current instanceof Map ? current : contentsOf(current as readonly MapEntry[]);
  const desiredKeys = new Set<string>();
  const writes: (MapEntry & { isNew: boolean; hex: string })[] = [];
  let unchanged = 0;
  for (const entry of desired) {
    const hex = entry.key.toString('hex');
    if (desiredKeys.has(hex)) throw new Error(`duplicate key ${hex} in the desired state of a map`);
    desiredKeys.add(hex);
    const existing = currentByKey.get(hex);
    if (existing === undefined) writes.push({ ...entry, hex, isNew: true });
    else if (!existing.equals(entry.value)) writes.push({ ...entry, hex, isNew: false });
    else unchanged++;
  }
  const deletes: { key: Buffer; hex: string }[] = [];
  for (const hex of currentByKey.keys()) {
    if (!desiredKeys.has(hex)) deletes.push({ key: Buffer.from(hex, 'hex'), hex });
  }
  return { writes, deletes, unchanged };
}

/** Reads every entry, in batches where the map type allows it. */
export function readMap(map: SyncableMap): Map<string, Buffer> {
  return contentsOf(readEntries(map));
}

/** Every entry of the map, in batches where the map type allows it. */
export function readEntries(map: SyncableMap): readonly MapEntry[] {
  if (map.batchLookup) {
    try {
      return map.batchLookup();
    } catch (err) {
      if (!isBatchUnsupported(err)) throw err;
    }
  }
  return map.entries();
}

/** Writes (in batches where the map type allows it) then deletes; true when single-entry calls were needed. */
export function applyPlan(
  map: SyncableMap,
  plan: { writes: MapEntry[]; deletes: { key: Buffer }[] },
  batchSize: number,
): boolean {
  let fellBackToSingle = false;
  for (const batch of chunks(plan.writes, batchSize)) {
    try {
      map.batchUpdate(batch.map(({ key, value }) => ({ key, value })), 'any');
    } catch (err) {
      if (!isBatchUnsupported(err)) throw err;
      fellBackToSingle = true;
      for (const { key, value } of batch) map.update(key, value, 'any');
    }
  }
  for (const batch of chunks(plan.deletes, batchSize)) {
    try {
      map.batchDelete(batch.map((d) => d.key));
    } catch (err) {
      if (!isBatchUnsupported(err)) throw err;
      fellBackToSingle = true;
      for (const { key } of batch) map.delete(key);
    }
  }
  return fellBackToSingle;
}

function statsOf(plan: ReturnType<typeof planMapSync>, fellBackToSingle: boolean): SyncStats {
  const added = plan.writes.filter((w) => w.isNew).length;
  return { added, updated: plan.writes.length - added, deleted: plan.deletes.length, unchanged: plan.unchanged, fellBackToSingle };
}

/** One-shot sync: reads the kernel's entries, then writes the difference. */
export function syncMap(map: SyncableMap, desired: MapEntry[], opts: SyncOptions = {}): SyncStats {
  const plan = planMapSync(readMap(map), desired);
  return statsOf(plan, applyPlan(map, plan, opts.batchSize ?? 1024));
}

/**
 * A map the reconciler is the only writer of: after one read of the kernel it remembers what it wrote, so a
 * change costs a diff and the writes, not a read-back of the whole map. invalidate() forgets the memory (the
 * agent does so on its periodic resync, which repairs anything changed behind its back) and any failed write
 * forgets it too, because the kernel's state is then unknown.
 */
export class MirroredMap {
  private mirror?: Map<string, Buffer>;

  constructor(
    private readonly mapRef: () => SyncableMap,
    private readonly opts: SyncOptions = {},
  ) {}

  invalidate(): void {
    this.mirror = undefined;
  }

  sync(desired: MapEntry[]): SyncStats {
    const map = this.mapRef();
    const current = this.mirror ?? readMap(map);
    const plan = planMapSync(current, desired);
    this.mirror = undefined; // until the writes succeeded, what the kernel holds is not known
    const fellBack = applyPlan(map, plan, this.opts.batchSize ?? 1024);
    for (const w of plan.writes) current.set(w.hex, w.value);
    for (const d of plan.deletes) current.delete(d.hex);
    this.mirror = current;
    return statsOf(plan, fellBack);
  }
}
