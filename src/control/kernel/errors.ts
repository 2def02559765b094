// Errors of the kernel layer. Native failures carry errno; a verifier rejection also carries the whole log.

export class BpfError extends Error {
  override name = 'BpfError';
  constructor(
    message: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(message);
  }
}

export class VerifierError extends BpfError {
  override name = 'VerifierError';
  constructor(
    message: string,
    errno: number,
    /** The verifier's complete log for the rejected program. */
    readonly log: string,
    /** Name of the rejected program. */
    readonly program: string,
  ) {
    super(message, errno, 'EVERIFIER');
  }
}

interface NativeErrorShape {
  message: string;
  errno?: number;
  code?: string;
  name?: string;
  log?: string;
  program?: string;
}

/** Turns an error thrown by the addon into BpfError/VerifierError; argument errors (TypeError, RangeError) pass. */
export function fromNative(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof BpfError) return err;
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const e = err as NativeErrorShape;
  if (e.code === 'EVERIFIER') return new VerifierError(e.message, e.errno ?? 0, e.log ?? '', e.program ?? '');
  return new BpfError(e.message, e.errno ?? 0, e.code ?? 'EBPF');
}

/** Runs a native call, converting what it throws. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

export function closedError(what: string): BpfError {
  return new BpfError(`${what} is closed`, 9, 'EBADF');
}
