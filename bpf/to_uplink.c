/* SPDX-License-Identifier: GPL-2.0-only */
/* tc egress on the uplink: host-originated (or kernel-forwarded) traffic to remote workloads. The agent's
 * route "BLOCK dev UPLINK src TUNNEL_ADDR mtu TUNNEL_MTU" brings it here sized for the tunnel; we wrap it
 * and re-resolve L2 for the outer destination (the L2 header the kernel built is for the inner one). */
#include "lib/ctx.h"
#include "lib/config.h"
#include "lib/maps.h"
#include "lib/parsing.h"
#include "lib/verdict.h"
#include "lib/routes.h"
#include "lib/encap.h"
#include "lib/antispoof.h"

#define HOOK HOOK_TO_UPLINK

static __always_inline __u32 to_uplink_reason(struct __sk_buff *skb, __u32 len, struct verdict *v)
{
	struct route_value *rt, rt_buf;
	struct l3 p;
	__u32 gen;

	/* With the ports: the VXLAN source port hashes them. */
	ctx_linearize(skb, ETH_HLEN + 60 + UDP_HLEN);
	if (parse_ipv4(ctx_data(skb), ctx_data_end(skb), len - ETH_HLEN, ctx_is_gso(skb), &p) != PARSE_IPV4)
		return REASON_PASS;

	/* Our own tunnel packets come back through here after bpf_redirect_neigh: their outer destination is
	 * a node address, in no pool, so the lookup below misses and they pass untouched. */
	gen = cache_gen();
	rt = route_lookup(p.iph->daddr, gen, &rt_buf);
	if (!rt || rt->kind != ROUTE_KIND_REMOTE_BLOCK || rt->encap == ENCAP_NONE || rt->encap >= ENCAP__MAX)
		return REASON_PASS;
	/* A node's underlay address inside a remote block (a pool overlapping the underlay) would make our own
	 * tunnel packets come back here and be wrapped again, without end: a node is reached unencapsulated.
	 * The compiler marks the blocks that hold no node, which spares the hash lookup (~36 ns). */
	if (p.iph->daddr == node_addr ||
	    (!(rt->flags & ROUTE_F_NO_CLUSTER_NODE) && is_cluster_node(p.iph->daddr, gen)))
		return REASON_PASS;
	v->encap = rt->encap;
	if (p.iph->protocol == IPPROTO_IPIP_NR)
		return REASON_DROP_MALFORMED;
	if (!ctx_is_gso(skb)) {
		__u32 zero = 0;
		struct settings_value *s = bpf_map_lookup_elem(&settings_map, &zero);

		/* The block route's MTU makes the stack fragment or run PMTU discovery before this point; a
		 * packet still too big would only be dropped by the driver, so drop it visibly here. */
		if (s && s->uplink_mtu && len - ETH_HLEN + encap_overhead(rt->encap) > s->uplink_mtu)
			return REASON_DROP_MTU_EXCEEDED;
	}
	return encap_and_redirect(skb, rt, p.ihl_bytes, 0, v);
}

SEC("tc")
int to_uplink(struct __sk_buff *skb)
{
	struct verdict v = VERDICT_INIT;
	__u32 len = ctx_len(skb);

	return verdict_finish(HOOK, &v, to_uplink_reason(skb, len, &v), len);
}

char _license[] SEC("license") = "GPL";
