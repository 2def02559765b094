/* SPDX-License-Identifier: GPL-2.0-only */
/* Everything that arrives on the uplink, for both hooks (lib/ctx.h): validation, the known-node and
 * inner-source checks (tunnel.h), decapsulation, and for tc the plain packets for a local workload.
 * XDP decapsulates and passes up; tc ingress (attached too) then sees a plain packet for a local workload and
 * delivers it, so DECAP is counted once, by the hook that stripped the headers. */
#ifndef BPF_OVERLAY_UPLINK_H
#define BPF_OVERLAY_UPLINK_H

#include "ctx.h"
#include "config.h"
#include "maps.h"
#include "parsing.h"
#include "routes.h"
#include "tunnel.h"
#include "antispoof.h"
#include "verdict.h"

/* outer Ethernet + IPv4 with options + UDP + VXLAN + inner Ethernet + inner IPv4 base header */
#define UPLINK_HEADERS_MAX	(ETH_HLEN + 60 + UDP_HLEN + VXLAN_HLEN + ETH_HLEN + IPV4_HLEN)
#define TUNNEL_STRIP_MAX	(60 + UDP_HLEN + VXLAN_HLEN + ETH_HLEN)

/* `rt` points into the route cache: no route lookup may come between this one and deliver_local. */
static __always_inline __u32 uplink_decap(struct ctx_buff *ctx, const struct tunnel *t, __u32 gen, struct verdict *v)
{
	const struct route_value *rt = route_lookup_gen(t->inner->daddr, gen);
	__u32 kind = rt ? rt->kind : ROUTE_KIND_NONE, strip = t->strip;
	struct ethhdr *eth;
	struct iphdr *iph;

	v->encap = t->encap;
	/* Decide before touching the packet: a known node may not use us as a relay either. */
	if (unlikely(kind != ROUTE_KIND_LOCAL_WORKLOAD && kind != ROUTE_KIND_LOCAL_HOST))
		return REASON_DROP_NO_ROUTE;
	if (unlikely(strip > TUNNEL_STRIP_MAX))
		return REASON_DROP_MALFORMED;	/* cannot happen: tunnel_classify bounds it */
	if (unlikely(ctx_strip_after_eth(ctx, strip)))
		return REASON_DROP_ADJUST_ROOM;
	if (kind == ROUTE_KIND_LOCAL_HOST || !CTX_HAS_REDIRECT_PEER)
		return REASON_DECAP;

	/* tunnel_classify validated the inner header and the strip moved no byte of it: only the window is new
	 * (the helper invalidated every packet pointer), so a bounds check, not a second parse. */
	eth = ctx_data(ctx);
	iph = (void *)(eth + 1);
	if (unlikely((void *)(iph + 1) > ctx_data_end(ctx)))
		return REASON_DROP_MALFORMED;	/* cannot happen: the inner header was in the window before */
	if (likely(iph->ttl > 1))	/* else the stack sends time-exceeded */
		v->action = deliver_local(eth, iph, rt);
	return REASON_DECAP;
}

/* A plain packet: delivered when it is for a local workload and its source may come from the underlay. */
static __always_inline __u32 uplink_plain(const struct l3 *p, struct verdict *v)
{
	struct route_value *rt, rt_buf;
	__u32 gen;

	if (!CTX_HAS_REDIRECT_PEER)
		return REASON_PASS;
	/* Read again rather than passed from from_uplink_reason: keeping it live across tunnel_classify took a
	 * callee-saved register from the decapsulation path (+2-3 ns there in an alternated A/B run). */
	gen = cache_gen();
	rt = route_lookup(p->iph->daddr, gen, &rt_buf);
	if (!rt || rt->kind != ROUTE_KIND_LOCAL_WORKLOAD)
		return REASON_PASS;
	/* Strict reverse path before anything reaches a workload, TTL-expired packets included. */
	if (!uplink_source_ok(p->iph->saddr, gen))
		return REASON_DROP_RPF;
	if (p->iph->ttl <= 1)
		return REASON_PASS;
	v->action = deliver_local(p->eth, p->iph, rt);
	return REASON_REDIRECT_LOCAL;
}

static __always_inline __u32 from_uplink_reason(struct ctx_buff *ctx, __u32 len, struct verdict *v)
{
	void *data, *data_end;
	struct tunnel t = {};
	struct l3 p;
	int parsed;
	__u32 gen;

	ctx_linearize(ctx, UPLINK_HEADERS_MAX);
	data = ctx_data(ctx);
	data_end = ctx_data_end(ctx);

	parsed = parse_ipv4(data, data_end, len - ETH_HLEN, ctx_is_gso(ctx), &p);
	if (unlikely(parsed != PARSE_IPV4))
		return parse_reject_reason(parsed);

	gen = cache_gen();
	switch (tunnel_classify(&p, data_end, gen, &t)) {
	case TUNNEL_DECAP:
		return uplink_decap(ctx, &t, gen, v);
	case TUNNEL_DROP:
		v->encap = t.encap;
		return t.reason;
	default:
		return uplink_plain(&p, v);
	}
}

#endif /* BPF_OVERLAY_UPLINK_H */
