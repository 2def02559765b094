// SPDX-License-Identifier: Apache-2.0
// SQLite backend: one file shared by every process on a machine (agent, CNI invocations, CLI).
// WAL lets readers run beside the single writer; BEGIN IMMEDIATE takes the write lock up front so that the
// precondition check and the writes of a commit cannot interleave with another process's commit.
// Other processes learn about changes from the `changes` log (an indexed range scan): read when the write-ahead
// log file changes (inotify through fs.watch), and polled as well, for storage where fs.watch says nothing.
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { BaseDatastore, kindGuardError, preconditionError, stamp } from './base.js';
import {
  CompactedError,
  DatastoreError,
  type CommitRequest,
  type CommitResult,
  EVERY_NODE,
  type NodeFilter,
  type NodeOwnedKind,
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
import { indexNodeOf } from './node-index.js';

// Required rather than imported: importing a CommonJS package from ESM scans its source for export names first,
// which every short-lived process (fifty CNI plugins at once) pays for in start-up CPU.
const SqliteDatabase = createRequire(import.meta.url)('better-sqlite3') as typeof Database;

export interface SqliteOptions {
  /**
   * How often watchers look for changes made by other processes when nothing woke them (default 50 ms). A write
   * to the store's write-ahead log wakes them at once where the file system reports changes (fs.watch).
   */
  pollIntervalMs?: number;
  /** How long a writer waits for another process's write lock before failing (default 10 s). */
  busyTimeoutMs?: number;
  /** Change-log entries younger than this are kept for slow watchers (default 10 min). */
  changeRetentionMs?: number;
  /**
   * Open for reading only (the CLI's read commands): nothing is created (no directory, no file, no journal), a
   * store on read-only storage or without write permission can be read, and any write fails.
   */
  readOnly?: boolean;
}

/**
 * The store and its directory are private (0600/0700): resources name every workload and node. Only what this
 * creates gets these modes; an existing directory (say /var/lib) keeps its own. SQLite gives its -wal and -shm
 * files the store file's mode.
 */
function openForWriting(file: string): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return new SqliteDatabase(file);
}

/**
 * Switching a store to WAL needs every other connection out of the way, and SQLite answers SQLITE_BUSY at once
 * there rather than through the busy handler: two processes creating one new store together (two `apply`s, or
 * CNI ADDs on a fresh node) would see "database is locked". Retried here, within the same budget as the handler.
 */
export function whileBusy<T>(step: () => T, budgetMs: number): T {
  const deadline = Date.now() + budgetMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let delayMs = 1; ; delayMs = Math.min(delayMs * 2, 50)) {
    try {
      return step();
    } catch (err) {
      const busy = String((err as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY');
      if (!busy || Date.now() + delayMs > deadline) throw err;
      Atomics.wait(pause, 0, 0, delayMs);
    }
  }
}

function openReadOnly(url: string, file: string): Database.Database {
  if (!fs.existsSync(file)) {
    throw new DatastoreError(`datastore ${url}: ${file} does not exist (nothing was ever stored there; check --datastore)`);
  }
  // With no write-ahead log beside it (no writer has it open), the file alone is the whole store: reading a copy
  // of it creates nothing, where SQLite would leave a -wal and -shm behind for a read-only connection.
  const quiet = quietImage(file);
  if (quiet) return imageDatabase(url, file, quiet);
  let db: Database.Database | undefined;
  try {
    db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
    // The first read opens the WAL index (-shm): without write access to it or to the directory, it fails here.
    db.pragma('schema_version');
    return db;
  } catch (err) {
    db?.close();
    const code = String((err as { code?: unknown }).code ?? '');
    if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN')) return openSnapshot(url, file, err as Error);
    throw new DatastoreError(`datastore ${url}: cannot open ${file} for reading (${(err as Error).message})`);
  }
}

function walHoldsCommits(file: string): boolean {
  const wal = `${file}-wal`;
  return fs.existsSync(wal) && fs.statSync(wal).size > 0;
}

/** The store file's bytes when no write-ahead log holds commits before, during and after the read; else undefined. */
function quietImage(file: string): Buffer | undefined {
  if (walHoldsCommits(file)) return undefined;
  const before = fs.statSync(file).mtimeMs;
  const image = fs.readFileSync(file);
  if (walHoldsCommits(file) || fs.statSync(file).mtimeMs !== before) return undefined;
  return image;
}

function imageDatabase(url: string, file: string, image: Buffer): Database.Database {
  // Header bytes 18-19 say "WAL" (2); an in-memory copy has no log, so it reads as a rollback-journal file (1).
  if (image.length >= 20 && image[18] === 2 && image[19] === 2) image[18] = image[19] = 1;
  try {
    return new SqliteDatabase(image, { readonly: true });
  } catch (err) {
    throw new DatastoreError(`datastore ${url}: cannot open ${file} for reading (${(err as Error).message})`);
  }
}

/**
 * A store this process may read but not lock (read-only storage, another user's 0644 file in a 0755 directory)
 * can be read from a copy of its file only when no write-ahead log holds newer commits.
 */
function openSnapshot(url: string, file: string, cause: Error): Database.Database {
  const image = quietImage(file);
  if (image) return imageDatabase(url, file, image);
  throw new DatastoreError(
    `datastore ${url}: cannot read ${file}: its write-ahead log ${file}-wal holds recent commits and this process ` +
      `may not open the shared index beside it (${cause.message}); read it as the store's owner`,
  );
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  json TEXT NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  node TEXT,
  PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
  revision INTEGER NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('put', 'delete')),
  json TEXT,
  at_ms INTEGER NOT NULL,
  node TEXT,
  prev_node TEXT,
  PRIMARY KEY (revision, kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);
`;

/**
 * WorkloadEndpoints carry their audience in a column of their own (resources.node, and changes.node/prev_node
 * for a change of audience): their node, or EVERY_NODE for one that allows spoofed source prefixes (every node
 * accepts those from its node), so that one node's agent lists and watches only what concerns it. Stores made
 * before the column existed get it, filled from the JSON, the first time they are opened for writing.
 */
const NODE_INDEX = 'resources_by_node';
const NODE_COLUMNS = `
CREATE INDEX IF NOT EXISTS ${NODE_INDEX} ON resources (kind, node, name) WHERE node IS NOT NULL;
`;

const AUDIENCE_FROM_JSON = `CASE WHEN kind <> 'WorkloadEndpoint' THEN NULL
  WHEN COALESCE(json_array_length(json, '$.spec.allowSpoofedSourcePrefixes'), 0) > 0 THEN '${EVERY_NODE}'
  ELSE json_extract(json, '$.spec.node') END`;

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

function hasIndex(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?").get(name) !== undefined;
}

function migrateNodeColumns(db: Database.Database): void {
  if (!hasColumn(db, 'resources', 'node')) {
    db.exec('ALTER TABLE resources ADD COLUMN node TEXT');
    db.exec(`UPDATE resources SET node = ${AUDIENCE_FROM_JSON} WHERE kind = 'WorkloadEndpoint'`);
  }
  if (!hasColumn(db, 'changes', 'node')) db.exec('ALTER TABLE changes ADD COLUMN node TEXT');
  if (!hasColumn(db, 'changes', 'prev_node')) db.exec('ALTER TABLE changes ADD COLUMN prev_node TEXT');
  db.exec(NODE_COLUMNS);
}

/**
 * IPAMBlocks and BlockAffinities carry their owner (spec.node) in the same column, so that an allocation reads its
 * node's blocks through the index instead of the cluster's. Stores whose records predate this get the column
 * filled once, the first time they are opened for writing (meta 'owners_indexed' says it was done).
 */
const OWNERS_INDEXED = 'owners_indexed';

function migrateOwnerColumn(db: Database.Database): void {
  db.prepare(`INSERT OR IGNORE INTO meta (key, value) VALUES ('${OWNERS_INDEXED}', 0)`).run();
  if ((db.prepare(`SELECT value FROM meta WHERE key = '${OWNERS_INDEXED}'`).get() as { value: number }).value === 1) return;
  db.exec(`UPDATE resources SET node = json_extract(json, '$.spec.node') WHERE kind IN ('IPAMBlock', 'BlockAffinity')`);
  db.exec(`UPDATE meta SET value = 1 WHERE key = '${OWNERS_INDEXED}'`);
}

function ownersIndexed(db: Database.Database): boolean {
  const row = db.prepare(`SELECT value FROM meta WHERE key = '${OWNERS_INDEXED}'`).get() as { value: number } | undefined;
  return row?.value === 1;
}

/** Schema, node columns and owner column are in place (the owner column is the last step of the set-up). */
function setUpByThisVersion(db: Database.Database): boolean {
  try {
    return ownersIndexed(db);
  } catch {
    // No meta table yet: a new store.
    return false;
  }
}

/** SQL condition on the change log (and its parameters) keeping only what a node filter lets through. */
function changesOfNode(filter: NodeFilter): { sql: string; params: string[] } {
  if (filter.node === undefined) return { sql: '1', params: [] };
  return {
    sql: `(kind <> 'WorkloadEndpoint' OR node IN (?, '${EVERY_NODE}') OR prev_node IN (?, '${EVERY_NODE}'))`,
    params: [filter.node, filter.node],
  };
}

/**
 * Calls `onChange` whenever the store's write-ahead log is written (another process committed). The directory is
 * watched, not the file: SQLite may delete and re-create the log. Undefined where the file system cannot report
 * changes (or inotify watches ran out): the watcher's poll alone then finds the changes.
 */
function watchWriteAheadLog(file: string, onChange: () => void): fs.FSWatcher | undefined {
  const wal = `${path.basename(file)}-wal`;
  try {
    const watcher = fs.watch(path.dirname(file), { persistent: false }, (_event, name) => {
      if (name === null || name === wal) onChange();
    });
    watcher.on('error', () => watcher.close());
    return watcher;
  } catch {
    return undefined;
  }
}

/** After a wake-up that found no commit yet, look again this many times, this far apart (ms). */
const WAKE_RECHECKS = 5;
const WAKE_RECHECK_MS = 2;

/** Trim the change log every this many revisions (cheap: one indexed DELETE). */
const TRIM_EVERY = 256;

interface ChangeRow {
  revision: number;
  kind: string;
  name: string;
  type: 'put' | 'delete';
  json: string | null;
  node: string | null;
}

export class SqliteDatastore extends BaseDatastore {
  private readonly db: Database.Database;
  private readonly pollIntervalMs: number;
  private readonly retentionMs: number;
  private readonly watches = new Set<{ stop(): void; wake(): void }>();
  private closed = false;
  private readonly readOnly: boolean;
  /** Settles when this process's locked transaction ends; its own commits run inside `lockHolder`. */
  private locked: Promise<void> | undefined;
  private readonly lockHolder = new AsyncLocalStorage<true>();

  private readonly stmts: {
    get: Database.Statement<
      [string, string],
      { json: string; mod_revision: number; create_revision: number; node: string | null }
    >;
    list: Database.Statement<[string], { json: string }>;
    listOfNode: Database.Statement<[string, string], { json: string }>;
    listOwned: Database.Statement<[string, string], { json: string }>;
    revision: Database.Statement<[], { value: number }>;
    compacted: Database.Statement<[], { value: number }>;
    setMeta: Database.Statement<[number, string]>;
    upsert: Database.Statement<[string, string, string, number, number, string | null]>;
    remove: Database.Statement<[string, string]>;
    logChange: Database.Statement<[number, string, string, string, string | null, number, string | null, string | null]>;
    trim: Database.Statement<[number, number]>;
    maxTrimmed: Database.Statement<[number, number], { m: number | null }>;
    kindChanged: Database.Statement<[number, string], { revision: number }>;
  };

  constructor(
    readonly url: string,
    readonly file: string,
    opts: SqliteOptions = {},
  ) {
    super();
    this.pollIntervalMs = opts.pollIntervalMs ?? 50;
    this.retentionMs = opts.changeRetentionMs ?? 10 * 60_000;
    this.readOnly = opts.readOnly ?? false;
    this.db = opts.readOnly ? openReadOnly(url, file) : openForWriting(file);
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
    // SQLite's own default page cache (2 MiB) rather than better-sqlite3's 16 MiB: an agent reads the store in
    // full once at start and then only the change log, so a large cache is resident memory that buys nothing.
    this.db.pragma('cache_size = -2000');
    if (!opts.readOnly) {
      whileBusy(() => this.db.pragma('journal_mode = WAL'), opts.busyTimeoutMs ?? 10_000);
      // NORMAL is durable across process crashes in WAL mode; only a power loss can drop the last commits.
      this.db.pragma('synchronous = NORMAL');
      // A store this version already set up is only read here: the write lock is taken only to create or migrate,
      // so that fifty CNI ADDs starting at once do not queue for it just to open the store.
      if (!setUpByThisVersion(this.db)) {
        this.db
          .transaction(() => {
            this.db.exec(SCHEMA);
            migrateNodeColumns(this.db);
            migrateOwnerColumn(this.db);
          })
          .immediate();
      }
    }
    this.stmts = this.prepareStatements(url, file);
  }

  private prepareStatements(url: string, file: string): SqliteDatastore['stmts'] {
    try {
      return this.prepareAll();
    } catch (err) {
      this.db.close();
      throw new DatastoreError(`datastore ${url}: ${file} is not a bpf-overlay store (${(err as Error).message})`);
    }
  }

  private prepareAll(): SqliteDatastore['stmts'] {
    // A store opened read-only is never migrated: one made before the audience column computes it instead.
    const audience = hasColumn(this.db, 'resources', 'node') ? 'node' : AUDIENCE_FROM_JSON;
    const owner = ownersIndexed(this.db) ? 'node' : "json_extract(json, '$.spec.node')";
    // Without statistics SQLite's planner prefers the primary key (kind, name) and reads every record of the kind
    // (20,000 blocks: 20-90 ms inside IPAM's write lock; 100,000 endpoints: 125 ms) rather than the node's few.
    const byNode = hasIndex(this.db, NODE_INDEX) ? `resources INDEXED BY ${NODE_INDEX}` : 'resources';
    return {
      get: this.db.prepare(
        `SELECT json, mod_revision, create_revision, ${audience} AS node FROM resources WHERE kind = ? AND name = ?`,
      ),
      list: this.db.prepare('SELECT json FROM resources WHERE kind = ? ORDER BY name'),
      listOfNode: this.db.prepare(
        `SELECT json FROM ${audience === 'node' ? byNode : 'resources'} WHERE kind = ? AND ${audience} IN (?, '${EVERY_NODE}') ORDER BY name`,
      ),
      listOwned: this.db.prepare(`SELECT json FROM ${owner === 'node' ? byNode : 'resources'} WHERE kind = ? AND ${owner} = ? ORDER BY name`),
      revision: this.db.prepare("SELECT value FROM meta WHERE key = 'revision'"),
      compacted: this.db.prepare("SELECT value FROM meta WHERE key = 'compacted'"),
      setMeta: this.db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
      upsert: this.db.prepare(
        `INSERT INTO resources (kind, name, json, create_revision, mod_revision, node) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, name) DO UPDATE SET json = excluded.json, mod_revision = excluded.mod_revision,
         node = excluded.node`,
      ),
      remove: this.db.prepare('DELETE FROM resources WHERE kind = ? AND name = ?'),
      logChange: this.db.prepare(
        'INSERT INTO changes (revision, kind, name, type, json, at_ms, node, prev_node) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      trim: this.db.prepare('DELETE FROM changes WHERE at_ms < ? AND revision <= ?'),
      maxTrimmed: this.db.prepare('SELECT MAX(revision) AS m FROM changes WHERE at_ms < ? AND revision <= ?'),
      kindChanged: this.db.prepare('SELECT revision FROM changes WHERE revision > ? AND kind = ? LIMIT 1'),
    };
  }

  async get<K extends StoredKind>(kind: K, name: string): Promise<StoredOf<K> | undefined> {
    const row = this.stmts.get.get(kind, name);
    return row ? (JSON.parse(row.json) as StoredOf<K>) : undefined;
  }

  async list<K extends StoredKind>(kind: K, filter: NodeFilter = {}): Promise<StoredOf<K>[]> {
    const rows =
      filter.node !== undefined && kind === 'WorkloadEndpoint'
        ? this.stmts.listOfNode.all(kind, filter.node)
        : this.stmts.list.all(kind);
    return rows.map((r) => JSON.parse(r.json) as StoredOf<K>);
  }

  override async listOwnedBy<K extends NodeOwnedKind>(kind: K, node: string): Promise<StoredOf<K>[]> {
    return this.stmts.listOwned.all(kind, node).map((r) => JSON.parse(r.json) as StoredOf<K>);
  }

  async snapshot(kinds: readonly StoredKind[], filter: NodeFilter = {}): Promise<Snapshot> {
    // One read transaction: the revision is exactly the one the rows were read at.
    const read = this.db.transaction(() => {
      const items: StoredResource[] = [];
      for (const kind of kinds) {
        // Row by row: the rows' JSON texts are never all held at once (tens of MB at issue #12's scale).
        const rows =
          filter.node !== undefined && kind === 'WorkloadEndpoint'
            ? this.stmts.listOfNode.iterate(kind, filter.node)
            : this.stmts.list.iterate(kind);
        for (const r of rows) items.push(JSON.parse(r.json) as StoredResource);
      }
      return { revision: this.stmts.revision.get()!.value, items };
    });
    return read.deferred();
  }

  async revision(): Promise<number> {
    return this.stmts.revision.get()!.value;
  }

  protected async commitChecked(req: CommitRequest): Promise<CommitResult> {
    // Another write of this process waits while a locked transaction is open (it would join it). What follows the
    // loop runs without yielding, so nothing can open one in between.
    while (this.locked && !this.lockHolder.getStore()) await this.locked;
    const run = this.db.transaction((): CommitResult => {
      for (const pre of req.preconditions) {
        const row = this.stmts.get.get(pre.kind, pre.name);
        const err = preconditionError(pre, row ? String(row.mod_revision) : undefined);
        if (err) throw err;
      }
      for (const g of req.kindGuards ?? []) {
        // A guard older than the trimmed log cannot be checked, so it fails (the transaction re-runs, newer).
        const unknowable = this.stmts.compacted.get()!.value > g.unchangedSince;
        if (unknowable || this.stmts.kindChanged.get(g.unchangedSince, g.kind)) throw kindGuardError(g, this.url);
      }
      const revision = this.stmts.revision.get()!.value + 1;
      const now = Date.now();
      const written: StoredResource[] = [];
      for (const w of req.writes) {
        if (w.op === 'delete') {
          const gone = this.stmts.get.get(w.kind, w.name);
          if (this.stmts.remove.run(w.kind, w.name).changes > 0) {
            this.stmts.logChange.run(revision, w.kind, w.name, 'delete', null, now, gone?.node ?? null, null);
          }
          continue;
        }
        const { kind, metadata } = w.resource;
        const existing = this.stmts.get.get(kind, metadata.name);
        const createdAt = existing ? (JSON.parse(existing.json) as StoredResource).metadata.creationTimestamp : undefined;
        const stored = stamp(w.resource, revision, createdAt);
        const json = JSON.stringify(stored);
        const node = indexNodeOf(stored) ?? null;
        const previousNode = existing?.node !== undefined && existing.node !== node ? existing.node : null;
        this.stmts.upsert.run(kind, metadata.name, json, existing?.create_revision ?? revision, revision, node);
        this.stmts.logChange.run(revision, kind, metadata.name, 'put', json, now, node, previousNode);
        written.push(stored);
      }
      this.stmts.setMeta.run(revision, 'revision');
      if (revision % TRIM_EVERY === 0) this.trimChanges(now, revision);
      return { revision, written };
    });
    const result = run.immediate();
    // This process's own watchers need no file-system event to learn of its commits.
    for (const w of this.watches) w.wake();
    return result;
  }

  override async transact<T>(fn: (tx: Txn) => Promise<T>, opts: TransactOptions = {}): Promise<T> {
    if (!opts.holdWriteLock || this.readOnly || this.lockHolder.getStore()) return super.transact(fn, opts);
    // One locked transaction per process at a time; the check and BEGIN run without yielding in between.
    while (this.locked) await this.locked;
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      // Not had within the busy timeout: the optimistic way still gets there, only with re-runs.
      if (String((err as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY')) return super.transact(fn, opts);
      throw err;
    }
    let release!: () => void;
    this.locked = new Promise((r) => (release = r));
    // The reads and the commit (a savepoint inside this transaction) see one state no other process can change,
    // so the commit's preconditions hold and fn runs once.
    try {
      const result = await this.lockHolder.run(true, () => super.transact(fn, opts));
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.locked = undefined;
      release();
    }
  }

  private trimChanges(now: number, revision: number): void {
    // Keep at least the last TRIM_EVERY revisions even when old, so a quiet store never empties its log.
    const cutoff = [now - this.retentionMs, revision - TRIM_EVERY] as const;
    const m = this.stmts.maxTrimmed.get(...cutoff)?.m;
    if (m === null || m === undefined) return;
    this.stmts.trim.run(...cutoff);
    this.stmts.setMeta.run(Math.max(m, this.stmts.compacted.get()!.value), 'compacted');
  }

  async watch(
    kinds: readonly StoredKind[],
    onEvent: (ev: WatchEvent) => void,
    opts: WatchOptions = {},
  ): Promise<WatchHandle> {
    if (this.closed) throw new Error(`datastore ${this.url} is closed`);
    const placeholders = kinds.map(() => '?').join(', ');
    const byNode = changesOfNode(opts);
    const poll = this.db.prepare<unknown[], ChangeRow>(
      `SELECT revision, kind, name, type, json, node FROM changes
       WHERE revision > ? AND kind IN (${placeholders}) AND ${byNode.sql}
       ORDER BY revision, kind, name`,
    );
    const readSnapshot = this.db
      .transaction((after: number) => ({
        rows: poll.all(after, ...kinds, ...byNode.params),
        revision: this.stmts.revision.get()!.value,
      }))
      .deferred;
    let last = opts.afterRevision ?? (await this.revision());
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let woken = false;
    const tick = (): void => {
      woken = false;
      if (stopped) return;
      if (timer) clearTimeout(timer);
      timer = undefined;
      let found = 0;
      try {
        if (last < this.stmts.compacted.get()!.value) {
          throw new CompactedError(`watch position ${last} was compacted from the change log of ${this.url}; re-list`);
        }
        // One read snapshot for the rows and the revision, so the position can advance past changes to kinds
        // nobody here watches without skipping any that land meanwhile (a quiet kind must not look compacted).
        // Unbounded on purpose: a LIMIT could cut one revision's batch in half.
        const { rows, revision } = readSnapshot(last);
        found = revision - last;
        for (const row of rows) {
          last = row.revision;
          // A WorkloadEndpoint that moved to another node is gone as far as this node is concerned.
          const movedAway =
            opts.node !== undefined &&
            row.kind === 'WorkloadEndpoint' &&
            row.type === 'put' &&
            row.node !== opts.node &&
            row.node !== EVERY_NODE;
          if (movedAway) {
            onEvent({ type: 'delete', kind: 'WorkloadEndpoint', name: row.name, revision: row.revision });
            continue;
          }
          onEvent({
            type: row.type,
            kind: row.kind as StoredKind,
            name: row.name,
            resource: row.json === null ? undefined : (JSON.parse(row.json) as StoredResource),
            revision: row.revision,
          });
        }
        last = Math.max(last, revision);
      } catch (err) {
        handle.stop();
        opts.onError?.(err as Error);
        return;
      }
      if (stopped) return;
      // A write to the log file comes before its commit is visible (the commit ends in the shared-memory index,
      // which no file-system event reports): a wake that found nothing looks again shortly, a few times.
      const recheck = found <= 0 && recheckAfterWake > 0;
      if (recheck) recheckAfterWake--;
      timer = setTimeout(tick, recheck ? WAKE_RECHECK_MS : this.pollIntervalMs);
    };
    let recheckAfterWake = 0;
    // A burst of writes (several pages per commit) wakes one read, not one per file-system event.
    const wake = (): void => {
      recheckAfterWake = WAKE_RECHECKS;
      if (stopped || woken) return;
      woken = true;
      setImmediate(tick);
    };
    const walWatcher = watchWriteAheadLog(this.file, wake);
    const handle = {
      stop: () => {
        stopped = true;
        walWatcher?.close();
        if (timer) clearTimeout(timer);
      },
      wake,
    };
    this.watches.add(handle);
    timer = setTimeout(tick, 0);
    return {
      close: async () => {
        handle.stop();
        this.watches.delete(handle);
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    this.db.close();
  }
}
