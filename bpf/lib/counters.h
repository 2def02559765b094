/* SPDX-License-Identifier: GPL-2.0-only */
/* One per-CPU slot per (hook, encap, reason): no atomics needed, the control plane sums the CPUs. */
#ifndef BPF_OVERLAY_COUNTERS_H
#define BPF_OVERLAY_COUNTERS_H

#include "maps.h"

static __always_inline void count(__u32 hook, __u32 encap, __u32 reason, __u32 bytes)
{
	__u32 slot = (hook * ENCAP__MAX + encap) * REASON__MAX + reason;
	struct counter_value *c = bpf_map_lookup_elem(&counters_map, &slot);

	if (likely(c)) {
		c->packets++;
		c->bytes += bytes;
	}
}

#endif /* BPF_OVERLAY_COUNTERS_H */
