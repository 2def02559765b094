// SPDX-License-Identifier: Apache-2.0
// The agent's steps fail alone: a failing step is retried with exponential backoff while the others proceed;
// a map step writes only the keys it is handed and never beyond the map's capacity.
import { describe, expect, it } from 'vitest';
import type { MapEntry, UpdateFlag } from '../../src/control/bpf/types.js';
import { MapSyncer } from '../../src/control/reconcile/map-syncer.js';
import type { SyncableMap } from '../../src/control/reconcile/map-sync.js';
import { FlagStep, StepRunner } from '../../src/control/reconcile/steps.js';
import { WorkloadLinkSyncer } from '../../src/control/reconcile/workload-links.js';
import type { WorkloadEndpoint } from '../../src/control/model/types.js';

class MemoryMap implements SyncableMap {
  readonly name = 'memory';
  readonly store = new Map<string, Buffer>();
  reads = 0;
  writes = 0;
  constructor(readonly maxEntries = Infinity) {}
  entries(): MapEntry[] {
    this.reads++;
    return [...this.store].map(([k, value]) => ({ key: Buffer.from(k, 'hex'), value }));
  }
  private put(key: Buffer, value: Buffer): void {
    if (!this.store.has(key.toString('hex')) && this.store.size >= this.maxEntries) {
      throw Object.assign(new Error('map full'), { code: 'E2BIG' });
    }
    this.writes++;
    this.store.set(key.toString('hex'), value);
  }
  update(key: Buffer, value: Buffer, _flag?: UpdateFlag): void {
    this.put(key, value);
  }
  delete(key: Buffer): boolean {
    return this.store.delete(key.toString('hex'));
  }
  batchUpdate(entries: MapEntry[]): void {
    for (const e of entries) this.put(e.key, e.value);
  }
  batchDelete(keys: Buffer[]): number {
    return keys.filter((k) => this.store.delete(k.toString('hex'))).length;
  }
}

/** Desired state as a plain key -> value record; keys are short strings, encoded as their bytes. */
function source(desired: Map<string, string>) {
  return {
    allKeys: () => desired.keys(),
    entry: (k: string) => (desired.has(k) ? { key: Buffer.from(k), value: Buffer.from(desired.get(k)!) } : undefined),
    encodeKey: (k: string) => Buffer.from(k),
  };
}

const contents = (m: MemoryMap) => Object.fromEntries([...m.store].map(([k, v]) => [Buffer.from(k, 'hex').toString(), v.toString()]));

describe('step runner', () => {
  it('keeps running the other steps while one fails, and retries the failing one with exponential backoff', async () => {
    let now = 0;
    const runs: string[] = [];
    let breakRoutes = true;
    const runner = new StepRunner({ now: () => now, initialBackoffMs: 100, maxBackoffMs: 1_000 });
    const routes = new FlagStep('host-routes', () => {
      runs.push('host-routes');
      if (breakRoutes) throw new Error('Nexthop has invalid gateway');
    });
    const maps = new FlagStep('maps', () => void runs.push('maps'));
    const nft = new FlagStep('nft', () => void runs.push('nft'));
    runner.add(routes, maps, nft);

    runner.runDue();
    expect(runs).toEqual(['host-routes', 'maps', 'nft']);
    expect(runner.settled).toBe(false);
    expect(runner.failing()).toEqual([{ step: 'host-routes', error: 'Nexthop has invalid gateway', attempts: 1, retryAt: 100 }]);

    // New work for the healthy steps goes through at once; the failed step waits for its retry time.
    maps.mark();
    runs.length = 0;
    runner.runDue();
    expect(runs).toEqual(['maps']);
    expect(runner.nextRetryIn()).toBe(100);

    const retries: number[] = [];
    for (let i = 0; i < 5; i++) {
      now = runner.failing()[0].retryAt;
      runner.runDue();
      retries.push(runner.failing()[0].retryAt - now);
    }
    expect(retries).toEqual([200, 400, 800, 1_000, 1_000]);

    breakRoutes = false;
    now = runner.failing()[0].retryAt;
    runner.runDue();
    expect(runner.failing()).toEqual([]);
    expect(runner.settled).toBe(true);
  });

  it('never waits for an asynchronous step (a datastore write) before the kernel steps', async () => {
    let release!: () => void;
    const order: string[] = [];
    const settled: string[] = [];
    const ran: string[] = [];
    const runner = new StepRunner({ onSettled: () => settled.push('publish'), onRan: (step) => ran.push(step) });
    runner.add(
      new FlagStep('publish', () => new Promise<void>((r) => (release = r)).then(() => void order.push('publish done'))),
      new FlagStep('maps', () => void order.push('maps')),
    );
    runner.runDue();
    expect(order).toEqual(['maps']);
    expect(ran).toEqual(['maps']);
    expect(runner.settled).toBe(false);
    release();
    await runner.idle(1_000);
    expect(order).toEqual(['maps', 'publish done']);
    expect(ran).toEqual(['maps', 'publish']);
    expect(settled).toEqual(['publish']);
    expect(runner.settled).toBe(true);
  });

  it('runs only the steps a filter picks, in order, and leaves the others pending for the next run', () => {
    const order: string[] = [];
    const runner = new StepRunner();
    const steps = ['maps', 'addresses', 'routes', 'links'].map((n) => new FlagStep(n, () => void order.push(n)));
    runner.add(...steps);
    runner.runDue((s) => s.name === 'routes' || s.name === 'addresses');
    expect(order).toEqual(['addresses', 'routes']);
    expect(runner.settled).toBe(false);
    runner.runDue();
    expect(order).toEqual(['addresses', 'routes', 'maps', 'links']);
    expect(runner.settled).toBe(true);
  });
});

describe('map step', () => {
  it('reads the kernel once, then writes only the keys it is handed', () => {
    const map = new MemoryMap();
    map.store.set(Buffer.from('stale').toString('hex'), Buffer.from('x'));
    const desired = new Map([['a', '1'], ['b', '2']]);
    const step = new MapSyncer('m', () => map, source(desired));
    step.run();
    expect(contents(map)).toEqual({ a: '1', b: '2' });
    expect(map.reads).toBe(1);
    desired.set('b', '3');
    desired.delete('a');
    desired.set('c', '4');
    map.writes = 0;
    step.mark(['b', 'a']); // c is not handed over: it is not written yet
    step.run();
    expect(contents(map)).toEqual({ b: '3' });
    expect(map.writes).toBe(1);
    expect(map.reads).toBe(1);
    step.mark(['c']);
    step.run();
    expect(contents(map)).toEqual({ b: '3', c: '4' });
    // A resync reads the kernel again and repairs what changed behind the step's back.
    map.store.delete(Buffer.from('b').toString('hex'));
    step.resync();
    step.run();
    expect(contents(map)).toEqual({ b: '3', c: '4' });
    expect(map.reads).toBe(2);
  });

  it('checks capacity before writing: what fits is written, the rest is reported and retried when room frees', () => {
    const map = new MemoryMap(3);
    const desired = new Map([['a', '1'], ['b', '1']]);
    const overflows: string[][] = [];
    const step = new MapSyncer('m', () => map, source(desired), { onOverflow: (keys) => overflows.push(keys) });
    step.run();
    for (const k of ['c', 'd', 'e']) desired.set(k, '1');
    desired.set('a', '2');
    step.mark(['a', 'c', 'd', 'e']);
    step.run(); // no exception: the map keeps what it holds, gets what fits
    expect(contents(map)).toEqual({ a: '2', b: '1', c: '1' });
    expect(overflows).toEqual([['d', 'e']]);
    expect([...step.overflow.values()]).toEqual(['d', 'e']);
    expect(step.pending).toBe(false); // the overflow is reported, not retried in a loop

    desired.delete('b');
    step.mark(['b']);
    step.run(); // b's removal makes room for d
    expect(contents(map)).toEqual({ a: '2', c: '1', d: '1' });
    expect([...step.overflow.values()]).toEqual(['e']);
  });

  it('forgets its mirror when a write fails, and re-reads the kernel on the retry', () => {
    const map = new MemoryMap();
    const desired = new Map([['a', '1']]);
    const step = new MapSyncer('m', () => map, source(desired));
    step.run();
    const original = map.batchUpdate.bind(map);
    map.batchUpdate = () => {
      throw Object.assign(new Error('EPERM'), { code: 'EPERM' });
    };
    desired.set('b', '1');
    step.mark(['b']);
    expect(() => step.run()).toThrow('EPERM');
    expect(step.pending).toBe(true);
    map.batchUpdate = original;
    step.run();
    expect(contents(map)).toEqual({ a: '1', b: '1' });
    expect(map.reads).toBe(2);
  });
});

describe('workload link step', () => {
  const wep = (name: string, hostInterface: string) =>
    ({ metadata: { name }, spec: { hostInterface } }) as unknown as WorkloadEndpoint;

  function fixture() {
    const attached = new Set<string>(['bostale']);
    const interfaces = new Set<string>(['boa', 'bob', 'boc']);
    const failing = new Set<string>();
    const workloads = new Map([['a', wep('a', 'boa')], ['b', wep('b', 'bob')], ['m', wep('m', 'bomissing')]]);
    const step = new WorkloadLinkSyncer(
      {
        ensureWorkloadLink: (i) => {
          if (failing.has(i)) throw new Error(`attach ${i}: EBUSY`);
          attached.add(i);
        },
        removeWorkloadLink: (i) => void attached.delete(i),
        workloadLinkInterfaces: () => [...attached],
        interfaceExists: (i) => interfaces.has(i),
      },
      { allNames: () => workloads.keys(), workload: (n) => workloads.get(n) },
    );
    return { attached, failing, workloads, step };
  }

  it('attaches every admitted workload, drops links nobody names, and reports a missing veth without failing', () => {
    const { attached, step } = fixture();
    step.run();
    expect([...attached].sort()).toEqual(['boa', 'bob']);
    expect([...step.missing]).toEqual([['m', 'host interface bomissing does not exist']]);
    expect(step.pending).toBe(false);
  });

  it('keeps a failed attachment pending for the retry and still does the others', () => {
    const { attached, failing, workloads, step } = fixture();
    step.run();
    failing.add('boc');
    workloads.set('c', wep('c', 'boc'));
    workloads.delete('a');
    step.mark(['c', 'a']);
    expect(() => step.run()).toThrow('1 workload link(s) failed, first: attach boc: EBUSY');
    expect([...attached].sort()).toEqual(['bob']); // a's link went despite c's failure
    expect(step.pending).toBe(true);
    failing.clear();
    step.run();
    expect([...attached].sort()).toEqual(['bob', 'boc']);
    // An endpoint that names another veth moves its link.
    workloads.set('b', wep('b', 'boc'));
    step.mark(['b']);
    step.run();
    expect([...attached].sort()).toEqual(['boc']);
  });
});
