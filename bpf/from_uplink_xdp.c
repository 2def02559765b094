// SPDX-License-Identifier: Apache-2.0
/* XDP on the uplink: the same validation as from_uplink, done before an skb exists. A valid tunnel packet is
 * decapsulated here and passed up; from_uplink (tc ingress, also attached) then sees a plain packet for a
 * local workload and delivers it, so DECAP is counted once, by this hook. Rejected packets never cost an skb. */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/parsing.h"
#include "lib/routes.h"
#include "lib/tunnel.h"

#define HOOK HOOK_FROM_UPLINK_XDP

SEC("xdp.frags")
int from_uplink_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct route_value *rt;
	struct tunnel t = {};
	struct ethhdr *eth;
	struct l3 p;
	__u32 kind, strip;

	switch (parse_ipv4(data, data_end, len - ETH_HLEN, 0, &p)) {
	case PARSE_IPV4:
		break;
	case PARSE_NOT_IPV4:
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return XDP_PASS;
	default:
		count(HOOK, ENCAP_NONE, REASON_DROP_MALFORMED, len);
		return XDP_DROP;
	}

	switch (tunnel_classify(&p, data_end, &t)) {
	case TUNNEL_DECAP:
		break;
	case TUNNEL_DROP:
		count(HOOK, t.encap, t.reason, len);
		return XDP_DROP;
	default:
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return XDP_PASS;
	}

	rt = route_lookup(t.inner->daddr);
	kind = rt ? rt->kind : ROUTE_KIND_NONE;
	if (kind != ROUTE_KIND_LOCAL_WORKLOAD && kind != ROUTE_KIND_LOCAL_HOST) {
		count(HOOK, t.encap, REASON_DROP_NO_ROUTE, len);
		return XDP_DROP;
	}

	/* Slide the outer Ethernet header forward over what we strip, then drop the front. */
	strip = t.strip;
	if (strip > 60 + UDP_HLEN + VXLAN_HLEN + ETH_HLEN)
		return XDP_DROP;
	eth = data + strip;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memmove(eth, data, ETH_HLEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	if (bpf_xdp_adjust_head(ctx, strip)) {
		count(HOOK, t.encap, REASON_DROP_ADJUST_ROOM, len);
		return XDP_DROP;
	}
	count(HOOK, t.encap, REASON_DECAP, len);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
