// SPDX-License-Identifier: Apache-2.0
/* tc ingress on the uplink: decapsulates IPIP / VXLAN from known nodes and delivers straight into the
 * workload; plain traffic for a local workload (Never / CrossSubnet within the subnet) is delivered too.
 * When from_uplink_xdp runs in front, tunnel packets arrive here already decapsulated (and counted there),
 * so they take the plain path and are counted once more only as this hook's local delivery. */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/parsing.h"
#include "lib/routes.h"
#include "lib/tunnel.h"
#include "lib/antispoof.h"

#define HOOK HOOK_FROM_UPLINK_TC
/* outer Ethernet + IPv4 with options + UDP + VXLAN + inner Ethernet + inner IPv4 base header */
#define UPLINK_HEADERS_MAX (ETH_HLEN + 60 + UDP_HLEN + VXLAN_HLEN + ETH_HLEN + IPV4_HLEN)

static __always_inline int decap(struct __sk_buff *skb, const struct tunnel *t, __u32 len)
{
	struct route_value *rt = route_lookup(t->inner->daddr);
	__u32 encap = t->encap, kind, strip = t->strip;
	void *data, *data_end;
	struct l3 p;

	/* Decide before touching the packet: a known node may not use us as a relay either. */
	kind = rt ? rt->kind : ROUTE_KIND_NONE;
	if (kind != ROUTE_KIND_LOCAL_WORKLOAD && kind != ROUTE_KIND_LOCAL_HOST) {
		count(HOOK, encap, REASON_DROP_NO_ROUTE, len);
		return TC_ACT_SHOT;
	}
	if (strip > 60 + UDP_HLEN + VXLAN_HLEN + ETH_HLEN)
		return TC_ACT_SHOT;
	/* FIXED_GSO: the inner segments keep the size their sender chose (growing gso_size by the stripped
	 * headers would make segments larger than the sender's MSS), and the kernel refuses to shrink a UDP GSO
	 * packet without it, because there gso_size delimits the datagrams. */
	if (bpf_skb_adjust_room(skb, -(__s32)strip, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO)) {
		count(HOOK, encap, REASON_DROP_ADJUST_ROOM, len);
		return TC_ACT_SHOT;
	}
	count(HOOK, encap, REASON_DECAP, len);
	if (kind == ROUTE_KIND_LOCAL_HOST)
		return TC_ACT_OK;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (parse_ipv4(data, data_end, skb->len - ETH_HLEN, 1, &p) != PARSE_IPV4)
		return TC_ACT_SHOT;	/* cannot happen: tunnel_classify checked the inner header */
	if (p.iph->ttl <= 1)
		return TC_ACT_OK;	/* the stack sends time-exceeded */
	return deliver_local(p.eth, p.iph, rt);
}

SEC("tc")
int from_uplink(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	void *data, *data_end;
	struct route_value *rt;
	struct tunnel t = {};
	struct l3 p;

	tc_linearize(skb, UPLINK_HEADERS_MAX);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	switch (parse_ipv4(data, data_end, len - ETH_HLEN, skb->gso_size != 0, &p)) {
	case PARSE_IPV4:
		break;
	case PARSE_NOT_IPV4:
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return TC_ACT_OK;
	default:
		count(HOOK, ENCAP_NONE, REASON_DROP_MALFORMED, len);
		return TC_ACT_SHOT;
	}

	switch (tunnel_classify(&p, data_end, &t)) {
	case TUNNEL_DECAP:
		return decap(skb, &t, len);
	case TUNNEL_DROP:
		count(HOOK, t.encap, t.reason, len);
		return TC_ACT_SHOT;
	default:
		break;
	}

	rt = route_lookup(p.iph->daddr);
	if (rt && rt->kind == ROUTE_KIND_LOCAL_WORKLOAD) {
		/* Strict reverse path before anything reaches a workload, TTL-expired packets included. */
		if (!uplink_source_ok(p.iph->saddr)) {
			count(HOOK, ENCAP_NONE, REASON_DROP_RPF, len);
			return TC_ACT_SHOT;
		}
		if (p.iph->ttl > 1) {
			count(HOOK, ENCAP_NONE, REASON_REDIRECT_LOCAL, len);
			return deliver_local(p.eth, p.iph, rt);
		}
	}
	count(HOOK, ENCAP_NONE, REASON_PASS, len);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
