/* SPDX-License-Identifier: GPL-2.0-only */
// A map pinned by name: libbpf pins it under the object's pin root on first load and reuses the pin afterwards.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, __u32);
} shared_by_pin SEC(".maps");

SEC("tc")
int read_shared(struct __sk_buff *skb)
{
	__u32 key = 1;
	__u32 *v = bpf_map_lookup_elem(&shared_by_pin, &key);

	return v ? *v : 0;
}

char LICENSE[] SEC("license") = "GPL";
