/* SPDX-License-Identifier: GPL-2.0-only */
/* tc ingress on the uplink: decapsulates IPIP / VXLAN from known nodes and delivers straight into the
 * workload; plain traffic for a local workload (Never / CrossSubnet within the subnet) is delivered too.
 * When from_uplink_xdp runs in front, tunnel packets arrive here already decapsulated (and counted there),
 * so they take the plain path and are counted once more only as this hook's local delivery. */
#include "lib/uplink.h"

SEC("tc")
int from_uplink(struct __sk_buff *skb)
{
	struct verdict v = VERDICT_INIT;
	__u32 len = ctx_len(skb);

	return verdict_finish(HOOK_FROM_UPLINK_TC, &v, from_uplink_reason(skb, len, &v), len);
}

char _license[] SEC("license") = "GPL";
