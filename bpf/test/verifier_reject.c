/* SPDX-License-Identifier: GPL-2.0-only */
// Deliberately invalid: reads packet memory without checking it against data_end, so the verifier rejects it.
// The loader tests use it to check that a rejection surfaces as a VerifierError carrying the verifier's log.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int read_past_end(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	return *(volatile __u32 *)(data + 64) == 0x0800 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
