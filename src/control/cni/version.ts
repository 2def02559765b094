// SPDX-License-Identifier: Apache-2.0
// CNI spec versions this plugin speaks and how a version string compares. Result shapes differ only in details
// between 0.3.0 and 1.1.0 (see result.ts), so one implementation serves all of them.
import { CniCode, CniError } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** What VERSION answers with when stdin carries no cniVersion (the spec allows an empty config). */
export const PLUGIN_CNI_VERSION = '1.1.0';

export function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) throw new Error(`cannot compare CNI versions "${a}" and "${b}"`);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

export function atLeast(version: string, min: string): boolean {
  return compareVersions(version, min) >= 0;
}

export function requireSupported(version: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `cniVersion "${version}" is not supported by bpf-overlay: set "cniVersion" at the top of the network ` +
        `config list to one of ${SUPPORTED_VERSIONS.join(', ')} (1.0.0 for podman 4 and containerd 1.6/1.7, ` +
        `whose libcni refuses 1.1.0 results with "unsupported CNI result version")`,
    );
  }
}

/** Commands newer than some spec versions: CHECK arrived in 0.4.0, GC and STATUS in 1.1.0. */
export function requireCommandVersion(command: string, version: string, min: string): void {
  if (!atLeast(version, min)) {
    throw new CniError(
      CniCode.IncompatibleVersion,
      `CNI_COMMAND ${command} needs cniVersion ${min} or later; the network config says "${version}"`,
    );
  }
}
