// SPDX-License-Identifier: Apache-2.0
// Reads the data path's per-CPU counters and names every non-zero slot.
import type { BpfMap } from '../bpf/types.js';
import {
  COUNTER_SLOTS,
  CounterHook,
  CounterReason,
  ENCAP_COUNT,
  Encap,
  REASON_COUNT,
  encodeU32Key,
  sumPerCpu,
} from '../maps/layout.js';

export interface CounterRow {
  hook: string;
  encap: string;
  reason: string;
  drop: boolean;
  packets: number;
  bytes: number;
}

const HOOK_NAMES: Record<number, string> = {
  [CounterHook.FromWorkload]: 'from-workload',
  [CounterHook.ToUplink]: 'to-uplink',
  [CounterHook.FromUplinkTc]: 'from-uplink-tc',
  [CounterHook.FromUplinkXdp]: 'from-uplink-xdp',
};

const ENCAP_NAMES: Record<number, string> = { [Encap.None]: 'none', [Encap.Ipip]: 'ipip', [Encap.Vxlan]: 'vxlan' };

function reasonName(reason: number): string {
  const name = CounterReason[reason];
  if (!name) return `reason-${reason}`;
  // "DropUnknownSource" -> "drop-unknown-source"
  return name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
}

export const FIRST_DROP_REASON = CounterReason.DropUnknownSource;

export function readCounters(countersMap: Pick<BpfMap, 'lookupPerCpu'>): CounterRow[] {
  const rows: CounterRow[] = [];
  for (let slot = 0; slot < COUNTER_SLOTS; slot++) {
    const values = countersMap.lookupPerCpu(encodeU32Key(slot));
    if (!values) continue;
    const { packets, bytes } = sumPerCpu(values);
    if (packets === 0n && bytes === 0n) continue;
    const reason = slot % REASON_COUNT;
    const encap = Math.floor(slot / REASON_COUNT) % ENCAP_COUNT;
    const hook = Math.floor(slot / (REASON_COUNT * ENCAP_COUNT));
    rows.push({
      hook: HOOK_NAMES[hook] ?? `hook-${hook}`,
      encap: ENCAP_NAMES[encap],
      reason: reasonName(reason),
      drop: reason >= FIRST_DROP_REASON,
      packets: Number(packets),
      bytes: Number(bytes),
    });
  }
  return rows;
}
