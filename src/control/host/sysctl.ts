// SPDX-License-Identifier: Apache-2.0
// Kernel settings the node needs as a router for its workloads. /proc/sys/net is per network namespace: the
// values written are those of the namespace the agent runs in.
import { readFileSync, writeFileSync } from 'node:fs';

export function ensureSysctl(key: string, value: string): boolean {
  const path = `/proc/sys/${key.replace(/\./g, '/')}`;
  if (readFileSync(path, 'utf8').trim() === value) return false;
  writeFileSync(path, value);
  return true;
}

/**
 * Traffic the BPF programs hand to the stack (natOutgoing to the outside world, oversize non-DF packets to be
 * fragmented, TTL-expired packets) is forwarded by the kernel, so the node must forward IPv4.
 */
export function ensureRouterSysctls(): string[] {
  return ensureSysctl('net.ipv4.ip_forward', '1') ? ['net.ipv4.ip_forward=1'] : [];
}
