// SPDX-License-Identifier: Apache-2.0
// What this kernel supports, asked of the kernel once per process with the smallest programs of bpf/probe.c:
// tcx decides how attachTc attaches (tcx or cls_bpf); XDP frags (BPF_F_XDP_HAS_FRAGS) is what SEC("xdp.frags")
// programs need, reported by doctor.
import { bpfObjectPath } from '../paths.js';
import { BpfError, callNative, isNotSupported } from './errors.js';
import { ENOENT } from './errno.js';
import { nativeAddon, type NativeObject, type NativeProgram } from './native.js';
import { ATTACH_TYPE, PROG_FLAG_XDP_HAS_FRAGS } from './uapi.js';

const ENODEV = 19;
const PROBE_OBJECT = 'probe.o';

/** Loads probe.o with the given program flags and hands its program `name` to use; everything is closed after. */
function withProbeProgram<T>(name: string, flags: number, use: (program: NativeProgram) => T): T {
  const addon = nativeAddon();
  const object: NativeObject = callNative(() => new addon.NativeObject(bpfObjectPath(PROBE_OBJECT)));
  try {
    if (flags !== 0) callNative(() => object.setProgramFlags(name, flags));
    const loaded = callNative(() => object.load());
    try {
      const program = loaded.programs.find(([n]) => n === name)?.[1];
      if (!program) throw new BpfError(`${PROBE_OBJECT} has no program '${name}'`, ENOENT, 'ENOENT');
      return use(program);
    } finally {
      for (const [, m] of loaded.maps) m.close();
      for (const [, p] of loaded.programs) p.close();
    }
  } finally {
    object.close();
  }
}

let tcx: boolean | undefined;

/** Whether this kernel has tcx links (Linux >= 6.6); probed once, without attaching anything. */
export function kernelSupportsTcx(): boolean {
  tcx ??= withProbeProgram('probe_tc', 0, (program) => {
    // ifindex 0 exists nowhere: a tcx-aware kernel says ENODEV, an older one rejects the attach type with EINVAL.
    const errno = callNative(() => nativeAddon().NativeLink.tryLinkCreate(program, 0, ATTACH_TYPE.tcxIngress, 0));
    return errno === 0 || errno === ENODEV;
  });
  return tcx;
}

let xdpFrags: boolean | undefined;

/** Whether this kernel loads XDP programs that declare multi-buffer (frags) support (Linux >= 5.18). */
export function kernelSupportsXdpFrags(): boolean {
  if (xdpFrags === undefined) {
    try {
      xdpFrags = withProbeProgram('probe_xdp', PROG_FLAG_XDP_HAS_FRAGS, () => true);
    } catch (err) {
      if (!isNotSupported(err)) throw err;
      xdpFrags = false;
    }
  }
  return xdpFrags;
}
