// SPDX-License-Identifier: Apache-2.0
/* tc egress on the uplink: host-originated (or kernel-forwarded) traffic to remote workloads. The agent's
 * route "BLOCK dev UPLINK src TUNNEL_ADDR mtu TUNNEL_MTU" brings it here sized for the tunnel; we wrap it
 * and re-resolve L2 for the outer destination (the L2 header the kernel built is for the inner one). */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/parsing.h"
#include "lib/routes.h"
#include "lib/encap.h"
#include "lib/antispoof.h"

#define HOOK HOOK_TO_UPLINK

SEC("tc")
int to_uplink(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	int gso = skb->gso_size != 0;
	void *data, *data_end;
	struct route_value *rt;
	struct l3 p;

	tc_linearize(skb, ETH_HLEN + 60);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (parse_ipv4(data, data_end, len - ETH_HLEN, gso, &p) != PARSE_IPV4) {
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return TC_ACT_OK;
	}

	/* Our own tunnel packets come back through here after bpf_redirect_neigh: their outer destination is
	 * a node address, in no pool, so the lookup below misses and they pass untouched. */
	rt = route_lookup(p.iph->daddr);
	if (!rt || rt->kind != ROUTE_KIND_REMOTE_BLOCK || rt->encap == ENCAP_NONE || rt->encap >= ENCAP__MAX) {
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return TC_ACT_OK;
	}
	/* A node's underlay address inside a remote block (a pool overlapping the underlay) would make our own
	 * tunnel packets come back here and be wrapped again, without end: a node is reached unencapsulated. */
	if (is_cluster_node(p.iph->daddr)) {
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return TC_ACT_OK;
	}
	if (p.iph->protocol == IPPROTO_IPIP_NR) {
		count(HOOK, rt->encap, REASON_DROP_MALFORMED, len);
		return TC_ACT_SHOT;
	}
	if (!gso) {
		__u32 zero = 0;
		struct settings_value *s = bpf_map_lookup_elem(&settings_map, &zero);

		/* The block route's MTU makes the stack fragment or run PMTU discovery before this point; a
		 * packet still too big would only be dropped by the driver, so drop it visibly here. */
		if (s && s->uplink_mtu && len - ETH_HLEN + encap_overhead(rt->encap) > s->uplink_mtu) {
			count(HOOK, rt->encap, REASON_DROP_MTU_EXCEEDED, len);
			return TC_ACT_SHOT;
		}
	}
	return encap_and_redirect(skb, HOOK, rt, len, 0);
}

char _license[] SEC("license") = "GPL";
