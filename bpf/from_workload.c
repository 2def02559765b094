/* SPDX-License-Identifier: GPL-2.0-only */
/* tc ingress on the host side of a workload veth: everything a pod sends enters here. */
#include "lib/ctx.h"
#include "lib/config.h"
#include "lib/maps.h"
#include "lib/parsing.h"
#include "lib/verdict.h"
#include "lib/routes.h"
#include "lib/encap.h"
#include "lib/icmp.h"
#include "lib/antispoof.h"

#define HOOK HOOK_FROM_WORKLOAD

/* Size the uplink MTU allows for an L3 packet, and the packet's size once encapsulated. The check is for
 * non-GSO packets only: GSO packets are cut to gso_size later, which the workload MTU already bounds. */
static __always_inline int too_big_for_tunnel(struct __sk_buff *skb, __u32 overhead, __u32 *uplink_mtu)
{
	__u32 zero = 0;
	struct settings_value *s = bpf_map_lookup_elem(&settings_map, &zero);
	__u32 mtu = s ? s->uplink_mtu : 0;

	if (mtu) {
		*uplink_mtu = mtu;
		return skb->len - ETH_HLEN + overhead > mtu;
	}
	/* Not configured: ask the kernel about the uplink itself. */
	if (bpf_check_mtu(skb, uplink_ifindex, &mtu, overhead, 0) == BPF_MTU_CHK_RET_FRAG_NEEDED) {
		*uplink_mtu = mtu;
		return 1;
	}
	return 0;
}

static __always_inline __be32 icmp_source(void)
{
	__u32 zero = 0;
	struct settings_value *s = bpf_map_lookup_elem(&settings_map, &zero);

	return s && s->tunnel_addr ? s->tunnel_addr : node_addr;
}

static __always_inline __u32 to_remote_block(struct __sk_buff *skb, const struct l3 *p, const struct route_value *rt,
					       struct verdict *v)
{
	__u32 encap = rt->encap, mtu = 0;
	void *data, *data_end;

	if (encap == ENCAP_NONE) {
		struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = rt->next_hop };

		ipv4_decrease_ttl(p->iph);
		/* A next hop on another subnet (BGP told the underlay's routers): the host FIB picks the router. */
		if (rt->flags & ROUTE_F_VIA_FIB)
			v->action = bpf_redirect_neigh(uplink_ifindex, NULL, 0, 0);
		else
			v->action = bpf_redirect_neigh(uplink_ifindex, &nh, sizeof(nh), 0);
		return REASON_FORWARD_PLAIN;
	}
	if (encap >= ENCAP__MAX)
		return REASON_DROP_NO_ROUTE;
	if (!ctx_is_gso(skb) && too_big_for_tunnel(skb, encap_overhead(encap), &mtu)) {
		v->encap = encap;
		data = ctx_data(skb);
		data_end = ctx_data_end(skb);
		if (data + ETH_HLEN + IPV4_HLEN > data_end)
			return REASON_DROP_MALFORMED;
		if (!(((struct iphdr *)(data + ETH_HLEN))->frag_off & bpf_htons(IP_DF)))
			/* The stack fragments it to the block route's MTU (the agent's
			 * "BLOCK dev UPLINK mtu TUNNEL_MTU" route); to_uplink encapsulates each fragment. */
			return REASON_PASS;
		/* Counted as the drop it is and as the reply (the epilogue adds MTU_EXCEEDED). */
		v->action = reply_frag_needed(skb, p->ihl_bytes, mtu - encap_overhead(encap), icmp_source());
		return REASON_FRAG_NEEDED;
	}
	return encap_and_redirect(skb, rt, p->ihl_bytes, 1, v);
}

static __always_inline __u32 from_workload_reason(struct __sk_buff *skb, __u32 len, struct verdict *v)
{
	void *data, *data_end;
	struct route_value *rt, *src, rt_buf, src_buf;
	struct l3 p;
	__u32 tunnel, gen;
	int parsed;

	/* IPv4 header with options and the UDP header: the tunnel check reads the destination port. */
	ctx_linearize(skb, ETH_HLEN + 60 + UDP_HLEN);
	data = ctx_data(skb);
	data_end = ctx_data_end(skb);

	parsed = parse_ipv4(data, data_end, len - ETH_HLEN, ctx_is_gso(skb), &p);
	if (parsed != PARSE_IPV4)
		return parse_reject_reason(parsed);

	gen = cache_gen();
	/* The source must be the workload's own (bpf_redirect_* bypasses the kernel's rp_filter). At tc
	 * ingress, ingress_ifindex is the host-side veth the packet came in on. */
	src = route_lookup(p.iph->saddr, gen, &src_buf);
	if (!workload_source_ok(src, skb->ingress_ifindex, p.iph->saddr))
		return REASON_DROP_SPOOFED_SOURCE;

	/* A workload has no business emitting tunnel packets: sent to a node (masqueraded by natOutgoing or
	 * not) one would be decapsulated there as if that node's peer had sent it. */
	tunnel = workload_tunnel_packet(&p, data_end, gen);
	if (tunnel != ENCAP_NONE) {
		v->encap = tunnel;
		return REASON_DROP_TUNNEL_FROM_WORKLOAD;
	}
	if (p.iph->protocol == IPPROTO_IPIP_NR) {
		v->encap = ENCAP_IPIP;
		return REASON_DROP_IPIP_FROM_WORKLOAD;
	}

	rt = route_lookup(p.iph->daddr, gen, &rt_buf);
	if (!rt)
		/* Outside every pool: the stack routes it; natOutgoing is applied there by the masquerade rule
		 * for sources in a natOutgoing pool. */
		return src && (src->flags & ROUTE_F_NAT_OUTGOING) ? REASON_NAT_OUTGOING : REASON_PASS;

	switch (rt->kind) {
	case ROUTE_KIND_LOCAL_WORKLOAD:
		if (p.iph->ttl <= 1)
			return REASON_PASS;	/* the stack answers with ICMP time-exceeded, as a router must */
		v->action = deliver_local(p.eth, p.iph, rt);
		return REASON_REDIRECT_LOCAL;
	case ROUTE_KIND_REMOTE_BLOCK:
		if (p.iph->ttl <= 1)
			return REASON_PASS;
		return to_remote_block(skb, &p, rt, v);
	case ROUTE_KIND_LOCAL_HOST:
		return REASON_PASS;
	default: /* POOL, LOCAL_BLOCK: an address of the overlay that nobody holds */
		return REASON_DROP_NO_ROUTE;
	}
}

SEC("tc")
int from_workload(struct __sk_buff *skb)
{
	struct verdict v = VERDICT_INIT;
	__u32 len = ctx_len(skb);
	__u32 reason = from_workload_reason(skb, len, &v);

	if (reason == REASON_FRAG_NEEDED)
		count(HOOK, v.encap, REASON_DROP_MTU_EXCEEDED, len);
	return verdict_finish(HOOK, &v, reason, len);
}

char _license[] SEC("license") = "GPL";
