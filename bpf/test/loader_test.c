/* SPDX-License-Identifier: GPL-2.0-only */
// Test object for the loader: one map of each kind the control plane uses, globals in .rodata/.data/.bss,
// and small programs whose effects (counters, return values, rewritten bytes) the kernel tests observe.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TC_ACT_OK 0

struct lpm_v4_key {
	__u32 prefixlen;
	__u32 addr;
};

struct pkt_count {
	__u64 packets;
	__u64 bytes;
};

// Slots of pkt_counts: which program counted the packet.
enum { SLOT_TC = 0, SLOT_TC_ALT = 1, SLOT_XDP = 2, SLOT_COUNT = 4 };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} array_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} lpm_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOT_COUNT);
	__type(key, __u32);
	__type(value, struct pkt_count);
} pkt_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u32);
} percpu_hash_map SEC(".maps");

const volatile __u32 ret_value = 7;
__u32 ret_bias = 1;
__u64 runs_seen;

static __always_inline void count(__u32 slot, __u64 len)
{
	struct pkt_count *c = bpf_map_lookup_elem(&pkt_counts, &slot);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

SEC("tc")
int count_tc(struct __sk_buff *skb)
{
	count(SLOT_TC, skb->len);
	return TC_ACT_OK;
}

// The replacement program of the atomic link update test: same verdict, another slot.
SEC("tc")
int count_tc_alt(struct __sk_buff *skb)
{
	count(SLOT_TC_ALT, skb->len);
	return TC_ACT_OK;
}

SEC("xdp")
int count_xdp(struct xdp_md *ctx)
{
	count(SLOT_XDP, ctx->data_end - ctx->data);
	return XDP_PASS;
}

// Its return value exposes the .rodata constant and the .data global, so setVariable is observable.
SEC("tc")
int return_config(struct __sk_buff *skb)
{
	runs_seen++;
	return ret_value + ret_bias;
}

// Rewrites the packet (swaps the Ethernet addresses) so testRun's output data is observable.
SEC("xdp")
int xdp_mac_swap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[6];

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, tmp, 6);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
