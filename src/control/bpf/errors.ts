// SPDX-License-Identifier: Apache-2.0
// Errors of the kernel layer. The native addon throws plain Errors with the operation as message, a bare errno
// and, for loads, what libbpf printed; here they become BpfError (errno named and worded) or, when the verifier
// rejected a program, VerifierError with the whole verifier log.
import { EBADF, errnoName, errnoText } from './errno.js';
import { libbpfTail, parseVerifierRejection } from './verifier-log.js';

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
  /** What libbpf printed during the failed call (object open and load). */
  log?: string;
}

/** A BpfError for errno: "<what>: <strerror> (<ENAME>)". */
export function errnoError(what: string, errno: number): BpfError {
  return new BpfError(`${what}: ${errnoText(errno)} (${errnoName(errno)})`, errno, errnoName(errno));
}

/** Turns an error thrown by the addon into BpfError/VerifierError; argument errors (TypeError, RangeError) pass. */
export function fromNative(err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof BpfError) return err;
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const e = err as NativeErrorShape;
  if (e.errno === undefined) return new BpfError(e.message, 0, 'EBPF');
  if (e.log !== undefined) {
    const rejection = parseVerifierRejection(e.log);
    if (rejection) {
      return new VerifierError(
        `verifier rejected program '${rejection.program}' (${e.message}): ${rejection.summary} (${errnoText(e.errno)})`,
        e.errno,
        rejection.log,
        rejection.program,
      );
    }
    const tail = libbpfTail(e.log, 3);
    return errnoError(`${e.message}${tail ? ` [libbpf: ${tail}]` : ''}`, e.errno);
  }
  return errnoError(e.message, e.errno);
}

/** Runs a native call, converting what it throws. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/** Whether err says the kernel lacks the feature asked for (rather than that the request was wrong). */
export function isNotSupported(err: unknown): boolean {
  return err instanceof BpfError && (err.code === 'EINVAL' || err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUPP');
}

export function closedError(what: string): BpfError {
  return new BpfError(`${what} is closed`, EBADF, errnoName(EBADF));
}
