// SPDX-License-Identifier: Apache-2.0
// Kernel probes for `doctor`, through our own loader: loading the probe object proves the BPF syscall, the
// privileges and the program types at once; tcx support is asked of the kernel without attaching anything.
import { kernelSupportsTcx, kernelSupportsXdpFrags, openObject } from '../bpf/index.js';
import { bpfObjectPath } from '../paths.js';
import type { KernelProbes } from './checks.js';

interface ProbeOutcome {
  ok: boolean;
  detail: string;
}

function loadProbePrograms(): { tc: ProbeOutcome; xdp: ProbeOutcome } {
  const path = bpfObjectPath('probe.o');
  try {
    const spec = openObject(path);
    try {
      const collection = spec.load();
      const types = [...collection.programs.values()].map((p) => p.typeName);
      collection.close();
      return {
        tc: { ok: types.includes('sched_cls'), detail: `loaded ${types.join(', ')} programs from ${path}` },
        xdp: { ok: types.includes('xdp'), detail: types.includes('xdp') ? 'XDP program loads' : 'no XDP program loaded' },
      };
    } finally {
      spec.close();
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    const failed = { ok: false, detail: `${e.code ? `${e.code}: ` : ''}${e.message.split('\n')[0]}` };
    return { tc: failed, xdp: failed };
  }
}

/** A yes/no feature probe as a doctor row; a probe that throws is a failed row with its message. */
function featureRow(supported: () => boolean, yes: string, no: string): { ok: boolean; detail: string } {
  try {
    return supported() ? { ok: true, detail: yes } : { ok: false, detail: no };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

export function nativeProbes(): KernelProbes {
  let loaded: ReturnType<typeof loadProbePrograms> | undefined;
  const probe = () => (loaded ??= loadProbePrograms());
  return {
    bpfSyscall: () => probe().tc,
    xdp: () => probe().xdp,
    xdpFrags: () => featureRow(kernelSupportsXdpFrags, 'an XDP program loads with BPF_F_XDP_HAS_FRAGS', 'kernel rejects BPF_F_XDP_HAS_FRAGS'),
    tcx: () => featureRow(kernelSupportsTcx, 'BPF_LINK_CREATE knows the tcx attach type', 'kernel does not know tcx attach types'),
  };
}
