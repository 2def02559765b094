// SPDX-License-Identifier: Apache-2.0
// Cost of each helper the data path calls, under BPF_PROG_TEST_RUN: bpf/test/helper_cost.c holds one program per
// helper; each is run on a fresh packet and the empty program of its type (hc_empty_tc / hc_empty_xdp) is
// subtracted, round by round (programs alternate within a round, so host load hits both sides of a difference
// alike), and the median over rounds is reported. The maps are filled like a node's maps (see fill()).
import { openObject } from '../../src/control/bpf/index.js';
import type { BpfProgram, Collection } from '../../src/control/bpf/types.js';
import { encodeRouteKey, encodeRouteValue, Encap, RouteKind } from '../../src/control/maps/layout.js';
import { bpfObjectPath } from '../../src/control/paths.js';
import * as P from '../../test/harness/packets.js';
import { freshNs, PAYLOAD_BYTES } from './prog-cost.js';

export interface HelperCase {
  program: string;
  hook: 'tc' | 'xdp';
  what: string;
  /** Which data-path programs call it on a hot path. */
  usedBy: string;
  frame: 'udp' | 'ipip';
}

const ALL_HELPER_CASES: HelperCase[] = [
  { program: 'hc_adjust_room_ipip', hook: 'tc', what: 'bpf_skb_adjust_room +20, ENCAP_L3_IPV4 | FIXED_GSO', usedBy: 'IPIP encap (from_workload, to_uplink)', frame: 'udp' },
  { program: 'hc_adjust_room_vxlan', hook: 'tc', what: 'bpf_skb_adjust_room +50, ENCAP_L3_IPV4 | L4_UDP | L2_ETH | FIXED_GSO', usedBy: 'VXLAN encap (from_workload, to_uplink)', frame: 'udp' },
  { program: 'hc_adjust_room_decap_ipip', hook: 'tc', what: 'bpf_skb_adjust_room -20, DECAP_L3_IPV4 | FIXED_GSO', usedBy: 'tc decap (from_uplink)', frame: 'ipip' },
  { program: 'hc_adjust_room_ipip_nocsum', hook: 'tc', what: 'bpf_skb_adjust_room +20, ENCAP_L3_IPV4 | FIXED_GSO | NO_CSUM_RESET', usedBy: 'candidate: IPIP encap', frame: 'udp' },
  { program: 'hc_adjust_room_ipip_noflags', hook: 'tc', what: 'bpf_skb_adjust_room +20, no flags', usedBy: 'candidate: encap of a non-GSO packet', frame: 'udp' },
  { program: 'hc_change_head_ipip', hook: 'tc', what: 'bpf_skb_change_head +20', usedBy: 'candidate: IPIP encap of a non-GSO packet', frame: 'udp' },
  { program: 'hc_change_head_vxlan', hook: 'tc', what: 'bpf_skb_change_head +50', usedBy: 'candidate: VXLAN encap of a non-GSO packet', frame: 'udp' },
  { program: 'hc_adjust_room_decap_nocsum', hook: 'tc', what: 'bpf_skb_adjust_room -20, DECAP_L3_IPV4 | FIXED_GSO | NO_CSUM_RESET', usedBy: 'candidate: tc decap', frame: 'ipip' },
  { program: 'hc_adjust_room_decap_noflags', hook: 'tc', what: 'bpf_skb_adjust_room -20, no flags', usedBy: 'candidate: tc decap of a non-GSO packet', frame: 'ipip' },
  { program: 'hc_pull_data', hook: 'tc', what: 'bpf_skb_pull_data(skb, 0) (a helper that does nothing on a linear skb)', usedBy: 'reference: the cost of any helper call', frame: 'udp' },
  { program: 'hc_xdp_adjust_head', hook: 'xdp', what: 'bpf_xdp_adjust_head +20', usedBy: 'XDP decap (from_uplink_xdp)', frame: 'ipip' },
  { program: 'hc_get_hash_recalc', hook: 'tc', what: 'bpf_get_hash_recalc (flow dissector on a packet without a hash)', usedBy: 'VXLAN encap: source port', frame: 'udp' },
  { program: 'hc_skb_hash_field', hook: 'tc', what: 'read skb->hash (no helper)', usedBy: 'candidate for the VXLAN source port', frame: 'udp' },
  { program: 'hc_prandom', hook: 'tc', what: 'bpf_get_prandom_u32', usedBy: 'encap of a non-DF packet: outer IP id', frame: 'udp' },
  { program: 'hc_redirect_neigh', hook: 'tc', what: 'bpf_redirect_neigh(ifindex, NULL) (helper only)', usedBy: 'encap hand-off to the uplink', frame: 'udp' },
  { program: 'hc_redirect_neigh_nh', hook: 'tc', what: 'bpf_redirect_neigh(ifindex, &nh) (helper only)', usedBy: 'plain forward (from_workload)', frame: 'udp' },
  { program: 'hc_redirect_peer', hook: 'tc', what: 'bpf_redirect_peer (helper only)', usedBy: 'local delivery (from_workload, from_uplink)', frame: 'udp' },
  { program: 'hc_redirect', hook: 'tc', what: 'bpf_redirect (helper only)', usedBy: 'ICMP frag-needed reply', frame: 'udp' },
  { program: 'hc_fib_lookup', hook: 'tc', what: 'bpf_fib_lookup (127.0.0.1, local table)', usedBy: 'none today (redirect_neigh(NULL) routes instead)', frame: 'udp' },
  { program: 'hc_check_mtu', hook: 'tc', what: 'bpf_check_mtu(skb, 0, +20)', usedBy: 'encap when settings.uplink_mtu is 0', frame: 'udp' },
  { program: 'hc_l3_csum_replace', hook: 'tc', what: 'bpf_l3_csum_replace (4-byte change)', usedBy: 'none today (TTL decrement is inline)', frame: 'udp' },
  { program: 'hc_csum_diff20', hook: 'tc', what: 'bpf_csum_diff over 20 bytes', usedBy: 'ICMP frag-needed (cold path)', frame: 'udp' },
  { program: 'hc_inline_csum20', hook: 'tc', what: 'inline 20-byte header checksum (csum.h, no helper)', usedBy: 'every encap: outer IPv4 checksum', frame: 'udp' },
  { program: 'hc_lookup_lpm', hook: 'tc', what: 'bpf_map_lookup_elem, LPM trie /32 (node-like routes, see fill)', usedBy: 'every program: routes_map', frame: 'udp' },
  { program: 'hc_lookup_lpm_small', hook: 'tc', what: 'bpf_map_lookup_elem, LPM trie /32 (3 entries)', usedBy: 'the same, small trie', frame: 'udp' },
  { program: 'hc_lookup_hash', hook: 'tc', what: 'bpf_map_lookup_elem, hash (4-byte key)', usedBy: 'decap: known_nodes_map; a route cache candidate', frame: 'udp' },
  { program: 'hc_lookup_array', hook: 'tc', what: 'bpf_map_lookup_elem, array', usedBy: 'settings_map (to_uplink, MTU checks)', frame: 'udp' },
  { program: 'hc_count_percpu', hook: 'tc', what: 'per-CPU array lookup + 2 adds (count())', usedBy: 'every program: counters_map', frame: 'udp' },
];

/** BENCH_HELPERS=prog,prog,... measures only those (and the empty programs they are compared with). */
const ONLY = (process.env.BENCH_HELPERS ?? '').split(',').filter(Boolean);
export const HELPER_CASES = ONLY.length ? ALL_HELPER_CASES.filter((h) => ONLY.includes(h.program)) : ALL_HELPER_CASES;

export interface HelperCost extends HelperCase {
  /** Median over rounds of (fresh ns of the program - fresh ns of the empty program of its type). */
  netNs: number;
  /** Lowest and highest of the per-round differences. */
  minNs: number;
  maxNs: number;
  freshNs: number;
}

export interface HelperCostReport {
  rounds: number;
  samplesPerRound: number;
  emptyFreshNs: { tc: number; xdp: number };
  lpmEntries: number;
  cases: HelperCost[];
}

const WORKLOAD = '10.244.1.7';

/** Like one node of a 256-node cluster: a pool, 256 /26 blocks, 64 local workload /32s; the hash holds the /32s. */
function fill(c: Collection, lookupAddrOffset: number): number {
  const value = encodeRouteValue({ kind: RouteKind.LocalWorkload, encap: Encap.None, flags: 1, ifindex: 7, nextHop: '0.0.0.0', dstMac: '02:00:00:00:00:07', srcMac: 'ee:ee:ee:ee:ee:ee' });
  const lpm = c.map('hc_lpm');
  const hash = c.map('hc_hash');
  const entries = [{ key: encodeRouteKey('10.244.0.0/16'), value }];
  for (let b = 0; b < 256; b++) entries.push({ key: encodeRouteKey(`10.244.${b}.0/26`), value });
  for (let w = 1; w <= 64; w++) {
    const addr = `10.244.1.${w}`;
    entries.push({ key: encodeRouteKey(`${addr}/32`), value });
    hash.update(Buffer.from(addr.split('.').map(Number)), value);
  }
  for (const e of entries) lpm.update(e.key, e.value);
  const small = c.map('hc_lpm_small');
  for (const cidr of ['10.244.0.0/16', '10.244.1.0/26', `${WORKLOAD}/32`]) small.update(encodeRouteKey(cidr), value);
  c.map('hc_array').update(Buffer.alloc(4), value);
  const bss = c.map('.bss');
  const cur = bss.lookup(Buffer.alloc(4))!;
  Buffer.from(WORKLOAD.split('.').map(Number)).copy(cur, lookupAddrOffset); // network order

  bss.update(Buffer.alloc(4), cur);
  return entries.length;
}

function frames(): { udp: Buffer; ipip: Buffer } {
  const payload = P.pattern(PAYLOAD_BYTES);
  const inner = P.ipv4({ src: '10.244.3.9', dst: WORKLOAD, protocol: P.PROTO_UDP, df: true }, P.udp('10.244.3.9', WORKLOAD, 1000, 2000, payload));
  const eth = { dst: '52:54:00:00:00:01', src: '52:54:00:00:00:02' };
  return { udp: P.ethernet(eth, inner), ipip: P.ethernet(eth, P.ipv4({ src: '10.0.0.2', dst: '10.0.0.1', protocol: P.PROTO_IPIP }, inner)) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function measureHelperCosts(opts: { rounds: number; samplesPerRound: number }): HelperCostReport {
  const spec = openObject(bpfObjectPath('helper_cost.o'));
  let c: Collection;
  let lookupAddrOffset: number;
  try {
    lookupAddrOffset = spec.variables.find((v) => v.name === 'hc_lookup_addr')!.offset;
    c = spec.load();
  } finally {
    spec.close();
  }
  try {
    const lpmEntries = fill(c, lookupAddrOffset);
    const f = frames();
    const empty: Record<'tc' | 'xdp', BpfProgram> = { tc: c.program('hc_empty_tc'), xdp: c.program('hc_empty_xdp') };
    const diffs = new Map<string, number[]>(HELPER_CASES.map((h) => [h.program, []]));
    const fresh = new Map<string, number[]>(HELPER_CASES.map((h) => [h.program, []]));
    const emptyFresh = { tc: [] as number[], xdp: [] as number[] };
    for (let round = 0; round < opts.rounds; round++) {
      for (const h of round % 2 ? [...HELPER_CASES].reverse() : HELPER_CASES) {
        const base = freshNs(empty[h.hook], f[h.frame], opts.samplesPerRound);
        const own = freshNs(c.program(h.program), f[h.frame], opts.samplesPerRound);
        emptyFresh[h.hook].push(base);
        diffs.get(h.program)!.push(own - base);
        fresh.get(h.program)!.push(own);
      }
    }
    return {
      rounds: opts.rounds,
      samplesPerRound: opts.samplesPerRound,
      emptyFreshNs: { tc: median(emptyFresh.tc), xdp: median(emptyFresh.xdp) },
      lpmEntries,
      cases: HELPER_CASES.map((h) => {
        const d = diffs.get(h.program)!;
        return { ...h, netNs: median(d), minNs: Math.min(...d), maxNs: Math.max(...d), freshNs: median(fresh.get(h.program)!) };
      }),
    };
  } finally {
    c.close();
  }
}

/** The bench report's section: one row per helper, with the programs that call it. */
export function helperCostMarkdown(r: HelperCostReport): string {
  return [
    '## Per-helper cost (BPF_PROG_TEST_RUN, bpf/test/helper_cost.c)',
    '',
    `net = median over ${r.rounds} rounds of (fresh − empty program of the same type: tc ${r.emptyFreshNs.tc.toFixed(1)} ns, XDP ${r.emptyFreshNs.xdp.toFixed(1)} ns), ` +
      `each fresh figure the mean of ${r.samplesPerRound} repeat=1 runs; range = lowest and highest round. LPM trie with ${r.lpmEntries} node-like entries. ` +
      'Redirect helpers only record their target under a test run: the transmit they cause is not in these figures.',
    '',
    '| helper | net ns | range | used by |',
    '|---|---:|---:|---|',
    ...r.cases.map((c) => `| ${c.what} | ${c.netNs.toFixed(1)} | ${c.minNs.toFixed(1)}–${c.maxNs.toFixed(1)} | ${c.usedBy} |`),
    '',
  ].join('\n');
}
