// SPDX-License-Identifier: Apache-2.0
// The node's tunnel addresses live on the loopback device under a label of the node's own. Calico puts them on
// its tunnel device; bpf-overlay has none, but the host must own the address so that host-originated overlay
// traffic can use it as source (`ip route ... src`) and replies decapsulated by BPF are delivered locally.
// The label is per node, so agents sharing a namespace (tests, labs) never remove each other's addresses.
import { createHash } from 'node:crypto';
import { runTool } from './run.js';

/** The label earlier versions used for every node; such addresses are adopted by whichever node runs here. */
export const LEGACY_TUNNEL_ADDRESS_LABEL = 'lo:bpfoverlay';

/** "lo:bo" + 10 hex digits of the node name's hash: 15 characters, the kernel's limit for a label. */
export function tunnelAddressLabel(node: string): string {
  return `lo:bo${createHash('sha256').update(node).digest('hex').slice(0, 10)}`;
}

interface AddrJson {
  addr_info?: { family: string; local: string; prefixlen: number; label?: string }[];
}

/** This node's tunnel addresses on lo (its label, or the label of an earlier version). */
export function listTunnelAddresses(node: string): string[] {
  const mine = tunnelAddressLabel(node);
  const parsed = JSON.parse(runTool('ip', ['-j', 'addr', 'show', 'dev', 'lo'])) as AddrJson[];
  return (parsed[0]?.addr_info ?? [])
    .filter((a) => a.family === 'inet' && (a.label === mine || a.label === LEGACY_TUNNEL_ADDRESS_LABEL))
    .map((a) => a.local);
}

export function syncTunnelAddresses(node: string, desired: readonly string[]): number {
  const current = listTunnelAddresses(node);
  const lines: string[] = [];
  for (const addr of desired) {
    if (!current.includes(addr)) lines.push(`addr add ${addr}/32 dev lo label ${tunnelAddressLabel(node)}`);
  }
  for (const addr of current) {
    if (!desired.includes(addr)) lines.push(`addr del ${addr}/32 dev lo`);
  }
  if (lines.length > 0) runTool('ip', ['-batch', '-'], lines.join('\n') + '\n');
  return lines.length;
}
