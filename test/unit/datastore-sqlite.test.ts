// SPDX-License-Identifier: Apache-2.0
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DATASTORE_URL,
  openDatastore,
  type WatchEvent,
} from '../../src/control/datastore/index.js';
import { API_VERSION, type OverlayConfiguration } from '../../src/control/model/types.js';
import { datastoreContract } from '../harness/datastore-contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-ds-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SQLite datastore contract', () => {
  const url = `sqlite://${dir}/nested/contract.db`;
  datastoreContract('sqlite', () => url);
});

describe('SQLite datastore specifics', () => {
  it('creates the parent directory and persists across reopen', async () => {
    const file = path.join(dir, 'a/b/c/store.db');
    const ds = await openDatastore(`sqlite://${file}`);
    const cfg: OverlayConfiguration = {
      apiVersion: API_VERSION,
      kind: 'OverlayConfiguration',
      metadata: { name: 'default' },
      spec: { vxlanVNI: 4096 },
    };
    await ds.create(cfg);
    await ds.close();
    const again = await openDatastore(`sqlite://${file}`);
    expect((await again.get('OverlayConfiguration', 'default'))?.spec.vxlanVNI).toBe(4096);
    expect(await again.revision()).toBe(1);
    await again.close();
  });

  it('keeps delivering to a watcher of a quiet kind while other kinds churn past the log trim', async () => {
    const ds = await openDatastore(`sqlite://${dir}/trim.db`, { changeRetentionMs: 0 });
    const seen: WatchEvent[] = [];
    const errors: Error[] = [];
    const watch = await ds.watch(['Node'], (ev) => seen.push(ev), { onError: (e) => errors.push(e) });
    for (let i = 0; i < 600; i++) {
      await ds.put({ apiVersion: API_VERSION, kind: 'OverlayConfiguration', metadata: { name: `c${i % 7}` }, spec: {} });
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 60));
    }
    await ds.create({ apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1' }, spec: {} });
    const deadline = Date.now() + 2_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await watch.close();
    await ds.close();
    expect(errors).toEqual([]);
    expect(seen.map((e) => `${e.type} ${e.kind} ${e.name}`)).toEqual(['put Node n1']);
  });

  it('reports a compacted watch position instead of silently skipping changes', async () => {
    const ds = await openDatastore(`sqlite://${dir}/compact.db`, { changeRetentionMs: 0 });
    for (let i = 0; i < 600; i++) {
      await ds.put({ apiVersion: API_VERSION, kind: 'OverlayConfiguration', metadata: { name: `c${i}` }, spec: {} });
    }
    const error = await new Promise<Error>((resolve) => {
      void ds.watch(['OverlayConfiguration'], () => undefined, { afterRevision: 1, onError: resolve });
    });
    await ds.close();
    expect(error.name).toBe('CompactedError');
    expect(error.message).toMatch(/watch position 1 was compacted/);
  });

  it('gives a store made before per-node keying its node column, filled from the records', async () => {
    const file = path.join(dir, 'old.db');
    const old = new Database(file);
    old.exec(`
      CREATE TABLE resources (kind TEXT NOT NULL, name TEXT NOT NULL, json TEXT NOT NULL, create_revision INTEGER NOT NULL,
        mod_revision INTEGER NOT NULL, PRIMARY KEY (kind, name)) WITHOUT ROWID;
      CREATE TABLE changes (revision INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
        json TEXT, at_ms INTEGER NOT NULL, PRIMARY KEY (revision, kind, name)) WITHOUT ROWID;
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO meta (key, value) VALUES ('revision', 2), ('compacted', 0);`);
    const wep = (name: string, node: string) =>
      JSON.stringify({ apiVersion: API_VERSION, kind: 'WorkloadEndpoint', metadata: { name }, spec: { node } });
    old.prepare('INSERT INTO resources VALUES (?, ?, ?, ?, ?)').run('WorkloadEndpoint', 'w1', wep('w1', 'a'), 1, 1);
    old.prepare('INSERT INTO resources VALUES (?, ?, ?, ?, ?)').run('WorkloadEndpoint', 'w2', wep('w2', 'b'), 2, 2);
    old.close();
    const ds = await openDatastore(`sqlite://${file}`);
    expect((await ds.list('WorkloadEndpoint', { node: 'a' })).map((w) => w.metadata.name)).toEqual(['w1']);
    expect((await ds.list('WorkloadEndpoint')).map((w) => w.metadata.name)).toEqual(['w1', 'w2']);
    await ds.close();
  });

  it('guards a transaction by the first read of a key: a newer second read does not bless a stale write', async () => {
    const ds = await openDatastore(`sqlite://${dir}/txn-reread.db`);
    const cfg = (vxlanPort: number, extra: Record<string, string> = {}): OverlayConfiguration => ({
      apiVersion: API_VERSION,
      kind: 'OverlayConfiguration',
      metadata: { name: 'default', annotations: extra },
      spec: { vxlanPort },
    });
    await ds.create(cfg(4789));
    let attempts = 0;
    await ds.transact(async (tx) => {
      attempts++;
      const first = await tx.get('OverlayConfiguration', 'default');
      if (attempts === 1) await ds.put(cfg(4789, { concurrent: 'yes' })); // another writer, between two reads
      await tx.get('OverlayConfiguration', 'default');
      tx.put({ ...first!, spec: { vxlanPort: 4790 } });
    });
    const after = await ds.get('OverlayConfiguration', 'default');
    await ds.close();
    expect(attempts).toBe(2);
    expect(after?.metadata.annotations).toEqual({ concurrent: 'yes' });
    expect(after?.spec.vxlanPort).toBe(4790);
  });

  it('rejects bad URLs naming them', async () => {
    await expect(openDatastore('mysql://x/y')).rejects.toThrow('datastore URL "mysql://x/y" has unsupported scheme "mysql:"');
    await expect(openDatastore('sqlite://relative.db')).rejects.toThrow(/sqlite URLs have no host/);
    await expect(openDatastore('etcd://')).rejects.toThrow(/etcd endpoints must be host:port/);
    await expect(openDatastore('etcd+https://127.0.0.1:2379')).rejects.toThrow(/needs a CA file/);
    await expect(openDatastore('not a url')).rejects.toThrow(/is not a URL/);
    expect(DEFAULT_DATASTORE_URL).toBe('sqlite:///var/lib/bpf-overlay/store.db');
  });
});
