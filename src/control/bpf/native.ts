// SPDX-License-Identifier: Apache-2.0
// Loads the native addon (build/Release/bpf_overlay_native.node, under the package root) and types its surface.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';

/** What a map is, as an object file declares it and as the kernel reports it once loaded. */
export interface NativeMapShape {
  name: string;
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

export interface NativeMapInfo extends NativeMapShape {
  fd: number;
  id: number;
  isPerCpu: boolean;
  possibleCpus: number;
  /** Bytes of one value as the kernel exchanges it: valueSize, or 8-byte-rounded valueSize x CPUs. */
  valueBufSize: number;
}

export interface NativeMap {
  info(): NativeMapInfo;
  lookup(key: Buffer): Buffer | undefined;
  update(key: Buffer, value: Buffer, flags: number): void;
  delete(key: Buffer): boolean;
  nextKey(key: Buffer | null): Buffer | undefined;
  keys(): Buffer[];
  lookupBatch(): { keys: Buffer; values: Buffer; count: number };
  updateBatch(keys: Buffer, values: Buffer, count: number, flags: number): void;
  /** One BPF_MAP_DELETE_BATCH: it stops at the first key it cannot delete (errno), after `deleted` keys. */
  deleteBatch(keys: Buffer, count: number): { deleted: number; errno: number };
  pin(path: string): void;
  close(): void;
}

export interface NativeProgramInfo {
  fd: number;
  name: string;
  type: number;
  typeName: string;
  id: number;
}

export interface NativeTestRunResult {
  retval: number;
  durationNs: number;
  data: Buffer;
  dataSizeOut: number;
  ctx?: Buffer;
}

export interface NativeProgram {
  info(): NativeProgramInfo;
  testRun(
    data: Buffer,
    dataSizeOut: number,
    ctx: Buffer | null,
    ctxSizeOut: number,
    repeat: number,
    flags: number,
  ): NativeTestRunResult;
  pin(path: string): void;
  close(): void;
}

export interface NativeLinkInfo {
  /** A bpf_link (tcx, XDP: has an fd, pinnable) or a netlink cls_bpf filter. */
  kind: 'bpf_link' | 'cls_bpf';
  /** bpf_link only: the kernel's enum bpf_link_type. */
  linkType?: number;
  ifindex: number;
  fd: number;
  handle?: number;
  priority?: number;
}

/** Native failures are Errors with the operation as message, a positive errno and, for loads, libbpf's output. */
export interface NativeLink {
  info(): NativeLinkInfo;
  update(program: NativeProgram): void;
  pin(path: string): void;
  /** Detaches only; a pin is a file the caller removes. */
  detach(): void;
  close(): void;
}

export interface NativeMapSpec extends NativeMapShape {
  pinning: 'none' | 'by_name';
  pinPath?: string;
  internal: boolean;
}

export interface NativeObjectSpec {
  maps: NativeMapSpec[];
  programs: { name: string; section: string; type: number; typeName: string }[];
  variables: { name: string; section: string; offset: number; size: number }[];
}

export interface NativeObject {
  spec(): NativeObjectSpec;
  setVariable(name: string, value: Buffer): void;
  setMapMaxEntries(name: string, maxEntries: number): void;
  setProgramFlags(name: string, flags: number): void;
  reuseMap(name: string, fd: number): void;
  load(): { maps: [string, NativeMap][]; programs: [string, NativeProgram][] };
  close(): void;
}

export interface NativeAddon {
  NativeObject: new (path: string, pinRoot?: string) => NativeObject;
  NativeMap: { openPinned(path: string): NativeMap };
  NativeProgram: { openPinned(path: string): NativeProgram };
  NativeLink: {
    attachBpfLink(program: NativeProgram, ifname: string, netns: string | null, attachType: number, flags: number): NativeLink;
    attachClsBpf(program: NativeProgram, ifname: string, netns: string | null, ingress: boolean): NativeLink;
    openPinned(path: string): NativeLink;
    /** 0 when BPF_LINK_CREATE succeeded (the link is closed at once), else its errno. */
    tryLinkCreate(program: NativeProgram, ifindex: number, attachType: number, flags: number): number;
  };
  ifindex(ifname: string, netns?: string | null): number;
  possibleCpus(): number;
}

let addon: NativeAddon | undefined;

export function nativeAddon(): NativeAddon {
  if (addon) return addon;
  const path = join(packageRoot(), 'build', 'Release', 'bpf_overlay_native.node');
  if (!existsSync(path)) {
    throw new Error(`native addon missing at ${path}: build it with "npm run build:native" (needs libbpf-dev)`);
  }
  addon = createRequire(import.meta.url)(path) as NativeAddon;
  return addon;
}
