// SPDX-License-Identifier: Apache-2.0
// The datastore contract: one interface, two backends (SQLite on one machine, etcd v3 for a cluster).
// Everything above it (agent, CNI, CLI, IPAM) is written once against this interface.
import type { ObjectMeta, Resource, ResourceKind } from '../model/types.js';
import { API_VERSION } from '../model/types.js';
import { redactCredentials } from '../printable.js';

/** One allocated address in an IPAM block. */
export interface IPAMAllocation {
  /** Who owns the address: the container ID for workloads, `tunnel:<node>:<encap>` for tunnel addresses. */
  handle: string;
  /** Free-form facts about the owner (node, pod, namespace, interface) for debugging and garbage collection. */
  attributes?: Record<string, string>;
}

export interface IPAMBlockSpec {
  /** The block, e.g. "10.244.3.64/26". */
  cidr: string;
  /** Name of the IPPool the block was carved from. */
  pool: string;
  /** Node the block is affine to. */
  node: string;
  /** Allocated addresses, keyed by dotted IPv4 address. */
  allocations: Record<string, IPAMAllocation>;
}

/**
 * IPAM's allocation record. Internal: stored beside the user-facing resources so that allocation and affinity
 * change in one transaction, but deliberately absent from RESOURCE_KINDS (users never apply it).
 */
export interface IPAMBlock {
  apiVersion: typeof API_VERSION;
  kind: 'IPAMBlock';
  metadata: ObjectMeta;
  spec: IPAMBlockSpec;
}

export const INTERNAL_KINDS = ['IPAMBlock'] as const;
export type StoredResource = Resource | IPAMBlock;
export type StoredKind = ResourceKind | IPAMBlock['kind'];
export type StoredOf<K extends StoredKind> = Extract<StoredResource, { kind: K }>;

export interface ResourceRef {
  kind: StoredKind;
  name: string;
}

/**
 * A condition a commit checks on one key before writing anything. `absent`: the key must not exist;
 * `present`: it must exist; a string: its resourceVersion must equal it.
 */
export interface Precondition extends ResourceRef {
  expect: 'absent' | 'present' | { resourceVersion: string };
}

export type WriteOp = { op: 'put'; resource: StoredResource } | ({ op: 'delete' } & ResourceRef);

/**
 * A condition on a whole kind: no resource of it was created or modified after `revision` (on SQLite, also none
 * deleted). What a decision about a kind as a whole (pool overlap, say) needs to stay true until its commit.
 */
export interface KindGuard {
  kind: StoredKind;
  unchangedSince: number;
}

export interface CommitRequest {
  preconditions: Precondition[];
  writes: WriteOp[];
  kindGuards?: KindGuard[];
}

export interface CommitResult {
  /** Store revision of the commit; every resource written by it carries this as resourceVersion. */
  revision: number;
  /** The written resources as stored (resourceVersion and creationTimestamp filled in). */
  written: StoredResource[];
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kind: StoredKind;
  name: string;
  /** The resource after the change; absent for deletes. */
  resource?: StoredResource;
  revision: number;
}

/** Narrows reads and watches to what one node needs. */
export interface NodeFilter {
  /**
   * Only the WorkloadEndpoints whose spec.node is this node, and those of any node that allow spoofed source
   * prefixes (every node accepts those from their node); other kinds are unaffected. So a plain pod on another
   * node never reaches this node's agent. A WorkloadEndpoint that stops concerning the node is delivered as a
   * delete.
   */
  node?: string;
}

/**
 * Kinds whose every record belongs to one node (spec.node): IPAM reads the node's own blocks and affinities
 * without listing the cluster's (an ADD on a node with room in its blocks must not read 20,000 blocks).
 */
export type NodeOwnedKind = 'IPAMBlock' | 'BlockAffinity';

/** The audience of a WorkloadEndpoint every node must see (node names are DNS-1123: never "*"). */
export const EVERY_NODE = '*';

/** Every resource of some kinds at one store revision: a watch from `revision` continues it without a gap. */
export interface Snapshot {
  revision: number;
  items: StoredResource[];
}

export interface WatchOptions extends NodeFilter {
  /** Deliver changes made after this revision (default: the store's revision when the watch starts). */
  afterRevision?: number;
  /** Called when the watch can no longer deliver every change (history compacted, connection lost for good). */
  onError?: (err: Error) => void;
}

export interface WatchHandle {
  close(): Promise<void>;
}

/** Read and buffered writes of one optimistic transaction (see Datastore.transact). */
export interface Txn {
  /** Guarded read: the commit fails (and the transaction re-runs) if this key changed meanwhile. */
  get<K extends StoredKind>(kind: K, name: string): Promise<StoredOf<K> | undefined>;
  /**
   * Read of a whole kind; items written later in this transaction are guarded by their listed version. With
   * guardKind, the commit also fails (and re-runs) if any item of the kind changed meanwhile (KindGuard).
   */
  list<K extends StoredKind>(kind: K, opts?: { guardKind?: boolean }): Promise<StoredOf<K>[]>;
  /** Read of the records of a node-owned kind whose spec.node is `node`; guarded like list() without guardKind. */
  listOwnedBy<K extends NodeOwnedKind>(kind: K, node: string): Promise<StoredOf<K>[]>;
  /** Guard a key at the version this transaction listed or got it at, without reading it again. */
  guard(kind: StoredKind, name: string): void;
  /** Fails the commit if the key exists at commit time. */
  create(resource: StoredResource): void;
  /** Guarded by the version this transaction read the key at, if it read it. */
  put(resource: StoredResource): void;
  delete(kind: StoredKind, name: string): void;
}

export interface TransactOptions {
  /** Attempts before giving up with the last conflict (default 64). */
  maxAttempts?: number;
  /**
   * Hold a writer lock from the first read to the commit, so that many processes rewriting one record (fifty ADDs
   * allocating from one IPAM block) queue once instead of conflicting and re-running again and again: SQLite's
   * store-wide lock; on etcd, a lock shared by this host's processes on the store (writers on other hosts still
   * meet the optimistic check). Only for fn that waits on nothing but this datastore. A lock not had within the
   * wait (10 s) runs optimistically as usual.
   */
  holdWriteLock?: boolean;
}

export interface Datastore {
  /** The URL the store was opened with (credentials never appear in it). */
  readonly url: string;
  get<K extends StoredKind>(kind: K, name: string): Promise<StoredOf<K> | undefined>;
  list<K extends StoredKind>(kind: K, filter?: NodeFilter): Promise<StoredOf<K>[]>;
  /** The records of a node-owned kind whose spec.node is `node`, in name order. */
  listOwnedBy<K extends NodeOwnedKind>(kind: K, node: string): Promise<StoredOf<K>[]>;
  /** One consistent read of several kinds, and the revision it was taken at (the start of a watch-fed cache). */
  snapshot(kinds: readonly StoredKind[], filter?: NodeFilter): Promise<Snapshot>;
  /** Fails with AlreadyExistsError when the resource exists. */
  create<T extends StoredResource>(resource: T): Promise<T>;
  /** Create or replace. With expectedResourceVersion: compare-and-swap, ConflictError on mismatch or absence. */
  put<T extends StoredResource>(resource: T, opts?: { expectedResourceVersion?: string }): Promise<T>;
  /**
   * Returns false when there was nothing to delete. With expectedResourceVersion: ConflictError on mismatch,
   * NotFoundError when absent.
   */
  delete(kind: StoredKind, name: string, opts?: { expectedResourceVersion?: string }): Promise<boolean>;
  /** Create-or-replace all, atomically: either every resource is written or none is. */
  applyAll<T extends StoredResource>(resources: T[]): Promise<T[]>;
  /** Delete all, atomically. Unless ignoreMissing, a missing resource fails the whole batch (NotFoundError). */
  deleteAll(refs: ResourceRef[], opts?: { ignoreMissing?: boolean }): Promise<number>;
  /** The primitive everything writes through: check all preconditions, then apply all writes, atomically. */
  commit(req: CommitRequest): Promise<CommitResult>;
  /**
   * Run fn as an optimistic transaction: its reads are recorded, its writes buffered and committed atomically
   * with preconditions on what it read; on a conflict fn runs again (so it must have no other side effects).
   */
  transact<T>(fn: (tx: Txn) => Promise<T>, opts?: TransactOptions): Promise<T>;
  /** Changes of the given kinds, from any process, in revision order. Resolves once the watch is established. */
  watch(kinds: readonly StoredKind[], onEvent: (ev: WatchEvent) => void, opts?: WatchOptions): Promise<WatchHandle>;
  /** Current revision of the whole store (monotonic). */
  revision(): Promise<number>;
  close(): Promise<void>;
}

/** Its message never carries credentials of the datastore URL (they are replaced by ***), wherever it is shown. */
export class DatastoreError extends Error {
  override name = 'DatastoreError';
  constructor(message: string, options?: ErrorOptions) {
    super(redactCredentials(message), options);
  }
}

/**
 * The store did not answer within its deadline (an etcd endpoint that accepts connections and stays silent, a
 * partitioned or overloaded member). Worth retrying later: the CNI plugin reports it as "try again later".
 */
export class DatastoreTimeoutError extends DatastoreError {
  override name = 'DatastoreTimeoutError';
  constructor(
    message: string,
    /** The endpoint(s) that did not answer, as configured (never with credentials). */
    readonly endpoint: string,
    readonly timeoutMs: number,
  ) {
    super(message);
  }
}

/** A precondition failed. Subclasses say how; transact() retries on any of them. */
export class ConflictError extends DatastoreError {
  override name = 'ConflictError';
  constructor(
    message: string,
    readonly ref?: ResourceRef,
  ) {
    super(message);
  }
}

export class AlreadyExistsError extends ConflictError {
  override name = 'AlreadyExistsError';
}

export class NotFoundError extends ConflictError {
  override name = 'NotFoundError';
}

/** A batch larger than the backend can commit atomically (etcd's --max-txn-ops). */
export class BatchTooLargeError extends DatastoreError {
  override name = 'BatchTooLargeError';
}

/** Thrown to a watcher whose position fell out of the retained history; it must re-list. */
export class CompactedError extends DatastoreError {
  override name = 'CompactedError';
}

export function describeRef(ref: ResourceRef): string {
  return `${ref.kind} "${ref.name}"`;
}
