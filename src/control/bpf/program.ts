// SPDX-License-Identifier: Apache-2.0
// A loaded BPF program (BpfProgram of types.ts): BPF_PROG_TEST_RUN and pinning.
import { callNative, closedError } from './errors.js';
import { nativeAddon, type NativeProgram, type NativeProgramInfo } from './native.js';
import type { BpfProgram, TestRunOptions, TestRunResult } from './types.js';

const DEFAULT_OUTPUT_HEADROOM = 256;

export class KernelProgram implements BpfProgram {
  private readonly info: NativeProgramInfo;
  private closed = false;

  constructor(private readonly handle: NativeProgram) {
    this.info = callNative(() => handle.info());
  }

  get fd(): number {
    return this.closed ? -1 : this.info.fd;
  }
  get name(): string {
    return this.info.name;
  }
  get type(): number {
    return this.info.type;
  }
  get typeName(): string {
    return this.info.typeName;
  }
  get id(): number {
    return this.info.id;
  }

  /** The native handle, for attaching; throws once closed. */
  nativeHandle(): NativeProgram {
    if (this.closed) throw closedError(`program '${this.name}'`);
    return this.handle;
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}

export function openPinnedProgram(path: string): BpfProgram {
  const addon = nativeAddon();
  return new KernelProgram(callNative(() => addon.NativeProgram.openPinned(path)));
}
