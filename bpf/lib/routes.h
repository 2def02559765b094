/* SPDX-License-Identifier: GPL-2.0-only */
/* routes_map lookups (through the per-CPU cache) and local delivery into a workload. */
#ifndef BPF_OVERLAY_ROUTES_H
#define BPF_OVERLAY_ROUTES_H

#include "maps.h"
#include "csum.h"
#include "cache.h"

/* The route for `addr` copied into `buf` (returned), or NULL when no entry covers it. A copy, not a pointer
 * into a map: two lookups of one program may share a cache slot. The per-CPU cache answers when it holds `addr`
 * for the current generation; else the trie does, and its answer (a miss too) fills the slot. */
static __always_inline struct route_value *route_lookup(__be32 addr, struct route_value *buf)
{
	struct route_key key = { .prefixlen = 32, .addr = addr };
	struct route_cache_slot *slot = NULL;
	struct route_value *rt;
	__u32 gen = cache_gen(), idx;

	if (gen) {
		idx = cache_index(addr, ROUTE_CACHE_SLOTS);
		slot = bpf_map_lookup_elem(&route_cache_map, &idx);
		if (slot && slot->gen == gen && slot->addr == addr) {
			*buf = slot->value;
			return buf->kind != ROUTE_KIND_NONE ? buf : NULL;
		}
	}
	rt = bpf_map_lookup_elem(&routes_map, &key);
	if (rt)
		*buf = *rt;
	else
		__builtin_memset(buf, 0, sizeof(*buf));
	if (slot) {
		slot->addr = addr;
		slot->value = *buf;
		slot->gen = gen;
	}
	return rt ? buf : NULL;
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
