// The node's tunnel addresses live on the loopback device under a label of ours. Calico puts them on its
// tunnel device; bpf-overlay has none, but the host must own the address so that host-originated overlay
// traffic can use it as source (`ip route ... src`) and replies decapsulated by BPF are delivered locally.
import { runTool } from './run.js';

export const TUNNEL_ADDRESS_LABEL = 'lo:bpfoverlay';

interface AddrJson {
  addr_info?: { family: string; local: string; prefixlen: number; label?: string }[];
}

export function listTunnelAddresses(): string[] {
  const parsed = JSON.parse(runTool('ip', ['-j', 'addr', 'show', 'dev', 'lo'])) as AddrJson[];
  return (parsed[0]?.addr_info ?? [])
    .filter((a) => a.family === 'inet' && a.label === TUNNEL_ADDRESS_LABEL)
    .map((a) => a.local);
}

export function syncTunnelAddresses(desired: readonly string[]): number {
  const current = listTunnelAddresses();
  const lines: string[] = [];
  for (const addr of desired) {
    if (!current.includes(addr)) lines.push(`addr add ${addr}/32 dev lo label ${TUNNEL_ADDRESS_LABEL}`);
  }
  for (const addr of current) {
    if (!desired.includes(addr)) lines.push(`addr del ${addr}/32 dev lo`);
  }
  if (lines.length > 0) runTool('ip', ['-batch', '-'], lines.join('\n') + '\n');
  return lines.length;
}
