// etcd v3 backend. Every resource is one key, /bpf-overlay/<kind>/<name>, holding its JSON; the key's
// mod_revision is the resourceVersion (so it is not stored inside the JSON). A commit is one etcd txn:
// compares for the preconditions, puts/deletes on success, and on failure range reads of the compared keys so
// that the error can say which precondition failed without another round trip.
import fs from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import type * as RPC from 'etcd3/lib/rpc.js';
import { BaseDatastore, kindGuardError, preconditionError, stamp } from './base.js';
import {
  BatchTooLargeError,
  CompactedError,
  ConflictError,
  DatastoreError,
  DatastoreTimeoutError,
  type CommitRequest,
  type CommitResult,
  type KindGuard,
  type Precondition,
  type StoredKind,
  type StoredOf,
  type StoredResource,
  type WatchEvent,
  type WatchHandle,
  type WatchOptions,
} from './types.js';

import { ETCD_DEFAULT_MAX_TXN_OPS, ETCD_PREFIX } from './etcd-constants.js';

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

function decode<T extends StoredResource>(kv: RPC.IKeyValue): T {
  const resource = JSON.parse(kv.value.toString('utf8')) as T;
  resource.metadata = { ...resource.metadata, resourceVersion: kv.mod_revision };
  return resource;
}

function encode(resource: StoredResource): Buffer {
  const { resourceVersion: _omitted, ...metadata } = resource.metadata;
  return Buffer.from(JSON.stringify({ ...resource, metadata }), 'utf8');
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
    return kv ? decode<StoredOf<K>>(kv) : undefined;
  }

  async list<K extends StoredKind>(kind: K): Promise<StoredOf<K>[]> {
    const res = await this.rpc(() => this.client.getAll().prefix(keyOf(kind, '')).sort('Key', 'Ascend').exec());
    return res.kvs.map((kv) => decode<StoredOf<K>>(kv));
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
    const createdAt = await this.existingCreationTimes(req);
    const success: RPC.IRequestOp[] = [];
    const stampedWithoutVersion: StoredResource[] = [];
    for (const w of req.writes) {
      if (w.op === 'delete') {
        success.push({ request_delete_range: { key: Buffer.from(keyOf(w.kind, w.name)) } });
        continue;
      }
      const stored = stamp(w.resource, 0, createdAt.get(keyOf(w.resource.kind, w.resource.metadata.name)));
      stampedWithoutVersion.push(stored);
      success.push({ request_put: { key: Buffer.from(keyOf(stored.kind, stored.metadata.name)), value: encode(stored) } });
    }
    const res = await this.rpc(() =>
      this.client.kv.txn({
        compare: [...req.preconditions.map(compareFor), ...(req.kindGuards ?? []).map(kindCompare)],
        success,
        failure: req.preconditions.map((p) => ({ request_range: { key: Buffer.from(keyOf(p.kind, p.name)) } })),
      }),
    );
    if (!res.succeeded) {
      req.preconditions.forEach((pre, i) => {
        const kv = res.responses[i]?.response_range?.kvs?.[0];
        const err = preconditionError(pre, kv ? kv.mod_revision : undefined);
        if (err) throw err;
      });
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

  /** creationTimestamp survives updates; one read when a written resource does not carry it already. */
  private async existingCreationTimes(req: CommitRequest): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    const missing = req.writes.filter(
      (w): w is Extract<typeof w, { op: 'put' }> => w.op === 'put' && !w.resource.metadata.creationTimestamp,
    );
    if (missing.length === 0) return out;
    const res = await this.rpc(() =>
      this.client.kv.txn({
        compare: [],
        success: missing.map((w) => ({
          request_range: { key: Buffer.from(keyOf(w.resource.kind, w.resource.metadata.name)) },
        })),
        failure: [],
      }),
    );
    res.responses.forEach((r) => {
      const kv = r.response_range?.kvs?.[0];
      if (kv) out.set(kv.key.toString('utf8'), decode(kv).metadata.creationTimestamp);
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
    const builder = this.client.watch();
    if (kinds.length === 1) builder.prefix(keyOf(kinds[0], ''));
    else builder.prefix(ETCD_PREFIX);
    const watcher = await this.rpc(() => builder.startRevision(String(after + 1)).create());
    const deliver = (type: 'put' | 'delete', kv: RPC.IKeyValue): void => {
      const rest = kv.key.toString('utf8').slice(ETCD_PREFIX.length);
      const slash = rest.indexOf('/');
      const kind = rest.slice(0, slash);
      if (!wanted.has(kind)) return;
      onEvent({
        type,
        kind: kind as StoredKind,
        name: rest.slice(slash + 1),
        resource: type === 'put' ? decode(kv) : undefined,
        revision: Number(kv.mod_revision),
      });
    };
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
    return {
      close: async () => {
        this.watchers.delete(watcher);
        await watcher.cancel();
      },
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.watchers].map((w) => w.cancel()));
    this.watchers.clear();
    this.client.close();
  }
}
