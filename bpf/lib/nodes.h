/* SPDX-License-Identifier: GPL-2.0-only */
/* known_nodes_map lookups through the per-CPU node cache (maps.h, cache.h). */
#ifndef BPF_OVERLAY_NODES_H
#define BPF_OVERLAY_NODES_H

#include "maps.h"
#include "cache.h"

/* A cache miss: the hash map's answer for `addr` (a miss too) fills `slot`; nonzero for a known node. Out of
 * line, as route_cache_fill (routes.h). */
static __noinline int node_cache_fill(struct node_cache_slot *slot, __be32 addr, __u32 gen)
{
	struct known_node_value *node = bpf_map_lookup_elem(&known_nodes_map, &addr);

	if (node)
		slot->value = *node;
	else
		__builtin_memset(&slot->value, 0, sizeof(slot->value));
	slot->addr = addr;
	slot->known = node != NULL;
	slot->gen = gen;
	return node != NULL;
}

/* The known node at underlay address `addr`, or NULL when there is none: a pointer into this CPU's cache slot
 * (with the caches off, into known_nodes_map itself), valid until this program's next node lookup. `gen` is
 * cache_gen(), read once per packet. The slot answers when it holds `addr` for the current generation; else the
 * hash map does, and its answer (a miss too: unknown senders are what the decap check rejects) fills the slot. */
static __always_inline const struct known_node_value *known_node_lookup_gen(__be32 addr, __u32 gen)
{
	struct node_cache_slot *slot;
	__u32 idx;

	if (likely(gen)) {
		idx = cache_index(addr, NODE_CACHE_SLOTS);
		slot = bpf_map_lookup_elem(&node_cache_map, &idx);
		if (likely(slot)) {
			if (likely(slot->gen == gen && slot->addr == addr))
				return slot->known ? &slot->value : NULL;
			return node_cache_fill(slot, addr, gen) ? &slot->value : NULL;
		}
	}
	return bpf_map_lookup_elem(&known_nodes_map, &addr);
}

#endif /* BPF_OVERLAY_NODES_H */
