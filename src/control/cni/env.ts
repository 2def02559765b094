// SPDX-License-Identifier: Apache-2.0
// The CNI_* environment a runtime passes, checked per command as the spec requires: which variables are
// mandatory depends on the command (DEL may come without a netns; VERSION and GC need no container at all).
import { CniCode, CniError } from './errors.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'] as const;
export type CniCommand = (typeof COMMANDS)[number];

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  /** Absent for DEL when the runtime no longer has the namespace. */
  netns?: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, ...). */
  args: Record<string, string>;
  path: string[];
}

const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  VERSION: [],
  GC: [],
  STATUS: [],
};

function envError(variable: string, problem: string): CniError {
  return new CniError(CniCode.InvalidEnvironment, `${variable}: ${problem}`);
}

export function parseCommand(value: string | undefined): CniCommand {
  if (value === undefined || value === '') throw envError('CNI_COMMAND', `must be set (one of ${COMMANDS.join(', ')})`);
  if (!(COMMANDS as readonly string[]).includes(value)) {
    throw envError('CNI_COMMAND', `"${value}" is not a CNI command (one of ${COMMANDS.join(', ')})`);
  }
  return value as CniCommand;
}

/** "K1=V1;K2=V2" as the spec defines it; an element without "=" is an error, not something to skip. */
export function parseCniArgs(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const pair of value.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw envError('CNI_ARGS', `"${pair}" is not KEY=VALUE (expected "K1=V1;K2=V2")`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** The spec's container ID rule: non-empty, alphanumerics plus "_", "-" and ".", starting alphanumeric. */
export function checkContainerId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) {
    throw envError('CNI_CONTAINERID', `"${id}" must be alphanumerics, "_", "-" or "." and start with an alphanumeric`);
  }
}

/**
 * Interface names the kernel accepts (dev_valid_name: at most 15 bytes, not "." or "..", no "/", ":" or
 * whitespace) that are also safe to hand to `ip`: no "#" or control characters, and no "%", which the kernel
 * treats as a template ("eth%d" would become some other name than the one asked for).
 */
export function checkIfname(name: string): void {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > 15) throw envError('CNI_IFNAME', `${JSON.stringify(name)} is longer than 15 bytes`);
  if (name === '.' || name === '..' || /[\s/:#%\p{Cc}]/u.test(name)) {
    throw envError(
      'CNI_IFNAME',
      `${JSON.stringify(name)} is not a valid interface name (no "/", ":", "#", "%", whitespace or control characters; not "." or "..")`,
    );
  }
}

export function parseEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = parseCommand(env.CNI_COMMAND);
  const missing = REQUIRED[command].filter((v) => !env[v]);
  if (missing.length > 0) {
    throw new CniError(CniCode.InvalidEnvironment, `CNI_COMMAND ${command} needs ${missing.join(', ')} (not set or empty)`);
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (containerId) checkContainerId(containerId);
  // DEL never hands CNI_IFNAME to a tool (names derive from a hash of it), and must always be able to remove an
  // attachment an earlier, laxer version made: only ADD and CHECK insist on a valid name.
  if (ifname && command !== 'DEL') checkIfname(ifname);
  const netns = env.CNI_NETNS || undefined;
  if (netns !== undefined && !netns.startsWith('/')) throw envError('CNI_NETNS', `"${netns}" must be an absolute path`);
  return {
    command,
    containerId,
    netns,
    ifname,
    args: parseCniArgs(env.CNI_ARGS),
    path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
  };
}

/** Kubernetes names are DNS-1123 (at most 253 characters); anything longer is not a pod's name. */
const MAX_POD_FIELD = 253;

function podField(args: Record<string, string>, key: string): string | undefined {
  const value = args[key];
  if (!value) return undefined;
  // Stored in the WorkloadEndpoint, shown in tables and logs: a control character there could forge lines.
  const control = /[\p{Cc}\u2028\u2029]/u.exec(value);
  if (control) {
    const code = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw envError('CNI_ARGS', `${key} contains the control character U+${code} (${JSON.stringify(value)})`);
  }
  if (value.length > MAX_POD_FIELD) throw envError('CNI_ARGS', `${key} is longer than ${MAX_POD_FIELD} characters`);
  return value;
}

/** Kubernetes pod identity as kubelet passes it in CNI_ARGS; control characters are refused, never stored. */
export function podIdentity(args: Record<string, string>): { pod?: string; namespace?: string } {
  return {
    pod: podField(args, 'K8S_POD_NAME'),
    namespace: podField(args, 'K8S_POD_NAMESPACE'),
  };
}
