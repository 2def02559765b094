// SPDX-License-Identifier: Apache-2.0
import { Encap } from '../maps/layout.js';

/** Bytes each encapsulation adds to an IPv4 packet: outer IPv4 (20); VXLAN adds UDP 8 + VXLAN 8 + Ethernet 14. */
export const ENCAP_OVERHEAD: Readonly<Record<Encap, number>> = {
  [Encap.None]: 0,
  [Encap.Ipip]: 20,
  [Encap.Vxlan]: 50,
};

/**
 * Workload MTU: an explicit override wins; otherwise the uplink MTU minus the largest overhead among the
 * encapsulations the local node may use, so that any packet a workload sends fits after encapsulation.
 */
export function workloadMtu(uplinkMtu: number, encaps: readonly Encap[], override = 0): number {
  if (override > 0) return override;
  const overhead = Math.max(0, ...encaps.map((e) => ENCAP_OVERHEAD[e]));
  return uplinkMtu - overhead;
}
