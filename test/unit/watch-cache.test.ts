// SPDX-License-Identifier: Apache-2.0
// The agent's watch-fed cache against a real SQLite store: one list, then deltas by revision; a failed watch
// or a compaction makes it list again (with backoff while listing fails); other nodes' pods never arrive.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { WatchCache, type CacheDelta } from '../../src/control/agent/watch-cache.js';
import { backoffDelay } from '../../src/control/backoff.js';
import {
  CompactedError,
  openDatastore,
  type Datastore,
  type StoredResource,
  type WatchOptions,
} from '../../src/control/datastore/index.js';
import { API_VERSION, type Node } from '../../src/control/model/types.js';
import { testEndpoint } from '../harness/datastore-contract.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bo-cache-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });

const node = (name: string, addr: string): Node => ({
  apiVersion: API_VERSION,
  kind: 'Node',
  metadata: { name },
  spec: { bgp: { ipv4Address: `${addr}/24` } },
});
const wep = testEndpoint;

const until = async (cond: () => boolean, ms = 2_000) => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

/** A datastore whose watches the test can break, and whose snapshots it can make fail, counting both. */
function breakable(ds: Datastore) {
  const control = { snapshots: 0, failSnapshots: 0, watches: 0, breakWatch: (_: Error) => undefined as void };
  const wrapped: Datastore = Object.create(ds) as Datastore;
  wrapped.snapshot = async (kinds, filter) => {
    control.snapshots++;
    if (control.failSnapshots > 0) {
      control.failSnapshots--;
      throw new Error('datastore unreachable');
    }
    return ds.snapshot(kinds, filter);
  };
  wrapped.watch = async (kinds, onEvent, opts: WatchOptions = {}) => {
    control.watches++;
    const handle = await ds.watch(kinds, onEvent, opts);
    control.breakWatch = (err: Error) => opts.onError?.(err);
    return handle;
  };
  return { ds: wrapped, control };
}

function recorder() {
  const seen = { resets: [] as { items: readonly StoredResource[]; revision: number }[], deltas: [] as CacheDelta[][] };
  return {
    seen,
    listener: {
      onReset: (items: readonly StoredResource[], revision: number) => seen.resets.push({ items, revision }),
      onDeltas: (deltas: readonly CacheDelta[]) => seen.deltas.push([...deltas]),
    },
  };
}

describe('watch-fed cache', () => {
  it('lists once, then applies deltas; a pod of another node never arrives', async () => {
    const ds = await openDatastore(`sqlite://${dir}/deltas.db`);
    await ds.create(node('a', '10.0.0.1'));
    await ds.create(wep('wa', 'a'));
    await ds.create(wep('wb', 'b'));
    const { seen, listener } = recorder();
    const cache = new WatchCache({ ds, kinds: ['Node', 'WorkloadEndpoint'], filter: { node: 'a' }, listener, log });
    await cache.start();
    try {
      expect(seen.resets).toHaveLength(1);
      expect(seen.resets[0].items.map((r) => r.metadata.name).sort()).toEqual(['a', 'wa']);
      await ds.create(wep('wb2', 'b')); // another node's pod: nothing reaches this node
      await ds.create(node('b', '10.0.0.2'));
      await ds.delete('WorkloadEndpoint', 'wa');
      await until(() => seen.deltas.flat().length >= 2);
      await new Promise((r) => setTimeout(r, 120));
      expect(seen.deltas.flat().map((d) => `${d.type} ${d.kind} ${d.name}`)).toEqual(['put Node b', 'delete WorkloadEndpoint wa']);
      expect(cache.all('WorkloadEndpoint')).toEqual([]);
      expect(cache.get<Node>('Node', 'b')?.spec.bgp?.ipv4Address).toBe('10.0.0.2/24');
      expect(cache.revision).toBe(await ds.revision());
      expect(cache.lists).toBe(1);
    } finally {
      await cache.stop();
      await ds.close();
    }
  });

  it('lists again after a compaction or a failed watch, with backoff while listing fails', async () => {
    const real = await openDatastore(`sqlite://${dir}/relist.db`);
    const { ds, control } = breakable(real);
    await real.create(node('a', '10.0.0.1'));
    const { seen, listener } = recorder();
    const cache = new WatchCache({ ds, kinds: ['Node'], listener, log, backoff: { initialMs: 20, maxMs: 200 } });
    await cache.start();
    try {
      expect(control.snapshots).toBe(1);
      // A change the broken watch will never deliver: only a re-list can bring it.
      control.breakWatch(new CompactedError('watch position compacted'));
      expect(cache.synced).toBe(false);
      await real.create(node('b', '10.0.0.2'));
      await until(() => seen.resets.length === 2);
      expect(seen.resets[1].items.map((r) => r.metadata.name).sort()).toEqual(['a', 'b']);
      expect(cache.synced).toBe(true);

      // The watch fails again and the datastore is unreachable for two attempts: retried with growing delays.
      control.failSnapshots = 2;
      const brokenAt = Date.now();
      control.breakWatch(new Error('connection lost'));
      await real.create(node('c', '10.0.0.3'));
      await until(() => seen.resets.length === 3);
      expect(control.snapshots).toBe(5);
      // 20 + 40 + 80 ms of backoff before the third attempt succeeded.
      expect(Date.now() - brokenAt).toBeGreaterThanOrEqual(130);
      expect(cache.all('Node').map((n) => n.metadata.name).sort()).toEqual(['a', 'b', 'c']);
      // And it keeps watching from the new list.
      await real.delete('Node', 'a');
      await until(() => seen.deltas.flat().some((d) => d.type === 'delete' && d.name === 'a'));
      expect(control.watches).toBe(3);
    } finally {
      await cache.stop();
      await real.close();
    }
  });

  it('backs off exponentially up to a ceiling', () => {
    const b = { initialMs: 100, maxMs: 1_000 };
    expect([0, 1, 2, 3, 4, 10, 100].map((n) => backoffDelay(b, n))).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
  });
});
