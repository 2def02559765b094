// SPDX-License-Identifier: Apache-2.0
// What a node's agent publishes about itself in its own Node, beside what users and IPAM write there:
// annotations small enough that the CNI reads one record per ADD, and `status` (on any host) reads the agent's
// view. spec.vxlanTunnelMACAddr is published too, as Calico nodes do.
import type { Node } from './types.js';

export const ANNOTATION_PREFIX = 'bpf-overlay.io/';
/** The MTU the CNI gives a new workload on this node (decimal). */
export const WORKLOAD_MTU_ANNOTATION = `${ANNOTATION_PREFIX}workload-mtu`;
/** When this node's agent last started (ISO 8601): among nodes claiming one address, the latest start keeps it. */
export const AGENT_STARTED_ANNOTATION = `${ANNOTATION_PREFIX}agent-started`;
/** JSON array of the records this node's agent skipped, "Kind name: reason" (at most MAX_PUBLISHED_QUARANTINE). */
export const QUARANTINE_ANNOTATION = `${ANNOTATION_PREFIX}quarantined`;

export const MAX_PUBLISHED_QUARANTINE = 50;

export function publishedWorkloadMtu(node: Node | undefined): number | undefined {
  const text = node?.metadata.annotations?.[WORKLOAD_MTU_ANNOTATION];
  if (text === undefined || !/^\d{3,5}$/.test(text)) return undefined;
  return Number(text);
}

export function publishedQuarantine(node: Node | undefined): string[] {
  const text = node?.metadata.annotations?.[QUARANTINE_ANNOTATION];
  if (!text) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [`${QUARANTINE_ANNOTATION}: not a JSON array of strings`];
  }
}
