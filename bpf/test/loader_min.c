/* SPDX-License-Identifier: GPL-2.0-only */
// The smallest complete object for the loader's leak test: a map, a .rodata constant, a program using both.
// It touches no kernel struct fields, so libbpf needs no CO-RE (and no parse of the kernel's BTF) per load,
// which keeps 10,000 load cycles fast enough to run on every test run.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

const volatile __u32 verdict = XDP_PASS;

SEC("xdp")
int min_xdp(void *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&runs, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
