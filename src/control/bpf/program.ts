// SPDX-License-Identifier: Apache-2.0
// A loaded BPF program (BpfProgram of types.ts): BPF_PROG_TEST_RUN and pinning.
import { callNative } from './errors.js';
import { KernelObject } from './kernel-object.js';
import { nativeAddon, type NativeProgram, type NativeProgramInfo } from './native.js';
import type { BpfProgram, TestRunOptions, TestRunResult } from './types.js';

const DEFAULT_OUTPUT_HEADROOM = 256;

export class KernelProgram extends KernelObject<NativeProgramInfo, NativeProgram> implements BpfProgram {
  constructor(handle: NativeProgram) {
    super(handle, 'program');
  }

  /** The native handle, for attaching; throws once closed. */
  nativeHandle(): NativeProgram {
    return this.live();
  }

  testRun(opts: TestRunOptions): TestRunResult {
    const h = this.nativeHandle();
    if (!Buffer.isBuffer(opts.data)) throw new TypeError('testRun: data must be a Buffer');
    const dataSizeOut = opts.dataSizeOut ?? opts.data.length + DEFAULT_OUTPUT_HEADROOM;
    const ctx = opts.ctx ?? null;
    const ctxSizeOut = opts.ctxSizeOut ?? ctx?.length ?? 0;
    const repeat = opts.repeat ?? 1;
    const r = callNative(() => h.testRun(opts.data, dataSizeOut, ctx, ctxSizeOut, repeat, opts.flags ?? 0));
    const result: TestRunResult = { retval: r.retval, data: r.data, durationNs: r.durationNs };
    if (r.ctx) result.ctx = r.ctx;
    return result;
  }

  pin(path: string): void {
    const h = this.nativeHandle();
    callNative(() => h.pin(path));
  }
}

export function openPinnedProgram(path: string): BpfProgram {
  const addon = nativeAddon();
  return new KernelProgram(callNative(() => addon.NativeProgram.openPinned(path)));
}
