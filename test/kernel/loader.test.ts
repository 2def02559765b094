// SPDX-License-Identifier: Apache-2.0
// The loader against the real kernel: object specs, globals, map kinds, batch operations, test runs and
// verifier rejections, using bpf/test/loader_test.c and bpf/test/verifier_reject.c.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { BpfError, openObject, VerifierError, type Collection } from '../../src/control/bpf/index.js';
import { kernelDescribe } from '../harness/privileges.js';
import { ensureBpfObjects, lpmKey, objectPath, u32, u64, udpFrame } from './loader-fixtures.js';

kernelDescribe('kernel loader: objects, maps, test runs', () => {
  const open: Collection[] = [];
  const load = (): Collection => {
    const spec = openObject(objectPath('loader_test'));
    const coll = spec.load();
    spec.close();
    open.push(coll);
    return coll;
  };

  beforeAll(() => ensureBpfObjects());
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });

  it('lists maps, programs and variables with their sizes', () => {
    const spec = openObject(objectPath('loader_test'));
    try {
      const maps = new Map(spec.maps.map((m) => [m.name, m]));
      expect(maps.get('hash_map')).toMatchObject({ typeName: 'hash', keySize: 4, valueSize: 8, maxEntries: 128, pinning: 'none' });
      expect(maps.get('array_map')).toMatchObject({ typeName: 'array', keySize: 4, valueSize: 8, maxEntries: 16 });
      expect(maps.get('lpm_map')).toMatchObject({ typeName: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 64, flags: 1 });
      expect(maps.get('pkt_counts')).toMatchObject({ typeName: 'percpu_array', keySize: 4, valueSize: 16, maxEntries: 4 });
      expect(maps.get('percpu_hash_map')).toMatchObject({ typeName: 'percpu_hash', keySize: 4, valueSize: 4 });
      expect(maps.has('.rodata') && maps.has('.data') && maps.has('.bss')).toBe(true);

      const progs = new Map(spec.programs.map((p) => [p.name, p]));
      expect(progs.get('count_tc')).toMatchObject({ section: 'tc', typeName: 'sched_cls' });
      expect(progs.get('count_xdp')).toMatchObject({ section: 'xdp', typeName: 'xdp' });
      expect([...progs.keys()].sort()).toEqual(['count_tc', 'count_tc_alt', 'count_xdp', 'return_config', 'xdp_mac_swap']);

      const vars = new Map(spec.variables.map((v) => [v.name, v]));
      expect(vars.get('ret_value')).toEqual({ name: 'ret_value', section: '.rodata', offset: 0, size: 4 });
      expect(vars.get('ret_bias')).toEqual({ name: 'ret_bias', section: '.data', offset: 0, size: 4 });
      expect(vars.get('runs_seen')).toEqual({ name: 'runs_seen', section: '.bss', offset: 0, size: 8 });
    } finally {
      spec.close();
    }
  });

  it('applies variables and map sizes set before load', () => {
    const defaults = load();
    expect(defaults.program('return_config').testRun({ data: udpFrame() }).retval).toBe(7 + 1);

    const spec = openObject(objectPath('loader_test'));
    spec.setVariable('ret_value', u32(40));
    spec.setVariable('ret_bias', u32(2));
    spec.setVariable('runs_seen', u64(100));
    spec.setMapMaxEntries('hash_map', 4096);
    expect(spec.maps.find((m) => m.name === 'hash_map')?.maxEntries).toBe(4096);
    const coll = spec.load();
    open.push(coll);
    expect(coll.program('return_config').testRun({ data: udpFrame() }).retval).toBe(42);
    expect(coll.map('hash_map').maxEntries).toBe(4096);
    // .bss started at the preset 100; one run incremented it.
    expect(coll.map('.bss').lookup(u32(0))?.readBigUInt64LE(0)).toBe(101n);
    // .rodata is frozen after load: the program's view can no longer change.
    expect(() => coll.map('.rodata').update(u32(0), u32(1))).toThrow(BpfError);
  });

  it('rejects bad adjustments with errors naming the field', () => {
    const spec = openObject(objectPath('loader_test'));
    try {
      expect(() => spec.setVariable('ret_value', Buffer.alloc(8))).toThrow(/ret_value.*4 bytes/);
      expect(() => spec.setVariable('no_such_var', u32(1))).toThrow(/no global variable 'no_such_var'/);
      expect(() => spec.setMapMaxEntries('no_such_map', 4)).toThrow(/no map 'no_such_map'/);
      expect(() => spec.setMapMaxEntries('hash_map', 0)).toThrow(/maxEntries of map 'hash_map'/);
      const coll = spec.load();
      open.push(coll);
      expect(() => spec.setVariable('ret_value', u32(1))).toThrow(/is loaded/);
      expect(() => spec.load()).toThrow(/is loaded/);
      expect(() => coll.map('nope')).toThrow(/no map 'nope'/);
    } finally {
      spec.close();
    }
    expect(() => openObject('/nonexistent/x.o')).toThrow(BpfError);
  });

  it('does CRUD on hash and array maps, with update flags', () => {
    const coll = load();
    const hash = coll.map('hash_map');
    expect(hash.lookup(u32(1))).toBeUndefined();
    hash.update(u32(1), u64(11));
    hash.update(u32(2), u64(22), 'noexist');
    expect(hash.lookup(u32(1))?.readBigUInt64LE(0)).toBe(11n);
    let err: unknown;
    try {
      hash.update(u32(1), u64(99), 'noexist');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect(err).toMatchObject({ errno: 17, code: 'EEXIST' });
    expect(() => hash.update(u32(3), u64(33), 'exist')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    hash.update(u32(1), u64(12), 'exist');
    expect(hash.lookup(u32(1))?.readBigUInt64LE(0)).toBe(12n);
    expect(hash.keys().map((k) => k.readUInt32LE(0)).sort()).toEqual([1, 2]);
    expect(hash.entries().map((e) => [e.key.readUInt32LE(0), e.value.readBigUInt64LE(0)]).sort()).toEqual([
      [1, 12n],
      [2, 22n],
    ]);
    expect(hash.delete(u32(1))).toBe(true);
    expect(hash.delete(u32(1))).toBe(false);
    expect(hash.lookup(u32(1))).toBeUndefined();
    expect(() => hash.lookup(Buffer.alloc(3))).toThrow(/key of map 'hash_map' must be 4 bytes/);

    const array = coll.map('array_map');
    expect(array.keys()).toHaveLength(16);
    expect(array.lookup(u32(5))?.readBigUInt64LE(0)).toBe(0n);
    array.update(u32(5), u64(55));
    expect(array.lookup(u32(5))?.readBigUInt64LE(0)).toBe(55n);
    expect(() => array.update(u32(16), u64(1))).toThrow(expect.objectContaining({ code: 'E2BIG' }));
    expect(() => array.update(u32(5), u64(1), 'noexist')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  it('finds the longest prefix in an LPM trie', () => {
    const lpm = load().map('lpm_map');
    lpm.update(lpmKey(8, '10.0.0.0'), u32(8));
    lpm.update(lpmKey(16, '10.1.0.0'), u32(16));
    lpm.update(lpmKey(24, '10.1.2.0'), u32(24));
    const match = (ip: string) => lpm.lookup(lpmKey(32, ip))?.readUInt32LE(0);
    expect(match('10.1.2.3')).toBe(24);
    expect(match('10.1.3.3')).toBe(16);
    expect(match('10.9.9.9')).toBe(8);
    expect(match('11.0.0.1')).toBeUndefined();
    expect(lpm.keys()).toHaveLength(3);
    expect(lpm.delete(lpmKey(24, '10.1.2.0'))).toBe(true);
    expect(match('10.1.2.3')).toBe(16);
  });

  it('exchanges one value per possible CPU with per-CPU maps', () => {
    const coll = load();
    const pa = coll.map('pkt_counts');
    expect(pa.isPerCpu).toBe(true);
    expect(pa.possibleCpus).toBeGreaterThanOrEqual(1);
    const zeros = pa.lookupPerCpu(u32(0));
    expect(zeros).toHaveLength(pa.possibleCpus);
    expect(zeros?.every((v) => v.length === 16 && v.every((b) => b === 0))).toBe(true);
    const values = Array.from({ length: pa.possibleCpus }, (_, cpu) => Buffer.concat([u64(cpu + 1), u64((cpu + 1) * 100)]));
    pa.updatePerCpu(u32(1), values);
    expect(pa.lookupPerCpu(u32(1))).toEqual(values);

    // 4-byte values: each CPU's slot is rounded to 8 bytes in the kernel layout.
    const ph = coll.map('percpu_hash_map');
    const small = Array.from({ length: ph.possibleCpus }, (_, cpu) => u32(0xa0 + cpu));
    ph.updatePerCpu(u32(7), small, 'noexist');
    expect(ph.lookupPerCpu(u32(7))).toEqual(small);
    expect(ph.lookup(u32(7))).toHaveLength(8 * ph.possibleCpus);
    expect(() => ph.updatePerCpu(u32(8), [u32(1)].concat(ph.possibleCpus > 1 ? [] : [u32(2)]))).toThrow(/one per possible CPU/);
    expect(() => coll.map('hash_map').lookupPerCpu(u32(1))).toThrow(/not per-CPU/);
  });

  it('batch-updates, batch-looks-up and batch-deletes', () => {
    const coll = load();
    const hash = coll.map('hash_map');
    const entries = Array.from({ length: 100 }, (_, i) => ({ key: u32(i + 1), value: u64(BigInt(i + 1) * 1000n) }));
    hash.batchUpdate(entries, 'noexist');
    const got = hash.batchLookup().map((e) => [e.key.readUInt32LE(0), e.value.readBigUInt64LE(0)] as const);
    expect(got).toHaveLength(100);
    expect(new Map(got)).toEqual(new Map(entries.map((e) => [e.key.readUInt32LE(0), e.value.readBigUInt64LE(0)])));
    expect(() => hash.batchUpdate([{ key: u32(500), value: u64(1) }, { key: u32(1), value: u64(1) }], 'noexist')).toThrow(
      /entries\[1\].*EEXIST/,
    );
    hash.batchUpdate(entries.map((e) => ({ key: e.key, value: u64(7) })));
    expect(hash.lookup(u32(100))?.readBigUInt64LE(0)).toBe(7n);
    expect(hash.delete(u32(500))).toBe(true);
    // Absent keys (1000, 1001) are skipped, not fatal.
    const deleted = hash.batchDelete([...Array.from({ length: 50 }, (_, i) => u32(i + 1)), u32(1000), u32(1001)]);
    expect(deleted).toBe(50);
    expect(hash.keys()).toHaveLength(50);
    expect(hash.batchLookup()).toHaveLength(50);
    // Absent keys between present ones are skipped too, and every present key is deleted.
    expect(hash.batchDelete([u32(51), u32(2000), u32(52), u32(2001), u32(2002), u32(53)])).toBe(3);
    expect(hash.keys()).toHaveLength(47);

    const pa = coll.map('pkt_counts');
    const batch = pa.batchLookup();
    expect(batch).toHaveLength(4);
    expect(batch[0].value).toHaveLength(16 * pa.possibleCpus);
  });

  it('test-runs programs on crafted bytes: retval, output data and duration', () => {
    const coll = load();
    const frame = udpFrame(64);
    const swap = coll.program('xdp_mac_swap');
    expect(swap.typeName).toBe('xdp');
    expect(swap.id).toBeGreaterThan(0);
    // With repeat the program runs again on its own output, so check the rewrite on a single run.
    const r = swap.testRun({ data: frame });
    expect(r.retval).toBe(3); // XDP_TX
    expect(r.data).toHaveLength(64);
    expect(r.data.subarray(0, 6)).toEqual(frame.subarray(6, 12));
    expect(r.data.subarray(6, 12)).toEqual(frame.subarray(0, 6));
    expect(r.data.subarray(12)).toEqual(frame.subarray(12));
    const timed = swap.testRun({ data: frame, repeat: 1000 });
    expect(timed.retval).toBe(3);
    expect(timed.durationNs).toBeGreaterThan(0);
    expect(timed.durationNs).toBeLessThan(1_000_000);

    const tiny = swap.testRun({ data: Buffer.alloc(14) });
    expect(tiny.retval).toBe(3);

    // count_xdp counts the run into slot 2 of the per-CPU array.
    const xdp = coll.program('count_xdp');
    expect(xdp.testRun({ data: frame, repeat: 5 }).retval).toBe(2); // XDP_PASS
    const counts = coll.map('pkt_counts').lookupPerCpu(u32(2)) ?? [];
    const packets = counts.reduce((s, v) => s + v.readBigUInt64LE(0), 0n);
    const bytes = counts.reduce((s, v) => s + v.readBigUInt64LE(8), 0n);
    expect(packets).toBe(5n);
    expect(bytes).toBe(5n * 64n);

    expect(() => xdp.testRun({ data: Buffer.alloc(4) })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('reports a verifier rejection as VerifierError with errno, summary and the whole log', () => {
    const spec = openObject(objectPath('verifier_reject'));
    let err: unknown;
    try {
      spec.load();
    } catch (e) {
      err = e;
    } finally {
      spec.close();
    }
    expect(err).toBeInstanceOf(VerifierError);
    const v = err as VerifierError;
    expect(v).toBeInstanceOf(BpfError);
    expect(v.name).toBe('VerifierError');
    expect(v.code).toBe('EVERIFIER');
    expect(v.errno).toBe(13); // EACCES
    expect(v.program).toBe('read_past_end');
    expect(v.message).toMatch(/verifier rejected program 'read_past_end'/);
    expect(v.message).toMatch(/invalid access to packet/);
    expect(v.log).toMatch(/invalid access to packet/);
    expect(v.log).toMatch(/processed \d+ insns/);
    expect(v.log.split('\n').length).toBeGreaterThan(3);
  });

  it('throws a clear error on use after close', () => {
    const coll = load();
    const hash = coll.map('hash_map');
    const prog = coll.program('count_xdp');
    coll.close();
    expect(hash.fd).toBe(-1);
    expect(() => hash.lookup(u32(1))).toThrow(/map 'hash_map' is closed/);
    expect(() => prog.testRun({ data: udpFrame() })).toThrow(/program 'count_xdp' is closed/);
    hash.close(); // idempotent
  });

  it('reuses an existing map instead of creating one', () => {
    const first = load();
    first.map('hash_map').update(u32(9), u64(99));
    const spec = openObject(objectPath('loader_test'));
    spec.reuseMap('hash_map', first.map('hash_map'));
    const second = spec.load();
    open.push(second);
    spec.close();
    expect(second.map('hash_map').lookup(u32(9))?.readBigUInt64LE(0)).toBe(99n);
    second.map('hash_map').update(u32(10), u64(100));
    expect(first.map('hash_map').lookup(u32(10))?.readBigUInt64LE(0)).toBe(100n);
  });
});
