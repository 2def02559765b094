// SPDX-License-Identifier: Apache-2.0
// etcd v3 backend. Every resource is one key, /bpf-overlay/<kind>/<name>, holding its JSON; the key's
// mod_revision is the resourceVersion (so it is not stored inside the JSON). A commit is one etcd txn:
// compares for the preconditions, puts/deletes on success, and on failure range reads of the compared keys so
// that the error can say which precondition failed without another round trip.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Etcd3, type IOptions, type Watcher } from 'etcd3';
import type * as RPC from 'etcd3/lib/rpc.js';
import { BaseDatastore, kindGuardError, preconditionError, stamp } from './base.js';
import {
  BatchTooLargeError,
  CompactedError,
  ConflictError,
  DatastoreError,
  DatastoreTimeoutError,
  EVERY_NODE,
  type CommitRequest,
  type NodeOwnedKind,
  type CommitResult,
  type KindGuard,
  type NodeFilter,
  type Precondition,
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

import { ETCD_DEFAULT_MAX_TXN_OPS, ETCD_PREFIX } from './etcd-constants.js';
import { acquireHostLock } from './host-lock.js';
import { indexNodeOf, NODE_INDEXED_KINDS } from './node-index.js';

export { ETCD_DEFAULT_MAX_TXN_OPS, ETCD_PREFIX };

export interface EtcdTlsOptions {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

export interface EtcdOptions extends EtcdTlsOptions {
  /** Match the cluster's --max-txn-ops if it was raised. */
  maxTxnOps?: number;
  dialTimeoutMs?: number;
  /** Deadline of every call (default 5 s): a silent endpoint fails the call instead of hanging it. */
  callTimeoutMs?: number;
}

export const ETCD_DEFAULT_CALL_TIMEOUT_MS = 5_000;

function readTlsFile(field: 'ca' | 'cert' | 'key', file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new DatastoreError(`etcd TLS: ${field}=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Says which side of a failed TLS handshake is wrong; grpc's own message only quotes OpenSSL. */
function tlsHint(message: string, caFile: string | undefined): string | undefined {
  if (/alert (bad certificate|certificate required|unknown ca)|alert number (42|48|116)/i.test(message)) {
    return 'etcd refused our client certificate: none was given, or it is not signed by a CA in etcd\'s --trusted-ca-file (set cert= and key= in the datastore URL)';
  }
  if (/unable to verify|self[- ]signed|unable to get (local )?issuer|certificate verify failed/i.test(message)) {
    return `etcd's server certificate does not chain to the CA in ca=${caFile ?? '(none)'}`;
  }
  if (/does not match|altnames|subjectAltName/i.test(message)) {
    return "etcd's server certificate does not name the address dialled (subjectAltName)";
  }
  if (/wrong version number|packet length too long|http\/1/i.test(message)) {
    return 'the endpoint does not speak TLS (use etcd:// for a plaintext etcd)';
  }
  return undefined;
}

function keyOf(kind: string, name: string): string {
  return `${ETCD_PREFIX}${kind}/${name}`;
}

/**
 * A second key per record of an indexed kind (WorkloadEndpoints by audience, IPAMBlocks and BlockAffinities by
 * owner), under its node, written in the same txn as the resource (same value, same mod_revision): one node's
 * agent lists and watches only its own endpoints, and IPAM reads only its node's blocks, so a pod or a block of
 * another node costs it nothing. A move to another node deletes the old node's key in the same txn.
 */
const BY_NODE_PREFIX = `${ETCD_PREFIX}.by-node/`;

function indexKeyPrefix(node: string, kind: StoredKind): string {
  return `${BY_NODE_PREFIX}${node}/${kind}/`;
}

const INDEXED: ReadonlySet<string> = new Set<string>(NODE_INDEXED_KINDS);

/**
 * Present once every record of every indexed kind has its node key: stores from before the index (or from the
 * version that indexed WorkloadEndpoints only) get it on first use. Outside BY_NODE_PREFIX, so it is never
 * counted as an index key.
 */
const NODE_INDEX_MARKER = `${ETCD_PREFIX}.node-index-complete`;
/** What the version that indexed WorkloadEndpoints only wrote; kept up to date for processes of that version. */
const LEGACY_ENDPOINT_INDEX_MARKER = `${BY_NODE_PREFIX}.indexed`;

/** Guarded retries of a commit whose only conflict was a concurrent move of a record's index key. */
const INDEX_RETRIES = 16;

/**
 * How long a transaction that asked to hold the write lock waits for this host's lock on the store before it runs
 * without (as SQLite's busy timeout does).
 */
const HOST_LOCK_WAIT_MS = 10_000;

/** Records of the indexed kinds last read by this client, kept so that a commit need not read them again. */
const RECENT_READS = 256;

/**
 * Range reads are paged so that no response nears gRPC's 4 MiB receive limit whatever the cluster size: each
 * page asks for as many keys as fit this many bytes at the largest key-value seen so far in the read.
 */
const PAGE_TARGET_BYTES = 1 << 20;
/** Keys of the first page of a read (nothing is known yet of the sizes), and the most any page asks for. */
const FIRST_PAGE_KEYS = 64;
const MAX_PAGE_KEYS = 10_000;
/** Headroom over the paging target for a page of unexpectedly large values (etcd caps a value at 1.5 MiB). */
const MAX_RECEIVE_BYTES = 16 << 20;
/** A paged read whose revision was compacted while paging starts again at the newest revision this often. */
const COMPACTED_READ_RETRIES = 3;

function decode<T extends StoredResource>(kv: RPC.IKeyValue): T {
  const resource = JSON.parse(kv.value.toString('utf8')) as T;
  // Set on the just-parsed object, not spread into a copy: V8 gave each spread copy a hidden class of its own
  // (25,000 of them, over 10 MB, in an agent's cache at issue #12's scale).
  resource.metadata.resourceVersion = kv.mod_revision;
  return resource;
}

function encode(resource: StoredResource): Buffer {
  const { resourceVersion: _omitted, ...metadata } = resource.metadata;
  return Buffer.from(JSON.stringify({ ...resource, metadata }), 'utf8');
}

/** The end of etcd's range holding every key that starts with prefix. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function isCompactedError(err: unknown): boolean {
  return /compacted/i.test((err as Error)?.message ?? '');
}

/** Where the resources of one kind live, for a node filter: WorkloadEndpoints of a node under its own prefix. */
function rangePrefixes(kind: StoredKind, filter: NodeFilter): string[] {
  return filter.node !== undefined && kind === 'WorkloadEndpoint'
    ? [indexKeyPrefix(filter.node, kind), indexKeyPrefix(EVERY_NODE, kind)]
    : [keyOf(kind, '')];
}

/** etcd's count of the keys under each prefix, all in one txn (one revision). */
function countOps(prefixes: readonly string[]): RPC.IRequestOp[] {
  return prefixes.map((prefix) => {
    const key = Buffer.from(prefix);
    return { request_range: { key, range_end: prefixEnd(key), count_only: true } };
  });
}

/** One compare per distinct condition: a precondition and an index guard on one key at one version are one. */
function distinctCompares(compares: RPC.ICompare[]): RPC.ICompare[] {
  const seen = new Map<string, RPC.ICompare>();
  for (const c of compares) {
    const sig = [c.key?.toString(), c.range_end?.toString(), c.target, c.result, c.version, c.mod_revision].join('\u0000');
    if (!seen.has(sig)) seen.set(sig, c);
  }
  return [...seen.values()];
}

function compareFor(pre: Precondition): RPC.ICompare {
  const key = Buffer.from(keyOf(pre.kind, pre.name));
  if (pre.expect === 'absent') return { key, target: 'Version', result: 'Equal', version: 0 };
  if (pre.expect === 'present') return { key, target: 'Version', result: 'Greater', version: 0 };
  return { key, target: 'Mod', result: 'Equal', mod_revision: pre.expect.resourceVersion };
}

/** No key of the kind created or modified after the revision (etcd compares cannot see deletions). */
function kindCompare(g: KindGuard): RPC.ICompare {
  const prefix = Buffer.from(keyOf(g.kind, ''));
  const rangeEnd = Buffer.from(prefix);
  rangeEnd[rangeEnd.length - 1]++;
  return { key: prefix, range_end: rangeEnd, target: 'Mod', result: 'Less', mod_revision: String(g.unchangedSince + 1) };
}

export class EtcdDatastore extends BaseDatastore {
  private readonly client: Etcd3;
  private readonly maxTxnOps: number;
  private readonly hosts: string[];
  private readonly caFile?: string;
  private readonly callTimeoutMs: number;
  private readonly watchers = new Set<{ cancel(): Promise<void> }>();
  /** The per-node index is known complete (or being completed by this process): see ensureNodeIndex. */
  private nodeIndex?: Promise<void>;
  /** This process's turn at the host lock (see transact), and whether the running code holds it. */
  private hostLockTurn?: Promise<void>;
  private readonly hostLockHolder = new AsyncLocalStorage<boolean>();
  /**
   * The last version of each record of an indexed kind this client read (get, listOwnedBy), by key: a commit
   * guarded on that very version (an allocation rewriting the block it read) plans the record's index from it
   * instead of reading it again, one round trip fewer while fifty ADDs wait their turn.
   */
  private readonly recentReads = new Map<string, StoredResource>();

  constructor(
    readonly url: string,
    hosts: string[],
    opts: EtcdOptions = {},
  ) {
    super();
    this.maxTxnOps = opts.maxTxnOps ?? ETCD_DEFAULT_MAX_TXN_OPS;
    this.hosts = hosts;
    this.caFile = opts.caFile;
    this.callTimeoutMs = opts.callTimeoutMs ?? ETCD_DEFAULT_CALL_TIMEOUT_MS;
    const options: IOptions = {
      hosts,
      dialTimeout: opts.dialTimeoutMs ?? 5_000,
      // gRPC's own deadline on every unary call (streams such as watches live on); rpc() bounds retries too.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs }),
      grpcOptions: { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES },
    };
    if (opts.caFile) {
      if (!!opts.certFile !== !!opts.keyFile) {
        throw new DatastoreError(
          `etcd TLS: cert= and key= go together (a client certificate and its private key); got only ${opts.certFile ? 'cert=' : 'key='}`,
        );
      }
      options.credentials = {
        rootCertificate: readTlsFile('ca', opts.caFile),
        privateKey: opts.keyFile ? readTlsFile('key', opts.keyFile) : undefined,
        certChain: opts.certFile ? readTlsFile('cert', opts.certFile) : undefined,
      };
    }
    this.client = new Etcd3(options);
  }

  private timeoutError(): DatastoreTimeoutError {
    const endpoint = this.hosts.join(',');
    return new DatastoreTimeoutError(
      `etcd at ${endpoint} did not answer within ${this.callTimeoutMs} ms (is it an etcd endpoint, reachable and healthy?)`,
      endpoint,
      this.callTimeoutMs,
    );
  }

  /**
   * Every etcd round trip goes through here: it has a deadline (the client's retries included), and a refused
   * TLS handshake says which side is wrong.
   */
  private async rpc<T>(call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.timeoutError()), this.callTimeoutMs);
    });
    try {
      return await Promise.race([call(), deadline]);
    } catch (err) {
      if (err instanceof DatastoreTimeoutError) throw err;
      const message = (err as Error).message ?? String(err);
      if (/deadline exceeded/i.test(message)) throw this.timeoutError();
      const hint = this.caFile ? tlsHint(message, this.caFile) : undefined;
      if (hint) throw new DatastoreError(`etcd at ${this.hosts.join(',')}: TLS connection failed: ${hint} (${message})`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async get<K extends StoredKind>(kind: K, name: string): Promise<StoredOf<K> | undefined> {
    const res = await this.rpc(() => this.client.get(keyOf(kind, name)).exec());
    const kv = res.kvs[0];
    return kv ? this.remember(decode<StoredOf<K>>(kv)) : undefined;
  }

  private remember<T extends StoredResource>(resource: T): T {
    if (!INDEXED.has(resource.kind)) return resource;
    const key = keyOf(resource.kind, resource.metadata.name);
    this.recentReads.delete(key);
    // A copy: what the caller does to its own object must not change what is known of the store.
    this.recentReads.set(key, structuredClone(resource));
    if (this.recentReads.size > RECENT_READS) this.recentReads.delete(this.recentReads.keys().next().value!);
    return resource;
  }

  async list<K extends StoredKind>(kind: K, filter: NodeFilter = {}): Promise<StoredOf<K>[]> {
    return (await this.snapshot([kind], filter)).items as StoredOf<K>[];
  }

  async snapshot(kinds: readonly StoredKind[], filter: NodeFilter = {}): Promise<Snapshot> {
    if (filter.node !== undefined && kinds.includes('WorkloadEndpoint')) await this.ensureNodeIndex();
    const prefixes = kinds.flatMap((kind) => rangePrefixes(kind, filter));
    // Decoded page by page: the raw pages (and the gRPC buffers under them) are let go as they are read.
    const { revision, kvs } = await this.readPrefixes(prefixes, { each: (kv) => decode(kv) });
    return { revision, items: kvs };
  }

  /** Only the node's index range: paged, at one revision, O(the node's records) whatever the cluster's size. */
  override async listOwnedBy<K extends NodeOwnedKind>(kind: K, node: string): Promise<StoredOf<K>[]> {
    await this.ensureNodeIndex();
    const { kvs } = await this.readPrefixes([indexKeyPrefix(node, kind)]);
    return kvs.map((kv) => this.remember(decode<StoredOf<K>>(kv)));
  }

  /**
   * Every key under the prefixes, in pages, all read at one revision (the first page's): the result is a
   * consistent snapshot a watch can continue from. Each page is one call with its own deadline. A revision
   * compacted while paging restarts the read at the newest revision.
   */
  private async readPrefixes<T = RPC.IKeyValue>(
    prefixes: readonly string[],
    opts: { keysOnly?: boolean; each?: (kv: RPC.IKeyValue) => T } = {},
  ): Promise<{ revision: number; kvs: T[] }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.readPrefixesOnce(prefixes, opts);
      } catch (err) {
        if (!isCompactedError(err)) throw err;
        if (attempt >= COMPACTED_READ_RETRIES) {
          throw new CompactedError(`${this.url}: every read of ${prefixes.join(', ')} was compacted while paging (${(err as Error).message})`);
        }
      }
    }
  }

  private async readPrefixesOnce<T>(
    prefixes: readonly string[],
    opts: { keysOnly?: boolean; each?: (kv: RPC.IKeyValue) => T },
  ): Promise<{ revision: number; kvs: T[] }> {
    const kvs: T[] = [];
    const each = opts.each ?? ((kv: RPC.IKeyValue) => kv as T);
    let revision: string | undefined;
    let limit = FIRST_PAGE_KEYS;
    let largest = 1;
    for (const prefix of prefixes) {
      const end = prefixEnd(Buffer.from(prefix));
      let key = Buffer.from(prefix);
      for (;;) {
        const from = key;
        const res = await this.rpc(() =>
          this.client.kv.range({ key: from, range_end: end, limit, revision, keys_only: opts.keysOnly === true }),
        );
        revision ??= res.header.revision;
        for (const kv of res.kvs) {
          kvs.push(each(kv));
          largest = Math.max(largest, kv.key.length + kv.value.length);
        }
        limit = Math.max(1, Math.min(MAX_PAGE_KEYS, Math.floor(PAGE_TARGET_BYTES / largest)));
        const last = res.kvs[res.kvs.length - 1];
        if (!res.more || !last) break;
        // The next page starts just after the last key read.
        key = Buffer.concat([last.key, Buffer.from([0])]);
      }
    }
    if (revision === undefined) revision = String(await this.revision());
    return { revision: Number(revision), kvs };
  }

  /** Once per process: the index is complete, or made so before the first read that relies on it. */
  private ensureNodeIndex(): Promise<void> {
    this.nodeIndex ??= this.completeNodeIndex().catch((err: unknown) => {
      this.nodeIndex = undefined; // the next read tries again
      throw err;
    });
    return this.nodeIndex;
  }

  /**
   * A store written before the per-node index (or before it covered IPAM's kinds) has records without their
   * node key: index them once, then mark the store as indexed. Which ones lack a key is found from key-only
   * reads; only those are read whole and written, each guarded by its mod_revision (a concurrent write, which
   * indexes the record itself, wins).
   */
  private async completeNodeIndex(): Promise<void> {
    const marker = await this.rpc(() => this.client.get(NODE_INDEX_MARKER).exec());
    if (marker.kvs.length > 0) return;
    if (!(await this.everyRecordHasOneIndexKey())) {
      const resourcePrefixes = NODE_INDEXED_KINDS.map((kind) => keyOf(kind, ''));
      // Both key sets at one revision: a record written meanwhile is either in both or in neither.
      const { kvs: keys } = await this.readPrefixes([BY_NODE_PREFIX, ...resourcePrefixes], { keysOnly: true });
      const indexed = new Set<string>();
      const resourceKeys: Buffer[] = [];
      for (const kv of keys) {
        const key = kv.key.toString('utf8');
        if (key.startsWith(BY_NODE_PREFIX)) {
          // <node>/<kind>/<name>; markers have no slash.
          const [, kind, name, extra] = key.slice(BY_NODE_PREFIX.length).split('/');
          if (name !== undefined && extra === undefined) indexed.add(`${kind}/${name}`);
        } else if (!indexed.has(key.slice(ETCD_PREFIX.length))) {
          resourceKeys.push(kv.key);
        }
      }
      // The index prefix is read first: `indexed` is complete before any resource key is looked up in it.
      const perTxn = Math.max(1, Math.floor(this.maxTxnOps / 2));
      for (let i = 0; i < resourceKeys.length; i += perTxn) await this.indexRecords(resourceKeys.slice(i, i + perTxn));
    }
    await this.rpc(() =>
      this.client.kv.txn({
        compare: [],
        success: [NODE_INDEX_MARKER, LEGACY_ENDPOINT_INDEX_MARKER].map((key) => ({ request_put: { key: Buffer.from(key), value: Buffer.from('1') } })),
        failure: [],
      }),
    );
  }

  /**
   * As many index keys as records of the indexed kinds, counted at one revision (etcd sends counts, not keys):
   * a store every write of which went through the index (each record has exactly one node key) needs no key diff.
   */
  private async everyRecordHasOneIndexKey(): Promise<boolean> {
    const resourcePrefixes = NODE_INDEXED_KINDS.map((kind) => keyOf(kind, ''));
    const res = await this.rpc(() =>
      this.client.kv.txn({
        compare: [],
        success: [...countOps(resourcePrefixes), ...countOps([BY_NODE_PREFIX]), { request_range: { key: Buffer.from(LEGACY_ENDPOINT_INDEX_MARKER), count_only: true } }],
        failure: [],
      }),
    );
    const counts = res.responses.map((r) => Number(r.response_range?.count ?? 0));
    const records = counts.slice(0, resourcePrefixes.length).reduce((a, b) => a + b, 0);
    const [byNode, legacyMarker] = counts.slice(resourcePrefixes.length);
    return records === byNode - legacyMarker;
  }

  /**
   * Writes the node keys of up to maxTxnOps / 2 records, each only if unchanged since read. The record is
   * written again with its own value beside its node key, so that both carry one mod_revision: a version read
   * through the index is the record's version (IPAM guards its commits with it).
   */
  private async indexRecords(keys: Buffer[]): Promise<void> {
    const read = await this.rpc(() =>
      this.client.kv.txn({ compare: [], success: keys.map((key) => ({ request_range: { key } })), failure: [] }),
    );
    const planned: { compare: RPC.ICompare; puts: RPC.IRequestOp[] }[] = [];
    for (const r of read.responses) {
      const kv = r.response_range?.kvs?.[0];
      if (!kv) continue; // deleted since the key-only read
      const resource = decode(kv);
      const node = indexNodeOf(resource);
      if (node === undefined) continue;
      planned.push({
        compare: { key: kv.key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision },
        puts: [
          { request_put: { key: kv.key, value: kv.value } },
          { request_put: { key: Buffer.from(`${indexKeyPrefix(node, resource.kind)}${resource.metadata.name}`), value: kv.value } },
        ],
      });
    }
    if (planned.length === 0) return;
    const all = await this.rpc(() =>
      this.client.kv.txn({ compare: planned.map((p) => p.compare), success: planned.flatMap((p) => p.puts), failure: [] }),
    );
    if (all.succeeded) return;
    // Some record was written meanwhile (its writer indexed it): index the others one by one.
    for (const p of planned) {
      await this.rpc(() => this.client.kv.txn({ compare: [p.compare], success: p.puts, failure: [] }));
    }
  }

  /**
   * With holdWriteLock, the transaction runs holding a lock shared by this host's processes on this store (etcd
   * has no lock of its own to hold): fifty ADDs of one node, which all rewrite the node's block, then commit once
   * each, in turn, instead of re-running on conflicts until their deadlines pass. Other hosts' writers are not
   * held back, so the optimistic retry still guards every commit.
   */
  override async transact<T>(fn: (tx: Txn) => Promise<T>, opts: TransactOptions = {}): Promise<T> {
    if (!opts.holdWriteLock || this.hostLockHolder.getStore()) return super.transact(fn, opts);
    // The index check is a read of its own: done before the turn, not while others wait.
    await this.ensureNodeIndex();
    while (this.hostLockTurn) await this.hostLockTurn;
    let endTurn!: () => void;
    this.hostLockTurn = new Promise((r) => (endTurn = r));
    try {
      const release = await acquireHostLock(`etcd-${this.storeId()}`, HOST_LOCK_WAIT_MS);
      try {
        return await this.hostLockHolder.run(true, () => super.transact(fn, opts));
      } finally {
        await release?.();
      }
    } finally {
      this.hostLockTurn = undefined;
      endTurn();
    }
  }

  /** Names the store for the host lock: the same endpoints, in any order, are the same store. */
  private storeId(): string {
    return createHash('sha256').update([...this.hosts].sort().join(',')).digest('hex').slice(0, 16);
  }

  async revision(): Promise<number> {
    const res = await this.rpc(() => this.client.get(ETCD_PREFIX).exec());
    return Number(res.header.revision);
  }

  protected async commitChecked(req: CommitRequest): Promise<CommitResult> {
    const biggest = Math.max(req.preconditions.length + (req.kindGuards?.length ?? 0), req.writes.length);
    if (biggest > this.maxTxnOps) {
      throw new BatchTooLargeError(
        `a batch of ${biggest} operations exceeds etcd's limit of ${this.maxTxnOps} per transaction ` +
          `(--max-txn-ops) at ${this.url}; it cannot be applied atomically, so nothing was applied. ` +
          `Split it into several applies, or raise --max-txn-ops on the etcd cluster and the maxTxnOps option.`,
      );
    }
    for (let attempt = 0; ; attempt++) {
      const result = await this.commitOnce(req);
      if (result) return result;
      if (attempt >= INDEX_RETRIES) {
        throw new ConflictError(`commit to ${this.url}: records kept changing node while being written; try again`);
      }
    }
  }

  /** One txn; undefined when only the guard of a record's node index failed (the caller retries). */
  private async commitOnce(req: CommitRequest): Promise<CommitResult | undefined> {
    const existing = await this.readExisting(req);
    const success: RPC.IRequestOp[] = [];
    /** Each record of an indexed kind written, at the version its node index was planned from. */
    const guards: { key: string; modRevision: string | undefined }[] = [];
    const stampedWithoutVersion: StoredResource[] = [];
    const deleteKey = (key: string) => success.push({ request_delete_range: { key: Buffer.from(key) } });
    for (const w of req.writes) {
      const kind = w.op === 'delete' ? w.kind : w.resource.kind;
      const name = w.op === 'delete' ? w.name : w.resource.metadata.name;
      const key = keyOf(kind, name);
      const before = existing.get(key);
      // The node index must follow the resource: guard against a concurrent move between read and txn.
      if (INDEXED.has(kind)) guards.push({ key, modRevision: before?.metadata.resourceVersion });
      const oldNode = indexNodeOf(before);
      if (w.op === 'delete') {
        deleteKey(key);
        if (oldNode !== undefined) deleteKey(`${indexKeyPrefix(oldNode, kind)}${name}`);
        continue;
      }
      const stored = stamp(w.resource, 0, w.resource.metadata.creationTimestamp ? undefined : before?.metadata.creationTimestamp);
      stampedWithoutVersion.push(stored);
      const value = encode(stored);
      success.push({ request_put: { key: Buffer.from(key), value } });
      const newNode = indexNodeOf(stored);
      if (newNode !== undefined) success.push({ request_put: { key: Buffer.from(`${indexKeyPrefix(newNode, kind)}${name}`), value } });
      if (oldNode !== undefined && oldNode !== newNode) deleteKey(`${indexKeyPrefix(oldNode, kind)}${name}`);
    }
    const compare = distinctCompares([
      ...req.preconditions.map(compareFor),
      ...(req.kindGuards ?? []).map(kindCompare),
      ...guards.map(({ key, modRevision }): RPC.ICompare =>
        modRevision === undefined
          ? { key: Buffer.from(key), target: 'Version', result: 'Equal', version: 0 }
          : { key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: modRevision },
      ),
    ]);
    // On failure, the current version of every compared key, to say which precondition failed.
    const compared = [...new Set([...req.preconditions.map((p) => keyOf(p.kind, p.name)), ...guards.map((g) => g.key)])];
    const ops = Math.max(compare.length, success.length, compared.length);
    if (ops > this.maxTxnOps) {
      throw new BatchTooLargeError(
        `a batch needing ${ops} etcd operations (WorkloadEndpoints, IPAMBlocks and BlockAffinities take two: the ` +
          `resource and its node index) exceeds etcd's limit of ${this.maxTxnOps} per transaction (--max-txn-ops) ` +
          `at ${this.url}; nothing was applied.`,
      );
    }
    const res = await this.rpc(() =>
      this.client.kv.txn({
        compare,
        success,
        failure: compared.map((key) => ({ request_range: { key: Buffer.from(key) } })),
      }),
    );
    if (!res.succeeded) {
      const versions = new Map<string, string | undefined>();
      compared.forEach((key, i) => versions.set(key, res.responses[i]?.response_range?.kvs?.[0]?.mod_revision ?? undefined));
      for (const pre of req.preconditions) {
        const err = preconditionError(pre, versions.get(keyOf(pre.kind, pre.name)));
        if (err) throw err;
      }
      // A record changed between the read its node index was planned from and the txn: plan again.
      if (guards.some(({ key, modRevision }) => versions.get(key) !== modRevision)) return undefined;
      const guard = req.kindGuards?.[0];
      throw guard ? kindGuardError(guard, this.url) : new ConflictError(`commit to ${this.url} failed its preconditions`);
    }
    const revision = Number(res.header.revision);
    const written = stampedWithoutVersion.map((r) => ({
      ...r,
      metadata: { ...r.metadata, resourceVersion: String(revision) },
    }));
    return { revision, written };
  }

  /**
   * The stored versions a commit needs, in one read: resources written without a creationTimestamp (it survives
   * updates) and every record of an indexed kind written or deleted (its node index moves with it). A key whose
   * precondition pins it (absent, or a version this client read) is known without reading: the commit happens
   * only if the key still is exactly that.
   */
  private async readExisting(req: CommitRequest): Promise<Map<string, StoredResource>> {
    const out = new Map<string, StoredResource>();
    const keys = new Set<string>();
    const pinned = new Map<string, Precondition['expect']>();
    for (const pre of req.preconditions) pinned.set(keyOf(pre.kind, pre.name), pre.expect);
    const need = (key: string): void => {
      const expect = pinned.get(key);
      if (expect === 'absent') return;
      const known = this.recentReads.get(key);
      if (known && typeof expect === 'object' && known.metadata.resourceVersion === expect.resourceVersion) out.set(key, known);
      else keys.add(key);
    };
    for (const w of req.writes) {
      if (w.op === 'delete') {
        if (INDEXED.has(w.kind)) need(keyOf(w.kind, w.name));
      } else if (!w.resource.metadata.creationTimestamp || INDEXED.has(w.resource.kind)) {
        need(keyOf(w.resource.kind, w.resource.metadata.name));
      }
    }
    if (keys.size === 0) return out;
    const res = await this.rpc(() =>
      this.client.kv.txn({
        compare: [],
        success: [...keys].map((key) => ({ request_range: { key: Buffer.from(key) } })),
        failure: [],
      }),
    );
    res.responses.forEach((r) => {
      const kv = r.response_range?.kvs?.[0];
      if (kv) out.set(kv.key.toString('utf8'), decode(kv));
    });
    return out;
  }

  async watch(
    kinds: readonly StoredKind[],
    onEvent: (ev: WatchEvent) => void,
    opts: WatchOptions = {},
  ): Promise<WatchHandle> {
    const wanted = new Set<string>(kinds);
    const after = opts.afterRevision ?? (await this.revision());
    // One watcher over the whole prefix, or, with a node filter, one per kind (WorkloadEndpoints through the
    // node's index prefix): keys are disjoint, so each key's changes still arrive in revision order.
    const prefixes =
      opts.node !== undefined && wanted.has('WorkloadEndpoint')
        ? kinds.flatMap((k) => rangePrefixes(k, opts))
        : [kinds.length === 1 ? keyOf(kinds[0], '') : ETCD_PREFIX];
    const parse = (key: string): { kind: string; name: string } | undefined => {
      for (const audience of opts.node !== undefined ? [opts.node, EVERY_NODE] : []) {
        const prefix = indexKeyPrefix(audience, 'WorkloadEndpoint');
        if (key.startsWith(prefix)) return { kind: 'WorkloadEndpoint', name: key.slice(prefix.length) };
      }
      if (key.startsWith(BY_NODE_PREFIX)) return undefined;
      const rest = key.slice(ETCD_PREFIX.length);
      const slash = rest.indexOf('/');
      return { kind: rest.slice(0, slash), name: rest.slice(slash + 1) };
    };
    const deliver = (type: 'put' | 'delete', kv: RPC.IKeyValue): void => {
      const ref = parse(kv.key.toString('utf8'));
      if (!ref || !wanted.has(ref.kind)) return;
      onEvent({
        type,
        kind: ref.kind as StoredKind,
        name: ref.name,
        resource: type === 'put' ? decode(kv) : undefined,
        revision: Number(kv.mod_revision),
      });
    };
    const watchers: Watcher[] = [];
    try {
      for (const prefix of prefixes) {
        const watcher = await this.rpc(() => this.client.watch().prefix(prefix).startRevision(String(after + 1)).create());
        watchers.push(watcher);
        watcher.on('put', (kv) => deliver('put', kv));
        watcher.on('delete', (kv) => deliver('delete', kv));
        watcher.on('error', (err) => {
          const compacted = /compact/i.test(String(err?.message));
          opts.onError?.(
            compacted
              ? new CompactedError(`watch position ${after} was compacted in ${this.url}; re-list (${err.message})`)
              : new DatastoreError(`watch on ${this.url} failed: ${err.message}`),
          );
        });
        this.watchers.add(watcher);
      }
    } catch (err) {
      await Promise.allSettled(watchers.map((w) => w.cancel()));
      throw err;
    }
    return {
      close: async () => {
        for (const w of watchers) this.watchers.delete(w);
        await Promise.allSettled(watchers.map((w) => w.cancel()));
      },
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.watchers].map((w) => w.cancel()));
    this.watchers.clear();
    this.client.close();
  }
}
