/* SPDX-License-Identifier: GPL-2.0-only */
// Counts, per IP protocol, the packets that arrive with and without a flow hash in skb->hash (and whether it is an
// L4 hash). bench/skb-hash.ts attaches it where from_workload runs (tc ingress of a workload's host-side veth) to
// find out how often the VXLAN source port could reuse skb->hash instead of calling bpf_get_hash_recalc.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* [0] TCP without hash, [1] TCP with hash, [2] UDP without, [3] UDP with, [4] other without, [5] other with */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 6);
	__type(key, __u32);
	__type(value, __u64);
} hash_seen SEC(".maps");

SEC("tc")
int count_skb_hash(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *iph = data + 14;
	__u32 slot = 4;
	__u64 *n;

	if ((void *)(iph + 1) <= data_end && skb->protocol == __builtin_bswap16(0x0800))
		slot = iph->protocol == 6 ? 0 : iph->protocol == 17 ? 2 : 4;
	slot += skb->hash != 0;
	n = bpf_map_lookup_elem(&hash_seen, &slot);
	if (n)
		*n += 1;
	return 0; /* TC_ACT_OK */
}

char LICENSE[] SEC("license") = "GPL";
