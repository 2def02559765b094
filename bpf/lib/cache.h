/* SPDX-License-Identifier: GPL-2.0-only */
/* What the lookup caches (maps.h) share: the generation they are valid for, and the slot of an address.
 * A slot is read and written without a lock: that relies on no two runs of one object's program interleaving on
 * one CPU, which holds where tc and XDP run with preemption off (softirq, or BH disabled). A PREEMPT_RT kernel
 * runs them preemptibly, so there the agent publishes cache_gen 0 and the caches stay off. */
#ifndef BPF_OVERLAY_CACHE_H
#define BPF_OVERLAY_CACHE_H

#include "maps.h"

#define CACHE_HASH_MUL	0x9e3779b1u	/* 2^32 / golden ratio: spreads the low-entropy host bits */

/* settings.cache_gen; 0 (caches off) when the agent has published none. */
static __always_inline __u32 cache_gen(void)
{
	__u32 zero = 0;
	struct settings_value *s = bpf_map_lookup_elem(&settings_map, &zero);

	return s ? s->cache_gen : 0;
}

/* Slot of `addr` in a cache of `slots` entries (a power of two). */
#define cache_index(addr, slots) (((__u32)(addr) * CACHE_HASH_MUL) >> (32 - __builtin_ctz(slots)))

#endif /* BPF_OVERLAY_CACHE_H */
