/* SPDX-License-Identifier: GPL-2.0-only */
// An XDP program declared multi-buffer aware (SEC("xdp.frags"): libbpf loads it with BPF_F_XDP_HAS_FRAGS), for
// the loader's test of frags-aware loading and of unpin apart from detach. It counts the packets it sees.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 frags_runs;

SEC("xdp.frags")
int count_frags_xdp(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&frags_runs, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
