// SPDX-License-Identifier: Apache-2.0
// The datastore contract, written once and run against every backend (SQLite in test/unit, etcd in
// test/integration). Names carry a per-run random suffix so that a shared etcd never mixes runs.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  ConflictError,
  NotFoundError,
  openDatastore,
  type Datastore,
  type WatchEvent,
} from '../../src/control/datastore/index.js';
import { API_VERSION, type IPPool, type OverlayConfiguration, type WorkloadEndpoint } from '../../src/control/model/types.js';
import { childJson, removeChildScripts, runChildScript } from './child-scripts.js';
import { testEndpoint, testPool } from './resources.js';

export { testEndpoint, testPool };

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

function config(name: string, vxlanPort = 4789): OverlayConfiguration {
  return { apiVersion: API_VERSION, kind: 'OverlayConfiguration', metadata: { name }, spec: { vxlanPort } };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Register the contract tests. storeUrl() returns the URL of a store to use (may be shared between tests). */
export function datastoreContract(backend: string, storeUrl: () => string): void {
  const open: Datastore[] = [];
  const connect = async (): Promise<Datastore> => {
    const ds = await openDatastore(storeUrl());
    open.push(ds);
    return ds;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((ds) => ds.close()));
  });
  afterAll(() => removeChildScripts());

  it(`${backend}: create stamps metadata and refuses an existing name`, async () => {
    const ds = await connect();
    const name = uniqueName('pool');
    const before = await ds.revision();
    const created = await ds.create(testPool(name, '10.1.0.0/16'));
    expect(Number(created.metadata.resourceVersion)).toBeGreaterThan(before);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await ds.get('IPPool', name)).toEqual(created);
    await expect(ds.create(testPool(name, '10.2.0.0/16'))).rejects.toThrow(AlreadyExistsError);
    await expect(ds.create(testPool(name, '10.2.0.0/16'))).rejects.toThrow(`IPPool "${name}" already exists`);
    expect((await ds.get('IPPool', name))?.spec.cidr).toBe('10.1.0.0/16');
    expect(await ds.get('IPPool', uniqueName('absent'))).toBeUndefined();
  });

  it(`${backend}: put is compare-and-swap when given a resourceVersion`, async () => {
    const ds = await connect();
    const name = uniqueName('cfg');
    const v1 = await ds.put(config(name, 1000));
    const v2 = await ds.put(config(name, 2000), { expectedResourceVersion: v1.metadata.resourceVersion });
    expect(v2.metadata.resourceVersion).not.toBe(v1.metadata.resourceVersion);
    expect(v2.metadata.creationTimestamp).toBe(v1.metadata.creationTimestamp);
    const stale = ds.put(config(name, 3000), { expectedResourceVersion: v1.metadata.resourceVersion });
    await expect(stale).rejects.toThrow(ConflictError);
    await expect(
      ds.put(config(name, 3000), { expectedResourceVersion: v1.metadata.resourceVersion }),
    ).rejects.toThrow(/modified concurrently \(expected resourceVersion \d+, found \d+\)/);
    expect((await ds.get('OverlayConfiguration', name))?.spec.vxlanPort).toBe(2000);
    await expect(
      ds.put(config(uniqueName('cfg')), { expectedResourceVersion: v1.metadata.resourceVersion }),
    ).rejects.toThrow(NotFoundError);
  });

  it(`${backend}: delete reports absence and honours resourceVersion`, async () => {
    const ds = await connect();
    const name = uniqueName('cfg');
    const v1 = await ds.create(config(name));
    const v2 = await ds.put(config(name, 5000));
    await expect(
      ds.delete('OverlayConfiguration', name, { expectedResourceVersion: v1.metadata.resourceVersion }),
    ).rejects.toThrow(ConflictError);
    expect(await ds.get('OverlayConfiguration', name)).toBeDefined();
    expect(await ds.delete('OverlayConfiguration', name, { expectedResourceVersion: v2.metadata.resourceVersion })).toBe(true);
    expect(await ds.delete('OverlayConfiguration', name)).toBe(false);
    expect(await ds.get('OverlayConfiguration', name)).toBeUndefined();
  });

  it(`${backend}: list returns one kind, sorted by name`, async () => {
    const ds = await connect();
    const prefix = uniqueName('l');
    await ds.applyAll([config(`${prefix}-b`), config(`${prefix}-a`), testPool(`${prefix}-p`, '10.3.0.0/16')]);
    const names = (await ds.list('OverlayConfiguration'))
      .map((c) => c.metadata.name)
      .filter((n) => n.startsWith(prefix));
    expect(names).toEqual([`${prefix}-a`, `${prefix}-b`]);
  });

  it(`${backend}: applyAll and deleteAll are all-or-nothing`, async () => {
    const ds = await connect();
    const prefix = uniqueName('atomic');
    const written = await ds.applyAll([config(`${prefix}-1`), config(`${prefix}-2`)]);
    expect(new Set(written.map((w) => w.metadata.resourceVersion)).size).toBe(1);
    // A failing precondition in the same commit must leave every write out.
    await expect(
      ds.commit({
        preconditions: [{ kind: 'OverlayConfiguration', name: `${prefix}-1`, expect: 'absent' }],
        writes: [
          { op: 'put', resource: config(`${prefix}-3`) },
          { op: 'put', resource: config(`${prefix}-2`, 9999) },
        ],
      }),
    ).rejects.toThrow(AlreadyExistsError);
    expect(await ds.get('OverlayConfiguration', `${prefix}-3`)).toBeUndefined();
    expect((await ds.get('OverlayConfiguration', `${prefix}-2`))?.spec.vxlanPort).toBe(4789);
    await expect(ds.applyAll([config(`${prefix}-4`), config('bad/name')])).rejects.toThrow(/must not contain "\/"/);
    expect(await ds.get('OverlayConfiguration', `${prefix}-4`)).toBeUndefined();
    await expect(ds.applyAll([config(`${prefix}-5`), config(`${prefix}-5`)])).rejects.toThrow(/more than once/);

    const refs = [1, 2, 9].map((i) => ({ kind: 'OverlayConfiguration' as const, name: `${prefix}-${i}` }));
    await expect(ds.deleteAll(refs)).rejects.toThrow(`OverlayConfiguration "${prefix}-9" not found`);
    expect(await ds.get('OverlayConfiguration', `${prefix}-1`)).toBeDefined();
    expect(await ds.deleteAll(refs, { ignoreMissing: true })).toBe(2);
    expect(await ds.get('OverlayConfiguration', `${prefix}-1`)).toBeUndefined();
  });

  it(`${backend}: transact serialises read-modify-write across connections`, async () => {
    const [a, b] = [await connect(), await connect()];
    const name = uniqueName('counter');
    await a.create(config(name, 0));
    const bump = (ds: Datastore) =>
      ds.transact(async (tx) => {
        const cur = (await tx.get('OverlayConfiguration', name))!;
        tx.put({ ...cur, spec: { vxlanPort: (cur.spec.vxlanPort ?? 0) + 1 } });
      });
    await Promise.all([...Array(25)].flatMap(() => [bump(a), bump(b)]));
    expect((await a.get('OverlayConfiguration', name))?.spec.vxlanPort).toBe(50);
  });

  it(`${backend}: unknown kinds and empty names are refused naming the field`, async () => {
    const ds = await connect();
    await expect(ds.create({ ...config('x'), kind: 'Bogus' } as never)).rejects.toThrow(/unknown kind "Bogus"/);
    await expect(ds.create(config(''))).rejects.toThrow(/metadata.name must be a non-empty string/);
  });

  it(`${backend}: a watcher sees puts and deletes from another connection, in order`, async () => {
    const [writer, reader] = [await connect(), await connect()];
    const name = uniqueName('w');
    const events: WatchEvent[] = [];
    const watch = await reader.watch(['OverlayConfiguration'], (ev) => {
      if (ev.name === name) events.push(ev);
    });
    try {
      await writer.create(testPool(uniqueName('ignored'), '10.4.0.0/16'));
      const v1 = await writer.create(config(name, 1));
      await writer.put(config(name, 2));
      await writer.delete('OverlayConfiguration', name);
      await until(() => events.length >= 3, 2_000);
      expect(events.map((e) => e.type)).toEqual(['put', 'put', 'delete']);
      expect(events[0].resource).toEqual(v1);
      expect((events[1].resource as OverlayConfiguration).spec.vxlanPort).toBe(2);
      expect(events[2].resource).toBeUndefined();
      expect(events[0].revision).toBe(Number(v1.metadata.resourceVersion));
      expect(events[0].revision).toBeLessThan(events[1].revision);
      expect(events[1].revision).toBeLessThan(events[2].revision);
    } finally {
      await watch.close();
    }
  });

  it(`${backend}: a node filter keeps other nodes' WorkloadEndpoints out of list, snapshot and watch`, async () => {
    const ds = await connect();
    const [mine, other] = [uniqueName('node-a'), uniqueName('node-b')];
    const [w1, w2, w3] = [uniqueName('wa'), uniqueName('wb'), uniqueName('wc')];
    await ds.create(testEndpoint(w1, mine));
    await ds.create(testEndpoint(w2, other));
    const names = (items: { kind: string; metadata: { name: string } }[]) =>
      items.filter((r) => [w1, w2, w3].includes(r.metadata.name)).map((r) => r.metadata.name).sort();
    expect(names(await ds.list('WorkloadEndpoint', { node: mine }))).toEqual([w1]);
    // An endpoint that allows spoofed sources concerns every node (its prefixes are accepted from its node).
    const spoofing = uniqueName('ws');
    await ds.create({ ...testEndpoint(spoofing, other), spec: { ...testEndpoint(spoofing, other).spec, allowSpoofedSourcePrefixes: ['10.99.0.0/24'] } });
    expect((await ds.list('WorkloadEndpoint', { node: mine })).map((r) => r.metadata.name)).toContain(spoofing);
    await ds.delete('WorkloadEndpoint', spoofing);
    expect(names(await ds.list('WorkloadEndpoint'))).toEqual([w1, w2].sort());
    const snap = await ds.snapshot(['WorkloadEndpoint', 'OverlayConfiguration'], { node: mine });
    expect(names(snap.items)).toEqual([w1]);
    expect(snap.revision).toBeGreaterThan(0);
    expect(snap.revision).toBeLessThanOrEqual(await ds.revision());

    const events: string[] = [];
    const watch = await ds.watch(['WorkloadEndpoint'], (ev) => {
      if ([w1, w2, w3].includes(ev.name)) events.push(`${ev.type} ${ev.name}`);
    }, { node: mine, afterRevision: snap.revision });
    try {
      await ds.put(testEndpoint(w2, other)); // another node's: never seen as a put
      await ds.create(testEndpoint(w3, mine));
      await ds.put(testEndpoint(w1, other)); // moved away: a delete for this node
      await until(() => events.includes(`delete ${w1}`), 2_000);
      expect(events.filter((e) => e.startsWith('put'))).toEqual([`put ${w3}`]);
      expect(events.filter((e) => e.endsWith(w2))).toEqual([]); // nothing at all about another node's pod
      expect(events).toContain(`delete ${w1}`);
    } finally {
      await watch.close();
    }
  });

  it(`${backend}: a change made by another process reaches a watcher in well under 1 s`, async () => {
    const reader = await connect();
    const latencies: number[] = [];
    for (let round = 0; round < 3; round++) {
      const name = uniqueName('xproc');
      let seenAt: number | undefined;
      const watch = await reader.watch(['OverlayConfiguration'], (ev) => {
        if (ev.name === name && seenAt === undefined) seenAt = performance.timeOrigin + performance.now();
      });
      try {
        // The child starts writing 1.5 s from now, well after its startup, so only propagation is measured.
        const res = await runChildScript('datastore-writer', [storeUrl(), name, String(Date.now() + 1_500)]);
        const { issuedAt } = childJson<{ issuedAt: number }>(res, 'datastore-writer');
        await until(() => seenAt !== undefined, 2_000);
        // From the moment the other process issued the write, so the figure includes the commit itself (etcd may
        // notify watchers before the writer has its reply; measuring from the reply would read as zero).
        latencies.push(seenAt! - issuedAt);
      } finally {
        await watch.close();
      }
    }
    console.log(`[${backend}] cross-process watch latency ms: ${latencies.map((l) => l.toFixed(1)).join(', ')}`);
    for (const l of latencies) expect(l).toBeLessThan(500);
  });
}
