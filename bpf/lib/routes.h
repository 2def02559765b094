/* SPDX-License-Identifier: GPL-2.0-only */
/* routes_map lookups (through the per-CPU cache) and local delivery into a workload. */
#ifndef BPF_OVERLAY_ROUTES_H
#define BPF_OVERLAY_ROUTES_H

#include "maps.h"
#include "csum.h"
#include "cache.h"

/* A cache miss: the trie's answer for `addr` (a miss too) fills `slot`; nonzero when an entry covers `addr`.
 * Out of line (a BPF-to-BPF call, paid only on a miss) so that the hit path of every inlined lookup stays short
 * and contiguous: on this host a program's cost follows the code its hot path runs through. */
static __noinline int route_cache_fill(struct route_cache_slot *slot, __be32 addr, __u32 gen)
{
	struct route_key key = { .prefixlen = 32, .addr = addr };
	struct route_value *rt = bpf_map_lookup_elem(&routes_map, &key);

	if (rt)
		slot->value = *rt;
	else
		__builtin_memset(&slot->value, 0, sizeof(slot->value));
	slot->addr = addr;
	slot->gen = gen;
	return rt != NULL;
}

/* The route for `addr`, or NULL when no entry covers it: a pointer into this CPU's cache slot (with the caches
 * off, into routes_map itself), valid only until this program's next route lookup, which may reuse the slot:
 * read what you need before looking up again. `gen` is cache_gen(), read once per packet. The slot answers when
 * it holds `addr` for the current generation; else the trie does, and its answer (a miss too) fills the slot. */
static __always_inline const struct route_value *route_lookup_gen(__be32 addr, __u32 gen)
{
	struct route_key key = { .prefixlen = 32, .addr = addr };
	struct route_cache_slot *slot;
	__u32 idx;

	if (likely(gen)) {
		idx = cache_index(addr, ROUTE_CACHE_SLOTS);
		slot = bpf_map_lookup_elem(&route_cache_map, &idx);
		if (likely(slot)) {
			if (likely(slot->gen == gen && slot->addr == addr))
				return slot->value.kind != ROUTE_KIND_NONE ? &slot->value : NULL;
			return route_cache_fill(slot, addr, gen) ? &slot->value : NULL;
		}
	}
	return bpf_map_lookup_elem(&routes_map, &key);
}

/* The route for `addr` copied into `buf` (returned), or NULL: for callers that look up again before they are
 * done with the first answer. `gen` as for route_lookup_gen. */
static __always_inline struct route_value *route_lookup(__be32 addr, __u32 gen, struct route_value *buf)
{
	const struct route_value *rt = route_lookup_gen(addr, gen);

	if (!rt)
		return NULL;
	*buf = *rt;
	return buf;
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
