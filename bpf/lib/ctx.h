/* SPDX-License-Identifier: GPL-2.0-only */
/* One packet context for tc and XDP, as Cilium's __ctx_buff: an entry file defines CTX_XDP before its first
 * include when it is an XDP program, and every routine written against `struct ctx_buff` then compiles for
 * that hook. What differs between the hooks (the window, the length, the verdicts, how headers are stripped)
 * lives here and nowhere else. */
#ifndef BPF_OVERLAY_CTX_H
#define BPF_OVERLAY_CTX_H

#include "common.h"

#ifdef CTX_XDP

#define ctx_buff	xdp_md
#define CTX_PASS	XDP_PASS
#define CTX_DROP	XDP_DROP
/* bpf_redirect_peer is tc-only: XDP passes what tc ingress will deliver. */
#define CTX_HAS_REDIRECT_PEER	0

static __always_inline void *ctx_data(const struct xdp_md *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(const struct xdp_md *ctx)
{
	return (void *)(long)ctx->data_end;
}

/* The linear window is what XDP validates; a frags packet's tail is payload, never a header. */
static __always_inline __u32 ctx_len(const struct xdp_md *ctx)
{
	return ctx->data_end - ctx->data;
}

static __always_inline int ctx_is_gso(const struct xdp_md *ctx)
{
	return 0;
}

static __always_inline void ctx_linearize(struct xdp_md *ctx, __u32 want)
{
}

/* Removes `strip` bytes after the Ethernet header: slide the Ethernet header forward over them, then drop
 * the front. Nonzero when the kernel refuses. */
static __always_inline int ctx_strip_after_eth(struct xdp_md *ctx, __u32 strip)
{
	void *data = ctx_data(ctx), *data_end = ctx_data_end(ctx);
	struct ethhdr *eth = data + strip;

	/* The first bound follows from the second (strip > 0), but the verifier tracks them separately. */
	if (data + ETH_HLEN > data_end || (void *)(eth + 1) > data_end)
		return -1;
	__builtin_memmove(eth, data, ETH_HLEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return bpf_xdp_adjust_head(ctx, strip);
}

#else /* tc */

#define ctx_buff	__sk_buff
#define CTX_PASS	TC_ACT_OK
#define CTX_DROP	TC_ACT_SHOT
#define CTX_HAS_REDIRECT_PEER	1

static __always_inline void *ctx_data(const struct __sk_buff *ctx)
{
	return (void *)(long)ctx->data;
}

static __always_inline void *ctx_data_end(const struct __sk_buff *ctx)
{
	return (void *)(long)ctx->data_end;
}

static __always_inline __u32 ctx_len(const struct __sk_buff *ctx)
{
	return ctx->len;
}

static __always_inline int ctx_is_gso(const struct __sk_buff *ctx)
{
	return ctx->gso_size != 0;
}

/* Makes at least `want` bytes (or the whole packet) linear so direct access sees the headers. Packets from
 * veths and the test runner are already linear; only paged frames from real NICs pay the helper call. */
static __always_inline void ctx_linearize(struct __sk_buff *ctx, __u32 want)
{
	__u32 len = ctx->len < want ? ctx->len : want;

	if (unlikely(ctx_data(ctx) + len > ctx_data_end(ctx)))
		bpf_skb_pull_data(ctx, len);
	barrier_var(ctx);
}

/* FIXED_GSO: the inner segments keep the size their sender chose (growing gso_size by the stripped headers
 * would make segments larger than the sender's MSS), and the kernel refuses to shrink a UDP GSO packet
 * without it, because there gso_size delimits the datagrams. */
static __always_inline int ctx_strip_after_eth(struct __sk_buff *ctx, __u32 strip)
{
	return bpf_skb_adjust_room(ctx, -(__s32)strip, BPF_ADJ_ROOM_MAC,
				   BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO);
}

#endif

#endif /* BPF_OVERLAY_CTX_H */
