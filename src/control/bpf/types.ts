// SPDX-License-Identifier: Apache-2.0
// The typed surface of the native loader (native/, libbpf underneath), modelled on cilium/ebpf:
// open an object file into a spec, adjust it, load it into a collection of maps and programs, attach
// programs through links. Every object that holds a file descriptor has close(); finalizers are a safety net.

export type UpdateFlag = 'any' | 'noexist' | 'exist';

export interface MapSpec {
  name: string;
  type: number; // enum bpf_map_type
  typeName: string; // e.g. "lpm_trie", "percpu_array"
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  pinning: 'none' | 'by_name';
}

export interface ProgramSpec {
  name: string;
  section: string;
  type: number; // enum bpf_prog_type
  typeName: string; // e.g. "sched_cls", "xdp"
}

export interface VariableSpec {
  name: string;
  section: string; // ".rodata", ".data", ".bss"
  offset: number;
  size: number;
}

export interface OpenOptions {
  /** libbpf pin_root_path: maps declared with LIBBPF_PIN_BY_NAME are pinned there, or reused when pinned. */
  pinRoot?: string;
}

/** An opened, not yet loaded, BPF object file. */
export interface ObjectSpec {
  readonly path: string;
  readonly maps: MapSpec[];
  readonly programs: ProgramSpec[];
  readonly variables: VariableSpec[];
  /** Sets a global (.rodata constant or .data/.bss) before load; value must be exactly the variable's size. */
  setVariable(name: string, value: Buffer): void;
  setMapMaxEntries(name: string, maxEntries: number): void;
  /** Makes the object use an existing map instead of creating its own (bpf_map__reuse_fd). */
  reuseMap(name: string, map: BpfMap): void;
  /** Loads into the kernel. Throws VerifierError (with the whole log) when the verifier rejects a program. */
  load(): Collection;
  close(): void;
}

export interface Collection {
  readonly maps: ReadonlyMap<string, BpfMap>;
  readonly programs: ReadonlyMap<string, BpfProgram>;
  map(name: string): BpfMap; // throws when absent
  program(name: string): BpfProgram; // throws when absent
  close(): void;
}

export interface MapEntry {
  key: Buffer;
  value: Buffer;
}

export interface BpfMap {
  readonly fd: number;
  readonly name: string;
  readonly type: number;
  readonly typeName: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly isPerCpu: boolean;
  /** Number of possible CPUs: how many values a per-CPU lookup returns. */
  readonly possibleCpus: number;
  lookup(key: Buffer): Buffer | undefined;
  update(key: Buffer, value: Buffer, flag?: UpdateFlag): void;
  /** Returns false when the key was absent. */
  delete(key: Buffer): boolean;
  lookupPerCpu(key: Buffer): Buffer[] | undefined;
  updatePerCpu(key: Buffer, values: Buffer[], flag?: UpdateFlag): void;
  keys(): Buffer[];
  entries(): MapEntry[];
  /** BPF_MAP_LOOKUP_BATCH over the whole map (per-CPU values come back concatenated per key). */
  batchLookup(): MapEntry[];
  batchUpdate(entries: MapEntry[], flag?: UpdateFlag): void;
  /** Returns how many keys were deleted. */
  batchDelete(keys: Buffer[]): number;
  pin(path: string): void;
  close(): void;
}

export interface TestRunOptions {
  data: Buffer;
  /** Size of the output buffer; default data.length + 256 (room for encapsulation). */
  dataSizeOut?: number;
  ctx?: Buffer;
  ctxSizeOut?: number;
  repeat?: number;
  flags?: number;
}

export interface TestRunResult {
  retval: number;
  data: Buffer;
  ctx?: Buffer;
  /** Average duration of one run in nanoseconds, as the kernel reports it. */
  durationNs: number;
}

export interface BpfProgram {
  readonly fd: number;
  readonly name: string;
  readonly type: number;
  readonly typeName: string;
  /** The kernel's program id (stable across fds). */
  readonly id: number;
  testRun(opts: TestRunOptions): TestRunResult;
  pin(path: string): void;
  close(): void;
}

export type TcDirection = 'ingress' | 'egress';
export type XdpMode = 'native' | 'generic' | 'auto';

export interface InterfaceRef {
  ifname: string;
  /** A network namespace path such as /run/netns/NAME; absent means the caller's namespace. */
  netns?: string;
}

export interface Link {
  readonly kind: 'tcx' | 'tc-cls-bpf' | 'xdp';
  readonly ifindex: number;
  /** Atomically replaces the attached program; traffic never sees a moment without one. */
  update(program: BpfProgram): void;
  pin(path: string): void;
  /** Removes the pin this link was pinned at or opened from, if any; the attachment stays while an fd holds it. */
  unpin(): void;
  /** Removes the attachment, then unpin(). */
  detach(): void;
  close(): void;
}
