// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import type { MapEntry, UpdateFlag } from '../../src/control/bpf/types.js';
import { Encap, RouteFlags, RouteKind, ZERO_MAC, decodeRouteValue, type RouteEntry } from '../../src/control/maps/layout.js';
import { routeEntries } from '../../src/control/reconcile/encode.js';
import { MirroredMap, planMapSync, syncMap, type SyncableMap } from '../../src/control/reconcile/map-sync.js';

/** A map kept in memory that records every write, to check what the reconciler asks of the kernel. */
class RecordingMap implements SyncableMap {
  readonly name = 'recording';
  readonly store = new Map<string, Buffer>();
  readonly log: string[] = [];
  constructor(private readonly batchUnsupported = false) {}
  reads = 0;
  failNextUpdate = false;
  entries(): MapEntry[] {
    this.reads++;
    return [...this.store].map(([k, value]) => ({ key: Buffer.from(k, 'hex'), value }));
  }
  update(key: Buffer, value: Buffer, _flag?: UpdateFlag): void {
    this.log.push(`update ${key.toString('hex')}`);
    this.store.set(key.toString('hex'), value);
  }
  delete(key: Buffer): boolean {
    this.log.push(`delete ${key.toString('hex')}`);
    return this.store.delete(key.toString('hex'));
  }
  batchUpdate(entries: MapEntry[]): void {
    if (this.failNextUpdate) {
      this.failNextUpdate = false;
      throw Object.assign(new Error('map full'), { code: 'E2BIG' });
    }
    if (this.batchUnsupported) throw Object.assign(new Error('batch unsupported'), { code: 'EINVAL' });
    this.log.push(`batchUpdate ${entries.length}`);
    for (const e of entries) this.store.set(e.key.toString('hex'), e.value);
  }
  batchDelete(keys: Buffer[]): number {
    if (this.batchUnsupported) throw Object.assign(new Error('batch unsupported'), { code: 'EINVAL' });
    this.log.push(`batchDelete ${keys.length}`);
    let n = 0;
    for (const k of keys) if (this.store.delete(k.toString('hex'))) n++;
    return n;
  }
}

function remoteBlock(cidr: string, encap: Encap, nextHop = '10.0.1.2'): RouteEntry {
  return {
    cidr,
    kind: RouteKind.RemoteBlock,
    encap,
    flags: RouteFlags.InPool | RouteFlags.NatOutgoing,
    ifindex: 0,
    nextHop,
    dstMac: encap === Encap.Vxlan ? '66:01:02:03:04:05' : ZERO_MAC,
    srcMac: ZERO_MAC,
  };
}

describe('map sync', () => {
  it('writes nothing when the kernel already holds the desired state', () => {
    const map = new RecordingMap();
    const desired = routeEntries([remoteBlock('192.168.1.0/26', Encap.Ipip)]);
    syncMap(map, desired);
    map.log.length = 0;
    const stats = syncMap(map, desired);
    expect(stats).toMatchObject({ added: 0, updated: 0, deleted: 0, unchanged: 1 });
    expect(map.log).toEqual([]);
  });

  it('changes a route encapsulation in place: no delete of that key, writes before deletes', () => {
    const map = new RecordingMap();
    syncMap(map, routeEntries([remoteBlock('192.168.1.0/26', Encap.Ipip), remoteBlock('192.168.2.0/26', Encap.Ipip)]));
    map.log.length = 0;
    const stats = syncMap(map, routeEntries([remoteBlock('192.168.1.0/26', Encap.Vxlan)]));
    expect(stats).toMatchObject({ added: 0, updated: 1, deleted: 1, unchanged: 0 });
    expect(map.log).toEqual(['batchUpdate 1', 'batchDelete 1']);
    const [value] = [...map.store.values()];
    expect(decodeRouteValue(value).encap).toBe(Encap.Vxlan);
  });

  it('falls back to single-entry calls when the map type has no batch operations', () => {
    const map = new RecordingMap(true);
    const stats = syncMap(map, routeEntries([remoteBlock('192.168.1.0/26', Encap.Ipip), remoteBlock('192.168.1.64/26', Encap.None)]));
    expect(stats.fellBackToSingle).toBe(true);
    expect(map.store.size).toBe(2);
    expect(map.log.filter((l) => l.startsWith('update'))).toHaveLength(2);
  });

  it('splits large syncs into batches of the requested size', () => {
    const map = new RecordingMap();
    const routes = Array.from({ length: 2500 }, (_, i) => remoteBlock(`10.${i >> 8}.${i & 255}.0/24`, Encap.Ipip));
    syncMap(map, routeEntries(routes), { batchSize: 1000 });
    expect(map.log).toEqual(['batchUpdate 1000', 'batchUpdate 1000', 'batchUpdate 500']);
  });

  it('rejects a desired state that names one key twice', () => {
    const desired = routeEntries([remoteBlock('192.168.1.0/26', Encap.Ipip), remoteBlock('192.168.1.0/26', Encap.Vxlan)]);
    expect(() => planMapSync([], desired)).toThrow(/duplicate key/);
  });

  it('a mirrored map reads the kernel once, then diffs against what it wrote', () => {
    const map = new RecordingMap();
    const mirrored = new MirroredMap(() => map);
    mirrored.sync(routeEntries([remoteBlock('192.168.1.0/26', Encap.Ipip)]));
    const stats = mirrored.sync(routeEntries([remoteBlock('192.168.1.0/26', Encap.Vxlan), remoteBlock('192.168.2.0/26', Encap.Ipip)]));
    expect(map.reads).toBe(1);
    expect(stats).toMatchObject({ added: 1, updated: 1, deleted: 0 });
    expect(mirrored.sync(routeEntries([remoteBlock('192.168.2.0/26', Encap.Ipip)]))).toMatchObject({ deleted: 1, unchanged: 1 });
    expect(map.store.size).toBe(1);
  });

  it('a resync (invalidate) repairs an entry changed behind the reconciler back', () => {
    const map = new RecordingMap();
    const mirrored = new MirroredMap(() => map);
    const desired = routeEntries([remoteBlock('192.168.1.0/26', Encap.Ipip)]);
    mirrored.sync(desired);
    map.store.clear(); // someone deleted it with bpftool
    expect(mirrored.sync(desired)).toMatchObject({ added: 0, unchanged: 1 }); // the mirror cannot know
    mirrored.invalidate();
    expect(mirrored.sync(desired)).toMatchObject({ added: 1 });
    expect(map.store.size).toBe(1);
  });

  it('forgets its memory when a write fails, so the next sync reads the kernel again', () => {
    const map = new RecordingMap();
    const mirrored = new MirroredMap(() => map);
    mirrored.sync(routeEntries([remoteBlock('192.168.1.0/26', Encap.Ipip)]));
    map.failNextUpdate = true;
    expect(() => mirrored.sync(routeEntries([remoteBlock('192.168.1.0/26', Encap.Vxlan)]))).toThrow(/map full/);
    mirrored.sync(routeEntries([remoteBlock('192.168.1.0/26', Encap.Vxlan)]));
    expect(map.reads).toBe(2);
    expect(decodeRouteValue([...map.store.values()][0]).encap).toBe(Encap.Vxlan);
  });
});
