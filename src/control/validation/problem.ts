// SPDX-License-Identifier: Apache-2.0
// A validation finding, shaped after calicoctl's `error with field X = 'v' (reason)` and extended with the
// resource and the manifest position so that a batch of many documents can be fixed in one pass.
import { describeSource, type SourceRef } from '../model/parse.js';
import { safeMessage, truncated } from '../printable.js';

export type Severity = 'error' | 'warning';

export interface Problem {
  severity: Severity;
  kind: string;
  name: string;
  /** JSON path inside the resource, e.g. "spec.vxlanMode". */
  field: string;
  value: unknown;
  message: string;
  source: SourceRef;
}

// Calico's Go field names, so that messages read exactly like calicoctl's. A Map: field paths come from user
// keys (an unknown field "constructor" must not find Object's own keys).
const GO_SEGMENTS = new Map<string, string>([
  ['metadata', 'Metadata'],
  ['spec', 'Spec'],
  ['cidr', 'CIDR'],
  ['ipipMode', 'IPIPMode'],
  ['vxlanMode', 'VXLANMode'],
  ['natOutgoing', 'NATOutgoing'],
  ['blockSize', 'BlockSize'],
  ['nodeSelector', 'NodeSelector'],
  ['bgp', 'BGP'],
  ['ipv4Address', 'IPv4Address'],
  ['ipv4IPIPTunnelAddr', 'IPv4IPIPTunnelAddr'],
  ['ipv4VXLANTunnelAddr', 'IPv4VXLANTunnelAddr'],
  ['vxlanTunnelMACAddr', 'VXLANTunnelMACAddr'],
  ['vxlanPort', 'VXLANPort'],
  ['vxlanVNI', 'VXLANVNI'],
  ['vxlanMTU', 'VXLANMTU'],
  ['ipipMTU', 'IPIPMTU'],
  ['mtu', 'MTU'],
  ['ipNetworks', 'IPNetworks'],
  ['mac', 'MAC'],
  ['hostMac', 'HostMAC'],
]);

export function goFieldPath(kind: string, field: string): string {
  const segments = field
    .split('.')
    .filter((s) => s !== '')
    .map((s) => GO_SEGMENTS.get(s) ?? s.charAt(0).toUpperCase() + s.slice(1));
  return [kind, ...segments].join('.');
}

function valueText(value: unknown): string {
  if (value === undefined) return '';
  return truncated(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)));
}

/**
 * `pools.yaml document 1: IPPool "p": error with field IPPool.Spec.VXLANMode = 'Always' (reason)`: always one
 * printable line of bounded length (long values are cut, control characters escaped).
 */
export function formatProblem(p: Problem): string {
  const label = p.severity === 'warning' ? 'warning for field' : 'error with field';
  const who = `${truncated(p.kind, 64)}${p.name ? ` ${JSON.stringify(truncated(p.name, 253))}` : ''}`;
  return safeMessage(
    `${describeSource(p.source)}: ${who}: ${label} ${truncated(goFieldPath(p.kind, p.field), 200)} = '${valueText(p.value)}' (${p.message})`,
  );
}

export class ValidationFailedError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.filter((p) => p.severity === 'error').map(formatProblem).join('\n'));
    this.name = 'ValidationFailedError';
  }
}

/** Collects problems for one document. */
export class Reporter {
  constructor(
    readonly kind: string,
    readonly name: string,
    readonly source: SourceRef,
    private readonly sink: Problem[],
  ) {}

  error(field: string, value: unknown, message: string): void {
    this.sink.push({ severity: 'error', kind: this.kind, name: this.name, field, value, message, source: this.source });
  }

  warning(field: string, value: unknown, message: string): void {
    this.sink.push({ severity: 'warning', kind: this.kind, name: this.name, field, value, message, source: this.source });
  }
}
