// SPDX-License-Identifier: Apache-2.0
// Value formats of Calico's BGP resources, shared by validation (is it well formed?) and the BGP syncer (what
// does it mean?): AS numbers, "ip[:port]" peers, durations, and the defaults of BGPConfiguration.
import { parseIp } from './cidr.js';
import type { BGPConfiguration, BGPConfigurationSpec } from './types.js';

export const BGP_CONFIGURATION_FIELDS = [
  'asNumber',
  'nodeToNodeMeshEnabled',
  'listenPort',
  'logSeverityScreen',
  'serviceClusterIPs',
  'serviceExternalIPs',
  'serviceLoadBalancerIPs',
];
export const BGP_PEER_FIELDS = [
  'node',
  'nodeSelector',
  'peerIP',
  'asNumber',
  'peerSelector',
  'sourceAddress',
  'keepOriginalNextHop',
  'maxRestartTime',
];

export const DEFAULT_AS_NUMBER = 64512;
export const DEFAULT_BGP_PORT = 179;
export const DEFAULT_LOG_SEVERITY = 'Info';
export const LOG_SEVERITIES = ['Debug', 'Info', 'Warning', 'Error', 'Fatal', 'None'] as const;
export type LogSeverity = (typeof LOG_SEVERITIES)[number];

/**
 * Calico's numorstring.ASNumber: a 32-bit number, its decimal text, or the dotted "A.B" form (RFC 5396) with
 * two 16-bit halves. Returns null for anything else (and for 0, which is no AS).
 */
export function parseAsNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 && value <= 0xffffffff ? value : null;
  if (typeof value !== 'string') return null;
  const dotted = /^(\d{1,5})\.(\d{1,5})$/.exec(value);
  if (dotted) {
    const [hi, lo] = [Number(dotted[1]), Number(dotted[2])];
    if (hi > 0xffff || lo > 0xffff) return null;
    const asn = hi * 0x10000 + lo;
    return asn >= 1 ? asn : null;
  }
  return /^\d{1,10}$/.test(value) ? parseAsNumber(Number(value)) : null;
}

/** "10.0.0.1" or "10.0.0.1:1790" (IPv4 only: the data path and the BIRD configuration are IPv4). */
export function parsePeerAddress(value: string): { ip: string; port?: number } | null {
  const m = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(value);
  if (!m || parseIp(m[1])?.family !== 4) return null;
  if (m[2] === undefined) return { ip: m[1] };
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { ip: m[1], port } : null;
}

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** A Go/Kubernetes duration ("120s", "2m", "1m30s") in whole seconds, or null when it is not one. */
export function parseDurationSeconds(value: string): number | null {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) return null;
  let seconds = 0;
  for (const part of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) seconds += Number(part[1]) * DURATION_UNITS[part[2]];
  return Math.round(seconds);
}

/** Name of the per-node BGPConfiguration that overrides listenPort and logSeverityScreen for one node. */
export const nodeBgpConfigName = (node: string): string => `node.${node}`;

export interface EffectiveBgpConfig {
  asNumber: number;
  nodeToNodeMeshEnabled: boolean;
  listenPort: number;
  logSeverityScreen: LogSeverity;
}

/** Calico's defaulting: "default" for the cluster, then "node.NAME" for the node's port and log level. */
export function effectiveBgpConfig(configs: readonly BGPConfiguration[], node: string): EffectiveBgpConfig {
  const global: BGPConfigurationSpec = configs.find((c) => c.metadata.name === 'default')?.spec ?? {};
  const local: BGPConfigurationSpec = configs.find((c) => c.metadata.name === nodeBgpConfigName(node))?.spec ?? {};
  const severity = local.logSeverityScreen ?? global.logSeverityScreen ?? DEFAULT_LOG_SEVERITY;
  return {
    asNumber: parseAsNumber(global.asNumber) ?? DEFAULT_AS_NUMBER,
    nodeToNodeMeshEnabled: global.nodeToNodeMeshEnabled ?? true,
    listenPort: local.listenPort ?? global.listenPort ?? DEFAULT_BGP_PORT,
    logSeverityScreen: LOG_SEVERITIES.find((s) => s.toLowerCase() === severity.toLowerCase()) ?? 'Info',
  };
}
