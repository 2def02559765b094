// SPDX-License-Identifier: Apache-2.0
// A loaded BPF map (BpfMap of types.ts) over the native map: byte-level element and batch operations, with
// per-CPU values split into one Buffer per possible CPU.
import { ENOENT } from './errno.js';
import { BpfError, callNative, errnoError } from './errors.js';
import { KernelObject } from './kernel-object.js';
import { updateFlagValue } from './flags.js';
import { nativeAddon, type NativeMap, type NativeMapInfo } from './native.js';
import type { BpfMap, MapEntry, UpdateFlag } from './types.js';

export class KernelMap extends KernelObject<NativeMapInfo, NativeMap> implements BpfMap {
  constructor(handle: NativeMap) {
    super(handle, 'map');
  }

  get keySize(): number {
    return this.info.keySize;
  }
  get valueSize(): number {
    return this.info.valueSize;
  }
  get maxEntries(): number {
    return this.info.maxEntries;
  }
  get isPerCpu(): boolean {
    return this.info.isPerCpu;
  }
  get possibleCpus(): number {
    return this.info.possibleCpus;
  }

  /** On a per-CPU map, the value comes back in the kernel layout: 8-byte-rounded slots, one per CPU. */
  lookup(key: Buffer): Buffer | undefined {
    const h = this.live();
    return callNative(() => h.lookup(key));
  }

  /** On a per-CPU map, value must be in the kernel layout (see lookup); prefer updatePerCpu. */
  update(key: Buffer, value: Buffer, flag?: UpdateFlag): void {
    const h = this.live();
    const flags = updateFlagValue(flag);
    callNative(() => h.update(key, value, flags));
  }

  delete(key: Buffer): boolean {
    const h = this.live();
    return callNative(() => h.delete(key));
  }

  lookupPerCpu(key: Buffer): Buffer[] | undefined {
    this.requirePerCpu('lookupPerCpu');
    const raw = this.lookup(key);
    return raw && this.splitPerCpu(raw);
  }

  updatePerCpu(key: Buffer, values: Buffer[], flag?: UpdateFlag): void {
    this.requirePerCpu('updatePerCpu');
    if (values.length !== this.possibleCpus) {
      throw new RangeError(`values for per-CPU map '${this.name}' must number ${this.possibleCpus} (one per possible CPU), got ${values.length}`);
    }
    const stride = this.perCpuStride();
    const raw = Buffer.alloc(stride * values.length);
    values.forEach((v, cpu) => {
      if (v.length !== this.valueSize) {
        throw new RangeError(`values[${cpu}] for map '${this.name}' must be ${this.valueSize} bytes, got ${v.length}`);
      }
      v.copy(raw, cpu * stride);
    });
    this.update(key, raw, flag);
  }

  keys(): Buffer[] {
    const h = this.live();
    return callNative(() => h.keys());
  }

  entries(): MapEntry[] {
    const out: MapEntry[] = [];
    for (const key of this.keys()) {
      // A key deleted between listing and lookup is simply no longer an entry.
      const value = this.lookup(key);
      if (value) out.push({ key, value });
    }
    return out;
  }

  batchLookup(): MapEntry[] {
    const h = this.live();
    const { keys, values, count } = callNative(() => h.lookupBatch());
    const vsize = this.info.valueBufSize;
    const out: MapEntry[] = [];
    for (let i = 0; i < count; i++) {
      out.push({
        key: keys.subarray(i * this.keySize, (i + 1) * this.keySize),
        value: values.subarray(i * vsize, (i + 1) * vsize),
      });
    }
    return out;
  }

  batchUpdate(entries: MapEntry[], flag?: UpdateFlag): void {
    const h = this.live();
    const flags = updateFlagValue(flag);
    entries.forEach((e, i) => {
      if (e.key.length !== this.keySize) throw new RangeError(`entries[${i}].key must be ${this.keySize} bytes, got ${e.key.length}`);
      if (e.value.length !== this.info.valueBufSize) {
        throw new RangeError(`entries[${i}].value must be ${this.info.valueBufSize} bytes, got ${e.value.length}`);
      }
    });
    if (flags !== 0) {
      // The kernel's batch update accepts no BPF_NOEXIST/BPF_EXIST (only BPF_F_LOCK), so those go one by one.
      entries.forEach((e, i) => {
        try {
          callNative(() => h.update(e.key, e.value, flags));
        } catch (err) {
          if (err instanceof BpfError) throw new BpfError(`batchUpdate entries[${i}]: ${err.message}`, err.errno, err.code);
          throw err;
        }
      });
      return;
    }
    const keys = Buffer.concat(entries.map((e) => e.key));
    const values = Buffer.concat(entries.map((e) => e.value));
    callNative(() => h.updateBatch(keys, values, entries.length, 0));
  }

  batchDelete(keys: Buffer[]): number {
    const h = this.live();
    keys.forEach((k, i) => {
      if (k.length !== this.keySize) throw new RangeError(`keys[${i}] must be ${this.keySize} bytes, got ${k.length}`);
    });
    if (keys.length === 0) return 0;
    const all = Buffer.concat(keys);
    let done = 0;
    let deleted = 0;
    // The kernel stops at the first absent key; skip it and carry on, so that "delete these keys" means all of them.
    while (done < keys.length) {
      const from = done;
      const r = callNative(() => h.deleteBatch(all.subarray(from * this.keySize), keys.length - from));
      deleted += r.deleted;
      done += r.deleted;
      if (r.errno === 0) break;
      if (r.errno !== ENOENT) throw errnoError(`batch delete in map '${this.name}'`, r.errno);
      done++;
    }
    return deleted;
  }

  pin(path: string): void {
    const h = this.live();
    callNative(() => h.pin(path));
  }

  private perCpuStride(): number {
    return (this.valueSize + 7) & ~7;
  }

  private splitPerCpu(raw: Buffer): Buffer[] {
    const stride = this.perCpuStride();
    const out: Buffer[] = [];
    for (let cpu = 0; cpu < this.possibleCpus; cpu++) out.push(raw.subarray(cpu * stride, cpu * stride + this.valueSize));
    return out;
  }

  private requirePerCpu(op: string): void {
    if (!this.isPerCpu) throw new BpfError(`${op}: map '${this.name}' (${this.typeName}) is not per-CPU`, 22, 'EINVAL');
  }
}

export function openPinnedMap(path: string): BpfMap {
  const addon = nativeAddon();
  return new KernelMap(callNative(() => addon.NativeMap.openPinned(path)));
}
