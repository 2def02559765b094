/* SPDX-License-Identifier: GPL-2.0-only */
/* The smallest programs of each type the data path uses, with no maps: `bpf-overlay doctor` loads them to prove
 * that this kernel, these privileges and our loader can load sched_cls and XDP programs at all. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tc")
int probe_tc(struct __sk_buff *skb)
{
	return 0; /* TC_ACT_OK */
}

SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
