// Attaching programs to interfaces: tcx (preferred), clsact/cls_bpf where tcx is missing, and XDP links.
import { BpfError, callNative, closedError } from './errors.js';
import { nativeAddon, type NativeLink, type NativeLinkInfo } from './native.js';
import { KernelProgram } from './program.js';
import type { BpfProgram, InterfaceRef, Link, TcDirection, XdpMode } from './types.js';

/** How attachTc attaches: 'auto' prefers tcx and falls back to cls_bpf; the others force one mechanism. */
export type TcAttachMode = 'auto' | 'tcx' | 'cls_bpf';

export interface TcAttachOptions {
  mode?: TcAttachMode;
}

const IFNAMSIZ = 16;

export class KernelLink implements Link {
  private readonly info: NativeLinkInfo;
  private done = false;

  constructor(private readonly handle: NativeLink) {
    this.info = callNative(() => handle.info());
  }

  get kind(): Link['kind'] {
    return this.info.kind;
  }
  get ifindex(): number {
    return this.info.ifindex;
  }

  private live(): NativeLink {
    if (this.done) throw closedError(`${this.kind} link on ifindex ${this.ifindex}`);
    return this.handle;
  }

  update(program: BpfProgram): void {
    const h = this.live();
    const p = nativeProgram(program);
    callNative(() => h.update(p));
  }

  pin(path: string): void {
    const h = this.live();
    callNative(() => h.pin(path));
  }

  detach(): void {
    const h = this.live();
    callNative(() => h.detach());
    this.done = true;
  }

  /**
   * Releases the link object. An unpinned tcx/xdp link detaches with its last fd; a pinned one stays attached;
   * a tc-cls-bpf filter stays attached until detach().
   */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.handle.close();
  }
}

function nativeProgram(program: BpfProgram) {
  if (!(program instanceof KernelProgram)) throw new TypeError('program must be a BpfProgram loaded by this module');
  return program.nativeHandle();
}

function checkRef(ref: InterfaceRef): void {
  if (typeof ref?.ifname !== 'string' || ref.ifname.length === 0 || ref.ifname.length >= IFNAMSIZ) {
    throw new TypeError(`ref.ifname must be an interface name of 1-${IFNAMSIZ - 1} characters, got ${JSON.stringify(ref?.ifname)}`);
  }
  if (ref.netns !== undefined && (typeof ref.netns !== 'string' || !ref.netns.startsWith('/'))) {
    throw new TypeError(`ref.netns must be an absolute namespace path such as /run/netns/NAME, got ${JSON.stringify(ref.netns)}`);
  }
}

let tcxSupported: boolean | undefined;

/** Whether this kernel has tcx links (Linux >= 6.6); probed once, without attaching anything. */
export function kernelSupportsTcx(): boolean {
  if (tcxSupported === undefined) {
    const addon = nativeAddon();
    tcxSupported = callNative(() => addon.NativeLink.probeTcx());
  }
  return tcxSupported;
}

export function attachTc(program: BpfProgram, ref: InterfaceRef, direction: TcDirection, opts: TcAttachOptions = {}): Link {
  checkRef(ref);
  if (direction !== 'ingress' && direction !== 'egress') {
    throw new TypeError(`direction must be 'ingress' or 'egress', got ${JSON.stringify(direction)}`);
  }
  const mode = opts.mode ?? 'auto';
  if (mode !== 'auto' && mode !== 'tcx' && mode !== 'cls_bpf') {
    throw new TypeError(`opts.mode must be 'auto', 'tcx' or 'cls_bpf', got ${JSON.stringify(mode)}`);
  }
  const addon = nativeAddon();
  const p = nativeProgram(program);
  const netns = ref.netns ?? null;
  const viaClsBpf = () => new KernelLink(callNative(() => addon.NativeLink.attachClsBpf(p, ref.ifname, netns, direction)));
  if (mode === 'cls_bpf' || (mode === 'auto' && !kernelSupportsTcx())) return viaClsBpf();
  try {
    return new KernelLink(callNative(() => addon.NativeLink.attachTcx(p, ref.ifname, netns, direction)));
  } catch (err) {
    const unsupported = err instanceof BpfError && (err.code === 'EINVAL' || err.code === 'EOPNOTSUPP');
    if (mode === 'auto' && unsupported) return viaClsBpf();
    throw err;
  }
}

export function attachXdp(program: BpfProgram, ref: InterfaceRef, mode: XdpMode = 'auto'): Link {
  checkRef(ref);
  if (mode !== 'native' && mode !== 'generic' && mode !== 'auto') {
    throw new TypeError(`mode must be 'native', 'generic' or 'auto', got ${JSON.stringify(mode)}`);
  }
  const addon = nativeAddon();
  const p = nativeProgram(program);
  return new KernelLink(callNative(() => addon.NativeLink.attachXdp(p, ref.ifname, ref.netns ?? null, mode)));
}

/** Opens a pinned tcx or XDP link; its detach() also removes that pin. */
export function openPinnedLink(path: string): Link {
  const addon = nativeAddon();
  return new KernelLink(callNative(() => addon.NativeLink.openPinned(path)));
}

/** The ifindex of an interface, looked up inside ref.netns when given. */
export function interfaceIndex(ref: InterfaceRef): number {
  checkRef(ref);
  const addon = nativeAddon();
  return callNative(() => addon.ifindex(ref.ifname, ref.netns ?? null));
}
