// Brings one BPF map to a desired set of entries with the fewest writes: read the kernel's current entries,
// write only what differs, and delete only what is no longer wanted. Writes (inserts and in-place updates) go
// before deletes, so that a lookup never meets a moment where neither the old nor the new entry exists: a
// route that changes encapsulation is overwritten in place, never deleted and added again.
import type { BpfMap, MapEntry } from '../kernel/types.js';

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
export type SyncableMap = Pick<BpfMap, 'name' | 'entries' | 'update' | 'delete' | 'batchUpdate' | 'batchDelete'>;

function isBatchUnsupported(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'EINVAL' || code === 'ENOTSUPP' || code === 'EOPNOTSUPP' || code === 'ENOTSUP';
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function planMapSync(current: MapEntry[], desired: MapEntry[]) {
  const currentByKey = new Map(current.map((e) => [e.key.toString('hex'), e.value]));
  const desiredKeys = new Set<string>();
  const writes: (MapEntry & { isNew: boolean })[] = [];
  let unchanged = 0;
  for (const entry of desired) {
    const hex = entry.key.toString('hex');
    if (desiredKeys.has(hex)) throw new Error(`duplicate key ${hex} in the desired state of a map`);
    desiredKeys.add(hex);
    const existing = currentByKey.get(hex);
    if (existing === undefined) writes.push({ ...entry, isNew: true });
    else if (!existing.equals(entry.value)) writes.push({ ...entry, isNew: false });
    else unchanged++;
  }
  const deletes = current.filter((e) => !desiredKeys.has(e.key.toString('hex'))).map((e) => e.key);
  return { writes, deletes, unchanged };
}

export function syncMap(map: SyncableMap, desired: MapEntry[], opts: SyncOptions = {}): SyncStats {
  const batchSize = opts.batchSize ?? 1024;
  const { writes, deletes, unchanged } = planMapSync(map.entries(), desired);
  let fellBackToSingle = false;

  for (const batch of chunks(writes, batchSize)) {
    try {
      map.batchUpdate(batch.map(({ key, value }) => ({ key, value })), 'any');
    } catch (err) {
      if (!isBatchUnsupported(err)) throw err;
      fellBackToSingle = true;
      for (const { key, value } of batch) map.update(key, value, 'any');
    }
  }
  for (const batch of chunks(deletes, batchSize)) {
    try {
      map.batchDelete(batch);
    } catch (err) {
      if (!isBatchUnsupported(err)) throw err;
      fellBackToSingle = true;
      for (const key of batch) map.delete(key);
    }
  }

  const added = writes.filter((w) => w.isNew).length;
  return { added, updated: writes.length - added, deleted: deletes.length, unchanged, fellBackToSingle };
}
