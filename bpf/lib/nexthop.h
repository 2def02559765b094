/* SPDX-License-Identifier: GPL-2.0-only */
/* The hand-off of an encapsulated packet to the uplink: with the next hop's MAC pre-resolved by the agent
 * (next_hop_map, maps.h), or through the kernel's route and neighbour lookups. */
#ifndef BPF_OVERLAY_NEXTHOP_H
#define BPF_OVERLAY_NEXTHOP_H

#include "common.h"
#include "config.h"
#include "maps.h"
#include "cache.h"

/* The next_hop_map entry for `node`, or NULL: through the per-CPU cache while next_hop_gen_map holds a
 * generation, as routes.h does for routes (a miss is cached too). The pointer is into the map or into this CPU's
 * slot, read before anything else could run on this CPU: one lookup per packet, so no copy is needed. */
static __always_inline const struct next_hop_value *next_hop_lookup(__be32 node)
{
	struct next_hop_key key = { .addr = node };
	struct next_hop_cache_slot *slot = NULL;
	struct next_hop_value *nh;
	__u32 zero = 0, gen = 0, idx, *g;

	g = bpf_map_lookup_elem(&next_hop_gen_map, &zero);
	if (g)
		gen = *g;
	if (gen) {
		idx = cache_index(node, NEXT_HOP_CACHE_SLOTS);
		slot = bpf_map_lookup_elem(&next_hop_cache_map, &idx);
		if (slot && slot->gen == gen && slot->addr == node)
			return slot->known ? &slot->value : NULL;
	}
	nh = bpf_map_lookup_elem(&next_hop_map, &key);
	if (slot) {
		slot->addr = node;
		if (nh)
			slot->value = *nh;
		slot->known = nh != NULL;
		slot->gen = gen;
	}
	return nh;
}

/* Sends the frame in `skb` (Ethernet at offset 0, outer IPv4 destination `node`) out of the uplink. With a fresh
 * next_hop_map entry for `node`: its Ethernet header and bpf_redirect (no FIB or neighbour lookup at transmit).
 * Otherwise bpf_redirect_neigh without parameters: the kernel routes `node` out of uplink_ifindex and resolves the
 * route's gateway (or `node` itself), which also starts resolution of a neighbour not yet known. Returns the action. */
static __always_inline int redirect_to_node(struct __sk_buff *skb, __be32 node)
{
	const struct next_hop_value *nh = next_hop_lookup(node);
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (!nh || (nh->flags & NEXT_HOP_F_VERIFY) || (void *)(eth + 1) > data_end)
		return bpf_redirect_neigh(uplink_ifindex, NULL, 0, 0);
	mac_copy(eth->h_dest, nh->dst_mac);
	mac_copy(eth->h_source, nh->src_mac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return bpf_redirect(nh->ifindex, 0);
}

#endif /* BPF_OVERLAY_NEXTHOP_H */
