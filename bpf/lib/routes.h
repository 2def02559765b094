/* SPDX-License-Identifier: Apache-2.0 */
/* The single routes_map lookup of the hot path, and local delivery into a workload. */
#ifndef BPF_OVERLAY_ROUTES_H
#define BPF_OVERLAY_ROUTES_H

#include "maps.h"
#include "csum.h"

static __always_inline struct route_value *route_lookup(__be32 addr)
{
	struct route_key key = { .prefixlen = 32, .addr = addr };

	return bpf_map_lookup_elem(&routes_map, &key);
}

/* Rewrites the frame as the host-side veth would have sent it and hands it to the workload's namespace:
 * bpf_redirect_peer skips the backlog queue of the veth pair (tc ingress only). The caller has checked
 * TTL > 1: a TTL-expired packet goes to the stack, which answers with ICMP time-exceeded. */
static __always_inline int deliver_local(struct ethhdr *eth, struct iphdr *iph, const struct route_value *rt)
{
	mac_copy(eth->h_dest, rt->dst_mac);
	mac_copy(eth->h_source, rt->src_mac);
	ipv4_decrease_ttl(iph);
	return bpf_redirect_peer(rt->ifindex, 0);
}

#endif /* BPF_OVERLAY_ROUTES_H */
