// SPDX-License-Identifier: Apache-2.0
// Attaching programs to interfaces: tcx (preferred), clsact/cls_bpf where tcx is missing, and XDP links.
import { unlinkSync } from 'node:fs';
import { BpfError, callNative, closedError, errnoError, isNotSupported } from './errors.js';
import { kernelSupportsTcx } from './features.js';
import { nativeAddon, type NativeLink, type NativeLinkInfo } from './native.js';
import { KernelProgram } from './program.js';
import type { BpfProgram, InterfaceRef, Link, TcDirection, XdpMode } from './types.js';
import { ATTACH_TYPE, LINK_TYPE, XDP_ATTACH_FLAGS } from './uapi.js';

/** How attachTc attaches: 'auto' prefers tcx and falls back to cls_bpf; the others force one mechanism. */
export type TcAttachMode = 'auto' | 'tcx' | 'cls_bpf';

export interface TcAttachOptions {
  mode?: TcAttachMode;
}

const IFNAMSIZ = 16;

/**
 * Errnos of a detach whose attachment is already gone: a bpf_link whose interface was deleted is defunct
 * (ENOLINK/ENODEV); a cls_bpf filter went with its interface or namespace (netlink and setns answer these).
 */
const GONE: Record<Link['kind'], ReadonlySet<string>> = {
  tcx: new Set(['ENOLINK', 'ENODEV']),
  xdp: new Set(['ENOLINK', 'ENODEV']),
  'tc-cls-bpf': new Set(['ENOENT', 'ENODEV', 'EINVAL']),
};

function kindOf(info: NativeLinkInfo): Link['kind'] {
  if (info.kind === 'cls_bpf') return 'tc-cls-bpf';
  if (info.linkType === LINK_TYPE.tcx) return 'tcx';
  if (info.linkType === LINK_TYPE.xdp) return 'xdp';
  throw new BpfError(`link on ifindex ${info.ifindex} is of kernel link type ${info.linkType}, not tcx or xdp`, 22, 'EINVAL');
}

export class KernelLink implements Link {
  readonly kind: Link['kind'];
  private readonly info: NativeLinkInfo;
  private done = false;

  /** pinPath: where this link is pinned, when it was opened from a pin. */
  constructor(
    private readonly handle: NativeLink,
    private pinPath?: string,
  ) {
    this.info = callNative(() => handle.info());
    try {
      this.kind = kindOf(this.info);
    } catch (err) {
      handle.close();
      throw err;
    }
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
    if (this.kind === 'tc-cls-bpf') {
      throw new BpfError('a tc-cls-bpf attachment is a netlink filter, not a bpf_link: it cannot be pinned (it stays attached until detached)', 22, 'EINVAL');
    }
    callNative(() => h.pin(path));
    this.pinPath = path;
  }

  /** Removes the pin this link was pinned at or opened from (if any); an fd still held keeps it attached. */
  unpin(): void {
    if (this.pinPath === undefined) return;
    try {
      unlinkSync(this.pinPath);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'ENOENT') throw errnoError(`remove link pin ${this.pinPath}`, Math.abs(e.errno ?? 0));
    }
    this.pinPath = undefined;
  }

  /** Detaches (an attachment whose interface or namespace is gone counts as detached), then unpins. */
  detach(): void {
    const h = this.live();
    try {
      callNative(() => h.detach());
    } catch (err) {
      if (!(err instanceof BpfError && GONE[this.kind].has(err.code))) throw err;
    }
    h.close();
    this.done = true;
    this.unpin();
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
  const ingress = direction === 'ingress';
  const viaClsBpf = () => new KernelLink(callNative(() => addon.NativeLink.attachClsBpf(p, ref.ifname, netns, ingress)));
  if (mode === 'cls_bpf' || (mode === 'auto' && !kernelSupportsTcx())) return viaClsBpf();
  const attachType = ingress ? ATTACH_TYPE.tcxIngress : ATTACH_TYPE.tcxEgress;
  try {
    return new KernelLink(callNative(() => addon.NativeLink.attachBpfLink(p, ref.ifname, netns, attachType, 0)));
  } catch (err) {
    if (mode === 'auto' && isNotSupported(err)) return viaClsBpf();
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
  return new KernelLink(callNative(() => addon.NativeLink.attachBpfLink(p, ref.ifname, ref.netns ?? null, ATTACH_TYPE.xdp, XDP_ATTACH_FLAGS[mode])));
}

/** Opens a pinned tcx or XDP link; its detach() also removes that pin. */
export function openPinnedLink(path: string): Link {
  const addon = nativeAddon();
  return new KernelLink(
    callNative(() => addon.NativeLink.openPinned(path)),
    path,
  );
}

/** The ifindex of an interface, looked up inside ref.netns when given. */
export function interfaceIndex(ref: InterfaceRef): number {
  checkRef(ref);
  const addon = nativeAddon();
  return callNative(() => addon.ifindex(ref.ifname, ref.netns ?? null));
}
