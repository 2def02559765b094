// SPDX-License-Identifier: Apache-2.0
// Behaviour shared by every backend, expressed through the one primitive a backend provides: commit().
// Keeping create/put/delete/applyAll/transact here means both backends honour exactly the same contract.
import { RESOURCE_KINDS } from '../model/types.js';
import {
  AlreadyExistsError,
  ConflictError,
  DatastoreError,
  INTERNAL_KINDS,
  NotFoundError,
  describeRef,
  type CommitRequest,
  type CommitResult,
  type Datastore,
  type KindGuard,
  type NodeOwnedKind,
  type Precondition,
  type NodeFilter,
  type ResourceRef,
  type Snapshot,
  type StoredKind,
  type StoredOf,
  type StoredResource,
  type TransactOptions,
  type Txn,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from './types.js';

const KNOWN_KINDS: ReadonlySet<string> = new Set<string>([...RESOURCE_KINDS, ...INTERNAL_KINDS]);

export function checkRef(ref: ResourceRef, where: string): void {
  if (!KNOWN_KINDS.has(ref.kind)) {
    throw new DatastoreError(`${where}: unknown kind "${String(ref.kind)}" (known: ${[...KNOWN_KINDS].join(', ')})`);
  }
  if (typeof ref.name !== 'string' || ref.name.length === 0) {
    throw new DatastoreError(`${where}: ${ref.kind} metadata.name must be a non-empty string`);
  }
  if (ref.name.includes('/')) {
    throw new DatastoreError(`${where}: ${ref.kind} metadata.name "${ref.name}" must not contain "/"`);
  }
}

export function refOf(resource: StoredResource): ResourceRef {
  return { kind: resource.kind, name: resource.metadata?.name };
}

function refKey(ref: ResourceRef): string {
  return `${ref.kind}\u0000${ref.name}`;
}

export function kindGuardError(g: KindGuard, url: string): ConflictError {
  return new ConflictError(`${g.kind} resources changed in ${url} after revision ${g.unchangedSince} (concurrent write)`);
}

/** The error a failed precondition deserves, given what the key actually holds (undefined: absent). */
export function preconditionError(pre: Precondition, actualVersion: string | undefined): ConflictError | undefined {
  const what = describeRef(pre);
  if (pre.expect === 'absent') {
    return actualVersion === undefined ? undefined : new AlreadyExistsError(`${what} already exists`, pre);
  }
  if (actualVersion === undefined) return new NotFoundError(`${what} not found`, pre);
  if (pre.expect === 'present') return undefined;
  if (pre.expect.resourceVersion === actualVersion) return undefined;
  return new ConflictError(
    `${what} was modified concurrently (expected resourceVersion ${pre.expect.resourceVersion}, found ${actualVersion})`,
    pre,
  );
}

/** Metadata the store owns: a fresh resourceVersion, and the creation time kept across updates. */
export function stamp<T extends StoredResource>(resource: T, revision: number, createdAt: string | undefined): T {
  return {
    ...resource,
    metadata: {
      ...resource.metadata,
      resourceVersion: String(revision),
      creationTimestamp: createdAt ?? resource.metadata.creationTimestamp ?? new Date().toISOString(),
    },
  };
}

export abstract class BaseDatastore implements Datastore {
  abstract readonly url: string;
  abstract get<K extends StoredKind>(kind: K, name: string): Promise<StoredOf<K> | undefined>;
  abstract list<K extends StoredKind>(kind: K, filter?: NodeFilter): Promise<StoredOf<K>[]>;
  abstract snapshot(kinds: readonly StoredKind[], filter?: NodeFilter): Promise<Snapshot>;

  /** A backend without an index of owners filters the whole kind; SQLite overrides this with an indexed read. */
  async listOwnedBy<K extends NodeOwnedKind>(kind: K, node: string): Promise<StoredOf<K>[]> {
    return (await this.list(kind)).filter((r) => (r as StoredOf<NodeOwnedKind>).spec.node === node);
  }

  abstract watch(
    kinds: readonly StoredKind[],
    onEvent: (ev: WatchEvent) => void,
    opts?: WatchOptions,
  ): Promise<WatchHandle>;
  abstract revision(): Promise<number>;
  abstract close(): Promise<void>;
  /** Check preconditions and apply writes atomically; throw the ConflictError subclass of a failed precondition. */
  protected abstract commitChecked(req: CommitRequest): Promise<CommitResult>;

  async commit(req: CommitRequest): Promise<CommitResult> {
    const seen = new Set<string>();
    for (const pre of req.preconditions) checkRef(pre, 'commit precondition');
    for (const g of req.kindGuards ?? []) checkRef({ kind: g.kind, name: '*' }, 'commit kind guard');
    for (const w of req.writes) {
      const ref = w.op === 'put' ? refOf(w.resource) : { kind: w.kind, name: w.name };
      checkRef(ref, `${w.op}`);
      const key = refKey(ref);
      // Two writes to one key in one commit would make the result depend on backend ordering.
      if (seen.has(key)) throw new DatastoreError(`${describeRef(ref)} appears more than once in one batch`);
      seen.add(key);
    }
    return this.commitChecked(req);
  }

  async create<T extends StoredResource>(resource: T): Promise<T> {
    const res = await this.commit({
      preconditions: [{ ...refOf(resource), expect: 'absent' }],
      writes: [{ op: 'put', resource }],
    });
    return res.written[0] as T;
  }

  async put<T extends StoredResource>(resource: T, opts: { expectedResourceVersion?: string } = {}): Promise<T> {
    const preconditions: Precondition[] =
      opts.expectedResourceVersion === undefined
        ? []
        : [{ ...refOf(resource), expect: { resourceVersion: opts.expectedResourceVersion } }];
    const res = await this.commit({ preconditions, writes: [{ op: 'put', resource }] });
    return res.written[0] as T;
  }

  async delete(kind: StoredKind, name: string, opts: { expectedResourceVersion?: string } = {}): Promise<boolean> {
    const ref = { kind, name };
    if (opts.expectedResourceVersion !== undefined) {
      await this.commit({
        preconditions: [{ ...ref, expect: { resourceVersion: opts.expectedResourceVersion } }],
        writes: [{ op: 'delete', ...ref }],
      });
      return true;
    }
    try {
      await this.commit({ preconditions: [{ ...ref, expect: 'present' }], writes: [{ op: 'delete', ...ref }] });
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async applyAll<T extends StoredResource>(resources: T[]): Promise<T[]> {
    if (resources.length === 0) return [];
    const res = await this.commit({ preconditions: [], writes: resources.map((resource) => ({ op: 'put', resource })) });
    return res.written as T[];
  }

  async deleteAll(refs: ResourceRef[], opts: { ignoreMissing?: boolean } = {}): Promise<number> {
    if (refs.length === 0) return 0;
    if (!opts.ignoreMissing) {
      await this.commit({
        preconditions: refs.map((r) => ({ kind: r.kind, name: r.name, expect: 'present' as const })),
        writes: refs.map((r) => ({ op: 'delete' as const, kind: r.kind, name: r.name })),
      });
      return refs.length;
    }
    return this.transact(async (tx) => {
      let deleted = 0;
      for (const r of refs) {
        if ((await tx.get(r.kind, r.name)) !== undefined) {
          tx.delete(r.kind, r.name);
          deleted++;
        }
      }
      return deleted;
    });
  }

  async transact<T>(fn: (tx: Txn) => Promise<T>, opts: TransactOptions = {}): Promise<T> {
    const maxAttempts = opts.maxAttempts ?? 64;
    let lastConflict: ConflictError | undefined;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const tx = new OptimisticTxn(this);
      const result = await fn(tx);
      try {
        if (tx.hasWrites()) await this.commit(tx.request());
        return result;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        lastConflict = err;
        // Randomised, growing backoff so that contenders stop colliding in lockstep.
        const ceilingMs = Math.min(2 ** Math.min(attempt, 6), 50);
        await new Promise((r) => setTimeout(r, Math.random() * ceilingMs));
      }
    }
    throw new ConflictError(
      `transaction gave up after ${maxAttempts} conflicting attempts; last: ${lastConflict?.message}`,
      lastConflict?.ref,
    );
  }
}

class OptimisticTxn implements Txn {
  /** Versions seen by reads: undefined value = read and found absent. */
  private readonly observed = new Map<string, string | undefined>();
  private readonly guarded = new Map<string, Precondition>();
  private readonly kindGuards = new Map<StoredKind, number>();
  private readonly writes = new Map<string, { write: CommitRequest['writes'][number]; resource?: StoredResource }>();
  /**
   * Each kind is read from the store once per attempt: later lists of it in the same transaction see that same
   * read (plus the transaction's own writes). IPAM lists every block several times in one transaction (release,
   * then assign, per encapsulation), which at 20,000 blocks cost seconds; the commit's preconditions are those
   * of the first read either way.
   */
  private readonly listed = new Map<StoredKind, readonly StoredResource[]>();

  constructor(private readonly ds: Datastore) {}

  async get<K extends StoredKind>(kind: K, name: string): Promise<StoredOf<K> | undefined> {
    const key = refKey({ kind, name });
    const pending = this.writes.get(key);
    if (pending) return pending.resource as StoredOf<K> | undefined;
    const found = await this.ds.get(kind, name);
    const version = found?.metadata.resourceVersion;
    // The first read of a key guards the commit: a second read seeing a newer version must not bless a write
    // built from the first (that lost concurrent updates: IPAM overwrote the agent's Node annotations).
    if (this.guarded.has(key)) return found;
    this.observed.set(key, version);
    this.guarded.set(key, { kind, name, expect: version === undefined ? 'absent' : { resourceVersion: version } });
    return found;
  }

  async list<K extends StoredKind>(kind: K, opts: { guardKind?: boolean } = {}): Promise<StoredOf<K>[]> {
    let items = this.listed.get(kind) as StoredOf<K>[] | undefined;
    if (opts.guardKind && !this.kindGuards.has(kind)) {
      // The revision before the read: a change between it and the read only costs a needless re-run. A read
      // made before the guard is not covered by it, so the kind is read again.
      this.kindGuards.set(kind, await this.ds.revision());
      items = undefined;
    }
    if (!items) {
      items = await this.ds.list(kind);
      this.listed.set(kind, items);
    }
    return this.observe(kind, items, () => true);
  }

  async listOwnedBy<K extends NodeOwnedKind>(kind: K, node: string): Promise<StoredOf<K>[]> {
    return this.observe(kind, await this.ds.listOwnedBy(kind, node), (r) => (r as StoredOf<NodeOwnedKind>).spec.node === node);
  }

  /** Records the versions read and overlays this transaction's own pending writes that `within` admits. */
  private observe<K extends StoredKind>(kind: K, items: StoredOf<K>[], within: (r: StoredOf<K>) => boolean): StoredOf<K>[] {
    const byKey = new Map<string, StoredOf<K> | undefined>();
    for (const item of items) {
      const key = refKey(refOf(item));
      if (!this.observed.has(key)) this.observed.set(key, item.metadata.resourceVersion);
      byKey.set(key, item);
    }
    // Reads see this transaction's own writes.
    for (const [key, pending] of this.writes) {
      if (!key.startsWith(`${kind}\u0000`)) continue;
      const resource = pending.resource as StoredOf<K> | undefined;
      byKey.set(key, resource && within(resource) ? resource : undefined);
    }
    return [...byKey.values()].filter((v): v is StoredOf<K> => v !== undefined);
  }

  guard(kind: StoredKind, name: string): void {
    const ref = { kind, name };
    if (!this.observed.has(refKey(ref))) throw new DatastoreError(`${describeRef(ref)} was not read in this transaction`);
    this.guardObserved(ref);
  }

  create(resource: StoredResource): void {
    const ref = refOf(resource);
    const key = refKey(ref);
    if (!this.writes.has(key)) this.guarded.set(key, { ...ref, expect: 'absent' });
    this.writes.set(key, { write: { op: 'put', resource }, resource });
  }

  put(resource: StoredResource): void {
    const ref = refOf(resource);
    this.guardObserved(ref);
    this.writes.set(refKey(ref), { write: { op: 'put', resource }, resource });
  }

  delete(kind: StoredKind, name: string): void {
    const ref = { kind, name };
    this.guardObserved(ref);
    this.writes.set(refKey(ref), { write: { op: 'delete', kind, name } });
  }

  hasWrites(): boolean {
    return this.writes.size > 0;
  }

  request(): CommitRequest {
    const req: CommitRequest = {
      preconditions: [...this.guarded.values()],
      writes: [...this.writes.values()].map((w) => w.write),
    };
    if (this.kindGuards.size > 0) {
      req.kindGuards = [...this.kindGuards].map(([kind, unchangedSince]) => ({ kind, unchangedSince }));
    }
    return req;
  }

  private guardObserved(ref: ResourceRef): void {
    const key = refKey(ref);
    if (this.guarded.has(key) || !this.observed.has(key)) return;
    const version = this.observed.get(key);
    this.guarded.set(key, { ...ref, expect: version === undefined ? 'absent' : { resourceVersion: version } });
  }
}
