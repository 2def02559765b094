// SPDX-License-Identifier: Apache-2.0
// The agent's copy of the datastore: one consistent list, then the watch's deltas applied by revision. The
// datastore is listed again only when the watch can no longer deliver every change (history compacted,
// connection lost), with exponential backoff between attempts, so a reconcile never lists anything.
import { backoffDelay, DEFAULT_BACKOFF, type Backoff } from '../backoff.js';
import type { Logger } from '../log.js';
import type { Datastore, NodeFilter, StoredKind, StoredResource, WatchEvent, WatchHandle } from '../datastore/types.js';

export type CacheDelta =
  | { type: 'put'; kind: StoredKind; name: string; resource: StoredResource; receivedAt?: number }
  | { type: 'delete'; kind: StoredKind; name: string; receivedAt?: number };

export interface CacheListener {
  /** The cache was (re)filled from a full list: everything held before is replaced by `items`. */
  onReset(items: readonly StoredResource[], revision: number): void;
  /** Changes since the last call, in revision order; only real changes (a duplicate or unknown delete is dropped). */
  onDeltas(deltas: readonly CacheDelta[], revision: number): void;
}

export interface WatchCacheOptions {
  ds: Datastore;
  kinds: readonly StoredKind[];
  filter?: NodeFilter;
  listener: CacheListener;
  log: Logger;
  backoff?: Backoff;
}

/**
 * Points a freshly decoded record's repeated texts at one shared copy: every decoded record carries its own
 * copy of its apiVersion and kind, and a block its state and node name (its Node's, already held). At 25,000
 * cached records (issue #12's scale) the copies weigh megabytes. The record is the cache's own (just decoded).
 */
function shareTexts(r: StoredResource, nodes: ReadonlyMap<string, StoredResource> | undefined): void {
  const meta = r as { apiVersion: string; kind: string };
  meta.apiVersion = shared(meta.apiVersion);
  meta.kind = shared(meta.kind);
  if (r.kind === 'BlockAffinity') {
    const spec = r.spec as { node: string; state?: string };
    const node = nodes?.get(spec.node);
    if (node) spec.node = node.metadata.name;
    if (spec.state !== undefined) spec.state = shared(spec.state);
  }
}

/** A few texts every record repeats (apiVersion, kinds, block states): bounded by what the schema allows. */
const sharedTexts = new Map<string, string>();
const MAX_SHARED_TEXTS = 64;

function shared(text: string): string {
  const held = sharedTexts.get(text);
  if (held !== undefined) return held;
  if (sharedTexts.size < MAX_SHARED_TEXTS) sharedTexts.set(text, text);
  return text;
}

export class WatchCache {
  private readonly byKind = new Map<StoredKind, Map<string, StoredResource>>();
  private watch?: WatchHandle;
  private timer?: NodeJS.Timeout;
  private pending: CacheDelta[] = [];
  private flushQueued = false;
  private failures = 0;
  private stopped = false;
  /** Revision the cache reflects: everything up to it has been applied. */
  revision = 0;
  private listedRevision = 0;
  /** Bumped per watch started and per failure: a backend may report one loss several times (once per stream). */
  private watchGeneration = 0;
  /** Full lists done (the first one included). */
  lists = 0;
  /** True while a watch continues the latest list; false from a watch failure until the re-list succeeds. */
  synced = false;

  constructor(private readonly opts: WatchCacheOptions) {
    for (const k of opts.kinds) this.byKind.set(k, new Map());
  }

  get<R extends StoredResource>(kind: StoredKind, name: string): R | undefined {
    return this.byKind.get(kind)?.get(name) as R | undefined;
  }

  all<R extends StoredResource>(kind: StoredKind): R[] {
    return [...(this.byKind.get(kind)?.values() ?? [])] as R[];
  }

  /** Everything held, every kind. */
  items(): StoredResource[] {
    return [...this.byKind.values()].flatMap((m) => [...m.values()]);
  }

  /** Lists and starts watching; resolves after the first list was delivered (or rejects with its error). */
  async start(): Promise<void> {
    await this.relist();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const w = this.watch;
    this.watch = undefined;
    await w?.close();
  }

  private async relist(): Promise<void> {
    const { ds, kinds, filter, listener } = this.opts;
    const snap = await ds.snapshot(kinds, filter);
    if (this.stopped) return;
    for (const m of this.byKind.values()) m.clear();
    // Nodes first, so that each block's node name can share its Node's.
    const nodes = this.byKind.get('Node');
    for (const r of snap.items) if (r.kind === 'Node') nodes?.set(r.metadata.name, r);
    for (const r of snap.items) {
      shareTexts(r, nodes);
      this.byKind.get(r.kind)?.set(r.metadata.name, r);
    }
    this.revision = snap.revision;
    this.listedRevision = snap.revision;
    this.pending = [];
    this.lists++;
    listener.onReset(snap.items, snap.revision);
    const generation = ++this.watchGeneration;
    this.watch = await ds.watch(kinds, (ev) => this.onEvent(ev), {
      ...filter,
      afterRevision: snap.revision,
      onError: (err) => this.onWatchError(err, generation),
    });
    if (this.stopped) {
      await this.watch.close();
      return;
    }
    this.synced = true;
  }

  private onEvent(ev: WatchEvent): void {
    // The list already holds everything up to its revision (several events may share one later revision).
    if (this.stopped || ev.revision <= this.listedRevision) return;
    const held = this.byKind.get(ev.kind);
    if (!held) return;
    // Monotonic arrival time: the agent's event-to-map latency starts here (agent/event-latency.ts).
    const receivedAt = performance.now();
    if (ev.type === 'put' && ev.resource) {
      const before = held.get(ev.name);
      if (before && before.metadata.resourceVersion === ev.resource.metadata.resourceVersion) return;
      shareTexts(ev.resource, this.byKind.get('Node'));
      held.set(ev.name, ev.resource);
      this.pending.push({ type: 'put', kind: ev.kind, name: ev.name, resource: ev.resource, receivedAt });
    } else if (ev.type === 'delete') {
      // A delete at the revision of what is held is an old key of that same write (an etcd node index moved
      // to another prefix, seen by another stream): the put wins.
      const current = held.get(ev.name);
      if (current && Number(current.metadata.resourceVersion) >= ev.revision) return;
      if (!held.delete(ev.name)) return;
      this.pending.push({ type: 'delete', kind: ev.kind, name: ev.name, receivedAt });
    }
    this.revision = Math.max(this.revision, ev.revision);
    this.failures = 0;
    // Deltas of one poll or one burst reach the listener together.
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.stopped || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.opts.listener.onDeltas(batch, this.revision);
  }

  private onWatchError(err: Error, generation: number): void {
    if (this.stopped || generation !== this.watchGeneration) return;
    this.watchGeneration++;
    this.flush();
    this.synced = false;
    const w = this.watch;
    this.watch = undefined;
    void w?.close().catch(() => undefined);
    this.scheduleRelist(err);
  }

  private scheduleRelist(err: Error): void {
    const delay = backoffDelay(this.opts.backoff ?? DEFAULT_BACKOFF, this.failures++);
    this.opts.log.warn({ err: err.message, retryInMs: delay }, 'datastore watch lost; re-listing');
    this.timer = setTimeout(() => {
      this.relist().catch((e: Error) => {
        if (!this.stopped) this.scheduleRelist(e);
      });
    }, delay);
  }
}
