// SPDX-License-Identifier: Apache-2.0
// One BPF map's step: the only writer of that map. After one read of the kernel it keeps a mirror of what it
// wrote, so a change costs the changed keys, not the map. Capacity is checked before any write: entries that
// would not fit are not written (what the map holds stays as it was), reported as overflow, and retried
// whenever a later change frees room.
import type { MapEntry } from '../bpf/types.js';
import { applyPlan, readEntries, type SyncableMap } from './map-sync.js';
import type { SyncStep } from './steps.js';

/** Desired contents of a map, addressed by the desired state's own keys (a route's cidr, a node's address). */
export interface MapSource {
  allKeys(): Iterable<string>;
  /** The encoded entry for a key; undefined when the key must not be in the map. */
  entry(key: string): MapEntry | undefined;
  encodeKey(key: string): Buffer;
}

/** A MapSource over an index of desired entries by key (a new map's step is one line with this). */
export function indexedSource<T>(
  index: () => ReadonlyMap<string, T>,
  encode: (item: T) => MapEntry,
  encodeKey: (key: string) => Buffer,
): MapSource {
  return {
    allKeys: () => index().keys(),
    entry: (k) => {
      const item = index().get(k);
      return item === undefined ? undefined : encode(item);
    },
    encodeKey,
  };
}

export interface MapSyncStats {
  added: number;
  updated: number;
  deleted: number;
}

type CapacityMap = SyncableMap & { readonly maxEntries?: number };

/**
 * A value as the mirror keeps it: one byte per character. A Buffer per entry costs a JS object, an ArrayBuffer
 * and a native allocation each; at 20,000 routes the strings take a fraction of that.
 */
const mirrored = (value: Buffer): string => value.toString('latin1');

export class MapSyncer implements SyncStep {
  /** What the kernel map holds, by hex key: the value as `mirrored` text. */
  private mirror?: Map<string, string>;
  private full = true;
  private readonly dirty = new Set<string>();
  /** Desired keys not written because the map is full, by their hex key. */
  readonly overflow = new Map<string, string>();
  readonly totals: MapSyncStats = { added: 0, updated: 0, deleted: 0 };

  constructor(
    readonly name: string,
    private readonly mapRef: () => CapacityMap,
    private readonly source: MapSource,
    private readonly opts: {
      batchSize?: number;
      onOverflow?: (keys: string[], capacity: number) => void;
      /** Called after a run that changed the map, or failed while changing it (the map may hold part of it). */
      onWritten?: () => void;
    } = {},
  ) {}

  get pending(): boolean {
    return this.full || this.dirty.size > 0;
  }

  /** Entries the map holds (as far as this writer knows). */
  get size(): number {
    return this.mirror?.size ?? 0;
  }

  mark(keys: Iterable<string>): void {
    for (const k of keys) this.dirty.add(k);
  }

  /** Forget the mirror: the next run reads the kernel again and repairs anything changed behind our back. */
  resync(): void {
    this.full = true;
  }

  run(): void {
    const map = this.mapRef();
    const full = this.full || !this.mirror;
    const current = full ? mirrorOf(readEntries(map)) : this.mirror!;
    // Each desired key is compared as it is produced: only the differences are kept, so a full pass over twenty
    // thousand unchanged routes (every resync) holds no second copy of them.
    const updates: (MapEntry & { hex: string })[] = [];
    const additions: (MapEntry & { hex: string; desiredKey: string })[] = [];
    const deletes: { key: Buffer; hex: string }[] = [];
    const considered = new Set<string>();
    const consider = (k: string) => {
      const entry = this.source.entry(k);
      const hex = (entry?.key ?? this.source.encodeKey(k)).toString('hex');
      if (considered.has(hex)) return;
      considered.add(hex);
      const existing = current.get(hex);
      if (!entry) {
        if (existing !== undefined) deletes.push({ key: this.source.encodeKey(k), hex });
      } else if (existing === undefined) additions.push({ ...entry, hex, desiredKey: k });
      else if (existing !== mirrored(entry.value)) updates.push({ ...entry, hex });
    };
    if (full) for (const k of this.source.allKeys()) consider(k);
    for (const k of this.dirty) consider(k);
    for (const k of this.overflow.values()) consider(k);
    if (full) for (const hex of current.keys()) if (!considered.has(hex)) deletes.push({ key: Buffer.from(hex, 'hex'), hex });

    // Writes go before deletes (no lookup meets a moment without either entry) as far as room allows; what
    // does not fit then goes after the deletes, and what does not fit at all is left out.
    const capacity = map.maxEntries ?? Infinity;
    additions.sort((a, b) => (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0));
    const roomBefore = Math.max(0, capacity - current.size);
    const early = additions.slice(0, roomBefore);
    const roomAfter = Math.max(0, capacity - (current.size + early.length - deletes.length));
    const late = additions.slice(roomBefore, roomBefore + roomAfter);
    const left = additions.slice(roomBefore + roomAfter);

    this.mirror = undefined; // until the writes succeeded, what the kernel holds is not known
    this.full = true;
    const batch = this.opts.batchSize ?? 1024;
    try {
      applyPlan(map, { writes: [...updates, ...early], deletes }, batch);
      if (late.length > 0) applyPlan(map, { writes: late, deletes: [] }, batch);
    } finally {
      if (updates.length + early.length + late.length + deletes.length > 0) this.opts.onWritten?.();
    }
    for (const list of [updates, early, late]) for (const w of list) current.set(w.hex, mirrored(w.value));
    for (const d of deletes) current.delete(d.hex);
    this.mirror = current;
    this.full = false;
    this.dirty.clear();
    this.overflow.clear();
    for (const a of left) this.overflow.set(a.hex, a.desiredKey);
    this.totals.added += early.length + late.length;
    this.totals.updated += updates.length;
    this.totals.deleted += deletes.length;
    if (left.length > 0) this.opts.onOverflow?.(left.map((a) => a.desiredKey), capacity);
  }
}

function mirrorOf(entries: readonly MapEntry[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries) out.set(e.key.toString('hex'), mirrored(e.value));
  return out;
}
