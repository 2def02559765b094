// SPDX-License-Identifier: Apache-2.0
// Opening BPF object files into specs, adjusting them, and loading them into collections.
import { BpfError, callNative } from './errors.js';
import { KernelMap } from './map.js';
import { nativeAddon, type NativeObject, type NativeObjectSpec } from './native.js';
import { KernelProgram } from './program.js';
import type {
  BpfMap,
  BpfProgram,
  Collection,
  MapSpec,
  ObjectSpec,
  OpenOptions,
  ProgramSpec,
  VariableSpec,
} from './types.js';

export class KernelCollection implements Collection {
  constructor(
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, BpfProgram>,
    private readonly source: string,
  ) {}

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new BpfError(`${this.source} has no map '${name}' (maps: ${[...this.maps.keys()].join(', ')})`, 2, 'ENOENT');
    return m;
  }

  program(name: string): BpfProgram {
    const p = this.programs.get(name);
    if (!p) {
      throw new BpfError(`${this.source} has no program '${name}' (programs: ${[...this.programs.keys()].join(', ')})`, 2, 'ENOENT');
    }
    return p;
  }

  close(): void {
    for (const m of this.maps.values()) m.close();
    for (const p of this.programs.values()) p.close();
  }
}

class KernelObjectSpec implements ObjectSpec {
  private spec: NativeObjectSpec;
  private state: 'open' | 'loaded' | 'spent by a failed load' | 'closed' = 'open';

  constructor(
    readonly path: string,
    private readonly handle: NativeObject,
  ) {
    this.spec = callNative(() => handle.spec());
  }

  get maps(): MapSpec[] {
    return this.spec.maps.map((m) => ({
      name: m.name,
      type: m.type,
      typeName: m.typeName,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      pinning: m.pinning,
    }));
  }

  get programs(): ProgramSpec[] {
    return this.spec.programs.map((p) => ({ ...p }));
  }

  get variables(): VariableSpec[] {
    return this.spec.variables.map((v) => ({ ...v }));
  }

  private open(action: string): NativeObject {
    if (this.state !== 'open') throw new BpfError(`cannot ${action}: ${this.path} is ${this.state}`, 9, 'EBADF');
    return this.handle;
  }

  setVariable(name: string, value: Buffer): void {
    const h = this.open(`set variable '${name}'`);
    const v = this.spec.variables.find((x) => x.name === name);
    if (!v) {
      throw new BpfError(`${this.path} has no global variable '${name}' (variables: ${this.spec.variables.map((x) => x.name).join(', ')})`, 2, 'ENOENT');
    }
    if (!Buffer.isBuffer(value) || value.length !== v.size) {
      throw new RangeError(`value of variable '${name}' must be a Buffer of ${v.size} bytes, got ${Buffer.isBuffer(value) ? value.length : typeof value}`);
    }
    callNative(() => h.setVariable(name, value));
  }

  setMapMaxEntries(name: string, maxEntries: number): void {
    const h = this.open(`resize map '${name}'`);
    this.requireMap(name);
    if (!Number.isInteger(maxEntries) || maxEntries <= 0 || maxEntries > 0xffffffff) {
      throw new RangeError(`maxEntries of map '${name}' must be a positive 32-bit integer, got ${maxEntries}`);
    }
    callNative(() => h.setMapMaxEntries(name, maxEntries));
    this.spec = callNative(() => h.spec());
  }

  reuseMap(name: string, map: BpfMap): void {
    const h = this.open(`reuse map '${name}'`);
    this.requireMap(name);
    if (map.fd < 0) throw new BpfError(`cannot reuse map '${name}': the given map is closed`, 9, 'EBADF');
    callNative(() => h.reuseMap(name, map.fd));
  }

  load(): Collection {
    const h = this.open('load');
    let loaded;
    try {
      loaded = callNative(() => h.load());
    } catch (err) {
      // libbpf cannot load an object twice: the native side has already released it.
      this.state = 'spent by a failed load';
      throw err;
    }
    this.state = 'loaded';
    return new KernelCollection(
      new Map(loaded.maps.map(([name, m]) => [name, new KernelMap(m)])),
      new Map(loaded.programs.map(([name, p]) => [name, new KernelProgram(p)])),
      this.path,
    );
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.handle.close();
  }

  private requireMap(name: string): void {
    if (!this.spec.maps.some((m) => m.name === name)) {
      throw new BpfError(`${this.path} has no map '${name}' (maps: ${this.spec.maps.map((m) => m.name).join(', ')})`, 2, 'ENOENT');
    }
  }
}

/** Opens a BPF object file (not yet loaded). */
export function openObject(path: string, opts: OpenOptions = {}): ObjectSpec {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  if (opts.pinRoot !== undefined && (typeof opts.pinRoot !== 'string' || !opts.pinRoot.startsWith('/'))) {
    throw new TypeError(`opts.pinRoot must be an absolute directory path, got ${JSON.stringify(opts.pinRoot)}`);
  }
  const addon = nativeAddon();
  const handle = callNative(() => new addon.NativeObject(path, opts.pinRoot));
  return new KernelObjectSpec(path, handle);
}
