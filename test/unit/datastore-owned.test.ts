// SPDX-License-Identifier: Apache-2.0
// Node-owned reads (listOwnedBy) and transactions that hold SQLite's write lock (holdWriteLock): what lets an
// ADD read only its node's IPAM blocks and queue once for the store instead of conflicting.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatastore, type IPAMBlock } from '../../src/control/datastore/index.js';
import { API_VERSION, type BlockAffinity } from '../../src/control/model/types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-owned-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function block(cidr: string, node: string): IPAMBlock {
  return {
    apiVersion: API_VERSION,
    kind: 'IPAMBlock',
    metadata: { name: cidr.replace(/[./]/g, '-') },
    spec: { cidr, pool: 'p', node, allocations: {} },
  };
}

function affinity(cidr: string, node: string): BlockAffinity {
  return {
    apiVersion: API_VERSION,
    kind: 'BlockAffinity',
    metadata: { name: `${node}-${cidr.replace(/[./]/g, '-')}` },
    spec: { node, cidr, state: 'confirmed', deleted: false },
  };
}

const names = (rs: { metadata: { name: string } }[]) => rs.map((r) => r.metadata.name);

describe('listOwnedBy on SQLite', () => {
  it("returns only the node's blocks and affinities, in name order, and follows a block to its new node", async () => {
    const ds = await openDatastore(`sqlite://${dir}/owned.db`);
    await ds.applyAll([block('10.0.0.64/26', 'a'), block('10.0.0.0/26', 'a'), block('10.0.1.0/26', 'b')]);
    await ds.applyAll([affinity('10.0.0.0/26', 'a'), affinity('10.0.1.0/26', 'b')]);
    expect(names(await ds.listOwnedBy('IPAMBlock', 'a'))).toEqual(['10-0-0-0-26', '10-0-0-64-26']);
    expect(names(await ds.listOwnedBy('BlockAffinity', 'b'))).toEqual(['b-10-0-1-0-26']);
    expect(await ds.listOwnedBy('IPAMBlock', 'c')).toEqual([]);
    await ds.put(block('10.0.1.0/26', 'a'));
    expect(names(await ds.listOwnedBy('IPAMBlock', 'a'))).toEqual(['10-0-0-0-26', '10-0-0-64-26', '10-0-1-0-26']);
    expect(await ds.listOwnedBy('IPAMBlock', 'b')).toEqual([]);
    await ds.close();
  });

  it("sees the transaction's own pending writes of the node, and not those of another node", async () => {
    const ds = await openDatastore(`sqlite://${dir}/pending.db`);
    await ds.applyAll([block('10.0.0.0/26', 'a'), block('10.0.1.0/26', 'a')]);
    const seen = await ds.transact(async (tx) => {
      tx.create(block('10.0.2.0/26', 'a'));
      tx.create(block('10.0.3.0/26', 'b'));
      tx.delete('IPAMBlock', '10-0-0-0-26');
      return names(await tx.listOwnedBy('IPAMBlock', 'a'));
    });
    expect(seen).toEqual(['10-0-1-0-26', '10-0-2-0-26']);
    await ds.close();
  });

  it('fills the owner column of a store whose blocks predate it, on the next open for writing', async () => {
    const file = path.join(dir, 'old.db');
    const ds = await openDatastore(`sqlite://${file}`);
    await ds.applyAll([block('10.0.0.0/26', 'a'), block('10.0.1.0/26', 'b'), affinity('10.0.1.0/26', 'b')]);
    await ds.close();
    // What a store written before the owner column looks like: no owner on blocks, no migration mark.
    const raw = new Database(file);
    raw.exec("UPDATE resources SET node = NULL WHERE kind IN ('IPAMBlock', 'BlockAffinity'); DELETE FROM meta WHERE key = 'owners_indexed'");
    raw.close();
    const reopened = await openDatastore(`sqlite://${file}`);
    expect(names(await reopened.listOwnedBy('IPAMBlock', 'b'))).toEqual(['10-0-1-0-26']);
    expect(names(await reopened.listOwnedBy('BlockAffinity', 'b'))).toEqual(['b-10-0-1-0-26']);
    await reopened.close();
  });
});

describe('transact with holdWriteLock on SQLite', () => {
  it('commits what fn wrote, and on a throw leaves the store unchanged and usable', async () => {
    const ds = await openDatastore(`sqlite://${dir}/locked.db`);
    await ds.transact(async (tx) => tx.create(block('10.0.0.0/26', 'a')), { holdWriteLock: true });
    const before = await ds.revision();
    await expect(
      ds.transact(
        async (tx) => {
          tx.create(block('10.0.1.0/26', 'a'));
          throw new Error('refused');
        },
        { holdWriteLock: true },
      ),
    ).rejects.toThrow('refused');
    expect(await ds.revision()).toBe(before);
    expect(names(await ds.listOwnedBy('IPAMBlock', 'a'))).toEqual(['10-0-0-0-26']);
    // No transaction left open: an ordinary write and another locked one still commit.
    await ds.put(block('10.0.2.0/26', 'b'));
    await ds.transact(async (tx) => tx.create(block('10.0.3.0/26', 'b')), { holdWriteLock: true });
    expect(names(await ds.listOwnedBy('IPAMBlock', 'b'))).toEqual(['10-0-2-0-26', '10-0-3-0-26']);
    await ds.close();
  });

  it('serialises locked transactions and plain writes of one process that interleave on the event loop', async () => {
    // Across processes the SQLite lock does it (test/unit/ipam.test.ts, "4 processes allocate 100 each"); within
    // one process, a second transaction or write must wait rather than join the open one.
    const ds = await openDatastore(`sqlite://${dir}/interleave.db`);
    await ds.put(block('10.0.0.0/26', 'a'));
    const add = (i: number) =>
      ds.transact(
        async (tx) => {
          const b = (await tx.get('IPAMBlock', '10-0-0-0-26'))!;
          await new Promise((r) => setTimeout(r, 1));
          tx.put({ ...b, spec: { ...b.spec, allocations: { ...b.spec.allocations, [`10.0.0.${i}`]: { handle: `h${i}` } } } });
        },
        { holdWriteLock: true },
      );
    await Promise.all([...[1, 2, 3, 4, 5].map(add), ds.put(block('10.0.1.0/26', 'b'))]);
    const b = (await ds.get('IPAMBlock', '10-0-0-0-26'))!;
    expect(Object.keys(b.spec.allocations).sort()).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
    expect(names(await ds.listOwnedBy('IPAMBlock', 'b'))).toEqual(['10-0-1-0-26']);
    await ds.close();
  });
});
