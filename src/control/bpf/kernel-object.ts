// SPDX-License-Identifier: Apache-2.0
// What a loaded map and a loaded program share: the kernel's description of the object, read once from the
// native handle, and a handle that refuses every use once closed (fd -1, a "closed" error naming the object).
import { callNative, closedError } from './errors.js';

export interface KernelObjectInfo {
  fd: number;
  name: string;
  type: number;
  typeName: string;
  id: number;
}

export abstract class KernelObject<I extends KernelObjectInfo, H extends { info(): I; close(): void }> {
  protected readonly info: I;
  private closed = false;

  /** `what` names the object in errors: "map", "program". */
  constructor(
    protected readonly handle: H,
    private readonly what: string,
  ) {
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
  /** Kernel id of the object (the same for every fd of it). */
  get id(): number {
    return this.info.id;
  }

  /** The native handle; throws once closed. */
  protected live(): H {
    if (this.closed) throw closedError(`${this.what} '${this.name}'`);
    return this.handle;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}
