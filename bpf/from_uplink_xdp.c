/* SPDX-License-Identifier: GPL-2.0-only */
/* XDP on the uplink: the same routine as from_uplink (lib/uplink.h), run before an skb exists. A valid tunnel
 * packet is decapsulated here and passed up; from_uplink (tc ingress, also attached) then delivers it.
 * Rejected packets never cost an skb. */
#define CTX_XDP
#include "lib/uplink.h"

SEC("xdp.frags")
int from_uplink_xdp(struct xdp_md *ctx)
{
	struct verdict v = VERDICT_INIT;
	__u32 len = ctx_len(ctx);

	return verdict_finish(HOOK_FROM_UPLINK_XDP, &v, from_uplink_reason(ctx, len, &v), len);
}

char _license[] SEC("license") = "GPL";
