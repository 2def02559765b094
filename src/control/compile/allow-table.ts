// SPDX-License-Identifier: Apache-2.0
// The source allow-list of the incremental compiler: each workload's entries (compileSourceAllow of that one
// workload, the oracle's own function), counted per key because two workloads may allow the same prefix from
// the same node. A workload change recomputes its own entries; a node's address change those of its workloads.
import type { SourceAllowEntry } from '../maps/layout.js';
import type { WorkloadEndpoint } from '../model/types.js';
import { compareEntries, compileSourceAllow, sourceAllowKey } from './source-allow.js';
import { SortedList } from './sorted-list.js';

export interface AllowChanges {
  noteSourceAllow(key: string, wasPresent: boolean): void;
  noteWarnings(): void;
}

export class AllowTable {
  private readonly perWorkload = new Map<string, { keys: string[]; warnings: string[] }>();
  private readonly held = new Map<string, { entry: SourceAllowEntry; count: number }>();
  private readonly list = new SortedList<SourceAllowEntry>(compareEntries);

  constructor(
    private readonly localNode: string,
    private readonly addressOf: (node: string) => string | null,
    private readonly changes: AllowChanges,
  ) {}

  /** Recomputes workload `name` (absent: it is gone). */
  update(name: string, w: WorkloadEndpoint | undefined): void {
    const warnings: string[] = [];
    const entries = w ? compileSourceAllow([w], this.localNode, this.addressOf, warnings) : [];
    const keys = entries.map(sourceAllowKey);
    const prev = this.perWorkload.get(name) ?? { keys: [], warnings: [] };
    if (prev.warnings.length !== warnings.length || prev.warnings.some((t, i) => t !== warnings[i])) this.changes.noteWarnings();
    if (keys.length > 0 || warnings.length > 0) this.perWorkload.set(name, { keys, warnings });
    else this.perWorkload.delete(name);
    entries.forEach((entry, i) => {
      const h = this.held.get(keys[i]);
      if (h) h.count++;
      else {
        this.held.set(keys[i], { entry, count: 1 });
        this.changes.noteSourceAllow(keys[i], false);
        this.list.insert(entry);
      }
    });
    for (const key of prev.keys) {
      const h = this.held.get(key)!;
      if (--h.count > 0) continue;
      this.held.delete(key);
      this.changes.noteSourceAllow(key, true);
      this.list.remove(h.entry);
    }
  }

  has(key: string): boolean {
    return this.held.has(key);
  }

  entry(key: string): SourceAllowEntry | undefined {
    return this.held.get(key)?.entry;
  }

  warningsOf(name: string): readonly string[] {
    return this.perWorkload.get(name)?.warnings ?? [];
  }

  values(): readonly SourceAllowEntry[] {
    return this.list.values();
  }
}
