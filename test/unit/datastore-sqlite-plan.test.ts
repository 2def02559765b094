// SPDX-License-Identifier: Apache-2.0
// The node-filtered reads go through the node index. Without statistics SQLite's planner picks the primary key
// (kind, name) instead and reads every record of the kind: at 20,000 blocks that was 20-90 ms per ADD, spent
// inside IPAM's write lock, so fifty ADDs at once queued behind seconds of scanning.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatastore, type Datastore } from '../../src/control/datastore/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-plan-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The query plan of one of the store's prepared statements (reached through its private fields). */
function planOf(ds: Datastore, statement: 'listOwned' | 'listOfNode', ...params: string[]): string {
  const inner = ds as unknown as { db: Database.Database; stmts: Record<string, Database.Statement> };
  const rows = inner.db.prepare(`EXPLAIN QUERY PLAN ${inner.stmts[statement].source}`).all(...params) as { detail: string }[];
  return rows.map((r) => r.detail).join('; ');
}

describe('SQLite node-filtered reads', () => {
  for (const readOnly of [false, true]) {
    it(`use the node index (${readOnly ? 'read-only' : 'read-write'} store)`, async () => {
      const url = `sqlite://${path.join(dir, 'plan.db')}`;
      if (readOnly) await (await openDatastore(url)).close();
      const ds = await openDatastore(url, { readOnly });
      try {
        expect(planOf(ds, 'listOwned', 'IPAMBlock', 'node-1')).toContain('USING INDEX resources_by_node');
        expect(planOf(ds, 'listOfNode', 'WorkloadEndpoint', 'node-1')).toContain('USING INDEX resources_by_node');
      } finally {
        await ds.close();
      }
    });
  }
});
