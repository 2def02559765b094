/* SPDX-License-Identifier: GPL-2.0-only */
/* How a program ends: its routines return a counter reason (and, for a verdict, the action to return); the
 * program's single epilogue counts that reason once and returns. A drop reason always returns CTX_DROP: every
 * drop is counted, and no drop reason lets a packet through. */
#ifndef BPF_OVERLAY_VERDICT_H
#define BPF_OVERLAY_VERDICT_H

#include "ctx.h"
#include "counters.h"
#include "parsing.h"

#define REASON_FIRST_DROP REASON_DROP_UNKNOWN_SOURCE

/* Volatile: the verdict stays in the program's stack frame instead of taking two of BPF's four callee-saved
 * registers across the whole program (every reject site would set them), which made the compiler spill and
 * reload the packet pointers on the hot path. */
struct verdict {
	volatile __u32 encap;	/* counter slot's encapsulation, ENCAP_NONE unless a routine sets it */
	volatile int action;	/* returned for a verdict reason; CTX_PASS unless a routine sets it */
};

#define VERDICT_INIT { .encap = ENCAP_NONE, .action = CTX_PASS }

/* What a program counts for a frame parse_ipv4 refused: not IPv4 is not ours to judge, a broken header a drop. */
static __always_inline __u32 parse_reject_reason(int parsed)
{
	return parsed == PARSE_NOT_IPV4 ? REASON_PASS : REASON_DROP_MALFORMED;
}

static __always_inline int verdict_finish(__u32 hook, const struct verdict *v, __u32 reason, __u32 len)
{
	count(hook, v->encap, reason, len);
	return reason >= REASON_FIRST_DROP ? CTX_DROP : v->action;
}

#endif /* BPF_OVERLAY_VERDICT_H */
