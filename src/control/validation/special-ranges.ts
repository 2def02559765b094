// SPDX-License-Identifier: Apache-2.0
// Address ranges no pool may cover: handing them to workloads breaks the host or the network (loopback,
// multicast, broadcast, "this network"), or they are link-local (Calico's own rule, with Calico's text).
import { cidrsOverlap, parseCidr, type Cidr } from '../model/cidr.js';

interface SpecialRange {
  cidr: Cidr;
  text: string;
  what: string;
}

function range(text: string, what: string): SpecialRange {
  return { cidr: parseCidr(text)!, text, what };
}

/** IANA special-purpose ranges (RFC 6890) that can never be workload addresses. */
const SPECIAL_RANGES: readonly SpecialRange[] = [
  range('0.0.0.0/8', '"this network"'),
  range('127.0.0.0/8', 'loopback'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved, with the limited broadcast 255.255.255.255'),
  range('::/128', 'unspecified address'),
  range('::1/128', 'loopback'),
  range('::ffff:0:0/96', 'IPv4-mapped addresses'),
  range('ff00::/8', 'multicast'),
];

export const LINK_LOCAL_V4 = parseCidr('169.254.0.0/16')!;
export const LINK_LOCAL_V6 = parseCidr('fe80::/10')!;

/** "224.0.0.0/4 (multicast), ..." for every special-purpose range the CIDR overlaps; empty when none. */
export function specialRangesOverlapping(cidr: Cidr): string[] {
  return SPECIAL_RANGES.filter((r) => cidrsOverlap(cidr, r.cidr)).map((r) => `${r.text} (${r.what})`);
}
