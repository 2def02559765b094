/* SPDX-License-Identifier: GPL-2.0-only */
// One program per helper (or per way of doing one thing) that the data path's hot paths use, each doing that
// one thing on the packet it is given and returning a fixed verdict; hc_empty_tc / hc_empty_xdp do nothing.
// bench/lib/helper-cost.ts runs each under BPF_PROG_TEST_RUN on a fresh packet and subtracts the empty program
// of its type: what is left is the helper's own cost (docs/datapath-costs.md). Redirect helpers only record the
// target under test runs (the kernel performs no redirect there): their figure is the helper, not the transmit.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/common.h"
#include "lib/csum.h"

struct hc_lpm_key {
	__u32 prefixlen;
	__be32 addr;
};

/* A trie with routes_map's key and value sizes. */
#define HC_ROUTE_TRIE(name)                                     \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);            \
		__uint(map_flags, BPF_F_NO_PREALLOC);           \
		__uint(max_entries, 65536);                     \
		__type(key, struct hc_lpm_key);                 \
		__type(value, __u8[24]);                        \
	} name SEC(".maps")

/* Filled by the bench like a node's routes_map: pool, blocks, workload /32s. */
HC_ROUTE_TRIE(hc_lpm);
/* Only a pool, one block and the workload: what a small test fixture's trie costs. */
HC_ROUTE_TRIE(hc_lpm_small);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __be32);
	__type(value, __u8[24]);
} hc_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[24]);
} hc_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 384);
	__type(key, __u32);
	__type(value, struct { __u64 packets; __u64 bytes; });
} hc_percpu SEC(".maps");

/* The address every lookup asks for (set by the bench to a workload /32 that is in both maps). */
volatile __be32 hc_lookup_addr;
/* Sinks: results the verifier and compiler must not discard. */
volatile __u64 hc_sink;

SEC("tc")
int hc_empty_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("xdp")
int hc_empty_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* ---- encapsulation and decapsulation: bpf_skb_adjust_room as encap_and_redirect and from_uplink call it ---- */

SEC("tc")
int hc_adjust_room_ipip(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, IPIP_OVERHEAD, BPF_ADJ_ROOM_MAC,
				   BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_adjust_room_vxlan(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, VXLAN_OVERHEAD, BPF_ADJ_ROOM_MAC,
				   BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L4_UDP |
					   BPF_F_ADJ_ROOM_ENCAP_L2_ETH | BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN)) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_adjust_room_decap_ipip(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, -(__s32)IPIP_OVERHEAD, BPF_ADJ_ROOM_MAC,
				   BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO) ? TC_ACT_SHOT : TC_ACT_OK;
}

/* Cheaper ways to do the same, for the per-case choice in lib/encap.h and lib/ctx.h. */
SEC("tc")
int hc_adjust_room_ipip_nocsum(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, IPIP_OVERHEAD, BPF_ADJ_ROOM_MAC,
				   BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 |
					   BPF_F_ADJ_ROOM_NO_CSUM_RESET) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_adjust_room_ipip_noflags(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, IPIP_OVERHEAD, BPF_ADJ_ROOM_MAC, 0) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_change_head_ipip(struct __sk_buff *skb)
{
	return bpf_skb_change_head(skb, IPIP_OVERHEAD, 0) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_change_head_vxlan(struct __sk_buff *skb)
{
	return bpf_skb_change_head(skb, VXLAN_OVERHEAD, 0) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_adjust_room_decap_nocsum(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, -(__s32)IPIP_OVERHEAD, BPF_ADJ_ROOM_MAC,
				   BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO |
					   BPF_F_ADJ_ROOM_NO_CSUM_RESET) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_adjust_room_decap_noflags(struct __sk_buff *skb)
{
	return bpf_skb_adjust_room(skb, -(__s32)IPIP_OVERHEAD, BPF_ADJ_ROOM_MAC, 0) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int hc_pull_data(struct __sk_buff *skb)
{
	return bpf_skb_pull_data(skb, 0) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("xdp")
int hc_xdp_adjust_head(struct xdp_md *ctx)
{
	return bpf_xdp_adjust_head(ctx, IPIP_OVERHEAD) ? XDP_DROP : XDP_PASS;
}

/* ---- flow hash: the VXLAN source port ---- */

SEC("tc")
int hc_get_hash_recalc(struct __sk_buff *skb)
{
	hc_sink = bpf_get_hash_recalc(skb);
	return TC_ACT_OK;
}

SEC("tc")
int hc_skb_hash_field(struct __sk_buff *skb)
{
	hc_sink = skb->hash;
	return TC_ACT_OK;
}

SEC("tc")
int hc_prandom(struct __sk_buff *skb)
{
	hc_sink = bpf_get_prandom_u32();
	return TC_ACT_OK;
}

/* ---- hand-off: the helper only (no transmit happens under a test run) ---- */

SEC("tc")
int hc_redirect_neigh(struct __sk_buff *skb)
{
	return bpf_redirect_neigh(skb->ifindex, NULL, 0, 0);
}

SEC("tc")
int hc_redirect_neigh_nh(struct __sk_buff *skb)
{
	struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = bpf_htonl(0x0a000002) };

	return bpf_redirect_neigh(skb->ifindex, &nh, sizeof(nh), 0);
}

SEC("tc")
int hc_redirect_peer(struct __sk_buff *skb)
{
	return bpf_redirect_peer(skb->ifindex, 0);
}

SEC("tc")
int hc_redirect(struct __sk_buff *skb)
{
	return bpf_redirect(skb->ifindex, 0);
}

/* ---- routing: the kernel's FIB (of the namespace the test runs in) and the MTU check ---- */

SEC("tc")
int hc_fib_lookup(struct __sk_buff *skb)
{
	struct bpf_fib_lookup p = {};

	p.family = AF_INET;
	p.ipv4_dst = bpf_htonl(0x7f000001); /* 127.0.0.1: a local route exists in every namespace */
	p.ipv4_src = bpf_htonl(0x7f000001);
	p.ifindex = skb->ifindex;
	p.tot_len = skb->len;
	hc_sink = bpf_fib_lookup(skb, &p, sizeof(p), 0);
	return TC_ACT_OK;
}

SEC("tc")
int hc_check_mtu(struct __sk_buff *skb)
{
	__u32 mtu = 0;

	hc_sink = bpf_check_mtu(skb, 0, &mtu, IPIP_OVERHEAD, 0);
	return TC_ACT_OK;
}

/* ---- checksums: helpers against the inline sum the data path uses for a 20-byte header ---- */

SEC("tc")
int hc_l3_csum_replace(struct __sk_buff *skb)
{
	/* What a 4-byte address rewrite costs through the helper (offset of the IPv4 checksum). */
	return bpf_l3_csum_replace(skb, ETH_HLEN + 10, bpf_htonl(0x0a000001), bpf_htonl(0x0a000002), 4) ? TC_ACT_SHOT
												      : TC_ACT_OK;
}

SEC("tc")
int hc_csum_diff20(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	__be32 *iph = data + ETH_HLEN;

	if ((void *)(iph + 5) > data_end)
		return TC_ACT_SHOT;
	hc_sink = bpf_csum_diff(NULL, 0, iph, IPV4_HLEN, 0);
	return TC_ACT_OK;
}

SEC("tc")
int hc_inline_csum20(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *iph = data + ETH_HLEN;

	if ((void *)(iph + 1) > data_end)
		return TC_ACT_SHOT;
	hc_sink = ipv4_hdr_csum20(iph);
	return TC_ACT_OK;
}

/* ---- map lookups: the route (LPM trie) against the structures a cache in front of it could use ---- */

SEC("tc")
int hc_lookup_lpm(struct __sk_buff *skb)
{
	struct hc_lpm_key key = { .prefixlen = 32, .addr = hc_lookup_addr };

	hc_sink = (long)bpf_map_lookup_elem(&hc_lpm, &key);
	return TC_ACT_OK;
}

SEC("tc")
int hc_lookup_lpm_small(struct __sk_buff *skb)
{
	struct hc_lpm_key key = { .prefixlen = 32, .addr = hc_lookup_addr };

	hc_sink = (long)bpf_map_lookup_elem(&hc_lpm_small, &key);
	return TC_ACT_OK;
}

SEC("tc")
int hc_lookup_hash(struct __sk_buff *skb)
{
	__be32 key = hc_lookup_addr;

	hc_sink = (long)bpf_map_lookup_elem(&hc_hash, &key);
	return TC_ACT_OK;
}

SEC("tc")
int hc_lookup_array(struct __sk_buff *skb)
{
	__u32 key = 0;

	hc_sink = (long)bpf_map_lookup_elem(&hc_array, &key);
	return TC_ACT_OK;
}

SEC("tc")
int hc_count_percpu(struct __sk_buff *skb)
{
	/* What count() does per packet: one per-CPU slot, two adds. */
	__u32 slot = 42;
	struct { __u64 packets; __u64 bytes; } *c = bpf_map_lookup_elem(&hc_percpu, &slot);

	if (c) {
		c->packets++;
		c->bytes += skb->len;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
