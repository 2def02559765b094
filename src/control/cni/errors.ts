// SPDX-License-Identifier: Apache-2.0
// CNI error results. Codes 1-99 are the spec's own (CNI SPEC "Error" section); 100+ are ours. The runtime shows
// `msg` to the user, so every message names the variable, field or object at fault.
import { DatastoreTimeoutError, type DatastoreError } from '../datastore/types.js';
import { safeMessage } from '../printable.js';

export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  /** ADD for a container+interface that is already attached. */
  AlreadyAttached: 100,
  /** A kernel operation (veth, address, route, BPF attach) failed. */
  DataplaneFailure: 101,
  /** IPAM has no address left for this node. */
  AddressExhausted: 102,
  /** The datastore refused or failed a request for a reason that retrying will not fix. */
  DatastoreFailure: 103,
  /** CHECK found the attachment differs from what ADD recorded. */
  CheckFailed: 104,
  /** The address the runtime asked for (CNI_ARGS IP=, runtimeConfig.ips) is outside every pool or already held. */
  AddressUnavailable: 105,
} as const;

/** A store that did not answer in time may answer later (code 11); anything else it refused will not (103). */
export function datastoreFailureCode(err: DatastoreError): CniCodeValue {
  return err instanceof DatastoreTimeoutError ? CniCode.TryAgainLater : CniCode.DatastoreFailure;
}

export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

export class CniError extends Error {
  override name = 'CniError';
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
  }
}

export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** The runtime shows msg and details to people: credentials redacted, control characters (K8S_POD_NAME) escaped. */
export function errorJson(cniVersion: string, err: CniError): CniErrorJson {
  const out: CniErrorJson = { cniVersion, code: err.code, msg: safeMessage(err.message) };
  if (err.details) out.details = safeMessage(err.details);
  return out;
}

const TIMEOUT_NAMES = /timeout|timedout|deadline/i;
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ETIME', 'ABORT_ERR', 'UND_ERR_CONNECT_TIMEOUT']);
const TIMEOUT_TEXT = /timed? ?out|deadline (exceeded|passed)|did not answer within|DEADLINE_EXCEEDED/i;

/**
 * Does the error (or one it wraps, through `cause`) say that something did not answer in time? The datastore
 * layer's own timeout error, gRPC/etcd deadlines and socket timeouts all qualify, whatever their class: the
 * runtime is then told to try again later (code 11) rather than that the request was wrong.
 */
export function looksLikeTimeout(err: unknown): boolean {
  if (err instanceof CniError) return err.code === CniCode.TryAgainLater;
  if (err instanceof DatastoreTimeoutError) return true;
  let e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++, e = e.cause as typeof e) {
    if (typeof e.name === 'string' && TIMEOUT_NAMES.test(e.name)) return true;
    if (typeof e.code === 'string' && TIMEOUT_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && TIMEOUT_TEXT.test(e.message)) return true;
  }
  return false;
}
