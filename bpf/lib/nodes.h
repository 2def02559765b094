/* SPDX-License-Identifier: GPL-2.0-only */
/* known_nodes_map lookups through the per-CPU node cache (maps.h, cache.h). */
#ifndef BPF_OVERLAY_NODES_H
#define BPF_OVERLAY_NODES_H

#include "maps.h"
#include "cache.h"

/* The known node at underlay address `addr` copied into `buf` (returned), or NULL when there is none. The cache
 * answers when it holds `addr` for the current generation; else the hash map does, and its answer (a miss
 * too: unknown senders are what the decap check rejects) fills the slot. */
static __always_inline struct known_node_value *known_node_lookup(__be32 addr, struct known_node_value *buf)
{
	struct node_cache_slot *slot = NULL;
	struct known_node_value *node;
	__u32 gen = cache_gen(), idx;

	if (gen) {
		idx = cache_index(addr, NODE_CACHE_SLOTS);
		slot = bpf_map_lookup_elem(&node_cache_map, &idx);
		if (slot && slot->gen == gen && slot->addr == addr) {
			*buf = slot->value;
			return slot->known ? buf : NULL;
		}
	}
	node = bpf_map_lookup_elem(&known_nodes_map, &addr);
	if (node)
		*buf = *node;
	else
		__builtin_memset(buf, 0, sizeof(*buf));
	if (slot) {
		slot->addr = addr;
		slot->value = *buf;
		slot->known = node != NULL;
		slot->gen = gen;
	}
	return node ? buf : NULL;
}

#endif /* BPF_OVERLAY_NODES_H */
