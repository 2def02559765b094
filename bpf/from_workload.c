// SPDX-License-Identifier: Apache-2.0
/* tc ingress on the host side of a workload veth: everything a pod sends enters here. */
#include "lib/common.h"
#include "lib/config.h"
#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/parsing.h"
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

SEC("tc")
int from_workload(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	void *data, *data_end;
	struct route_value *rt, *src;
	struct l3 p;
	int gso = skb->gso_size != 0;
	__u32 tunnel;

	/* IPv4 header with options and the UDP header: the tunnel check reads the destination port. */
	tc_linearize(skb, ETH_HLEN + 60 + UDP_HLEN);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	switch (parse_ipv4(data, data_end, len - ETH_HLEN, gso, &p)) {
	case PARSE_IPV4:
		break;
	case PARSE_NOT_IPV4:
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return TC_ACT_OK;
	default:
		count(HOOK, ENCAP_NONE, REASON_DROP_MALFORMED, len);
		return TC_ACT_SHOT;
	}

	/* The source must be the workload's own (bpf_redirect_* bypasses the kernel's rp_filter). At tc
	 * ingress, ingress_ifindex is the host-side veth the packet came in on. */
	src = route_lookup(p.iph->saddr);
	if (!workload_source_ok(src, skb->ingress_ifindex, p.iph->saddr)) {
		count(HOOK, ENCAP_NONE, REASON_DROP_SPOOFED_SOURCE, len);
		return TC_ACT_SHOT;
	}

	/* A workload has no business emitting tunnel packets: sent to a node (masqueraded by natOutgoing or
	 * not) one would be decapsulated there as if that node's peer had sent it. */
	tunnel = workload_tunnel_packet(&p, data_end);
	if (tunnel != ENCAP_NONE) {
		count(HOOK, tunnel, REASON_DROP_TUNNEL_FROM_WORKLOAD, len);
		return TC_ACT_SHOT;
	}
	if (p.iph->protocol == IPPROTO_IPIP_NR) {
		count(HOOK, ENCAP_IPIP, REASON_DROP_IPIP_FROM_WORKLOAD, len);
		return TC_ACT_SHOT;
	}

	rt = route_lookup(p.iph->daddr);
	if (!rt) {
		/* Outside every pool: the stack routes it; natOutgoing is applied there by the masquerade rule
		 * for sources in a natOutgoing pool. */
		if (src && (src->flags & ROUTE_F_NAT_OUTGOING))
			count(HOOK, ENCAP_NONE, REASON_NAT_OUTGOING, len);
		else
			count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return TC_ACT_OK;
	}

	switch (rt->kind) {
	case ROUTE_KIND_LOCAL_WORKLOAD:
		if (p.iph->ttl <= 1)
			break;
		count(HOOK, ENCAP_NONE, REASON_REDIRECT_LOCAL, len);
		return deliver_local(p.eth, p.iph, rt);

	case ROUTE_KIND_REMOTE_BLOCK: {
		__u32 encap = rt->encap, mtu = 0;

		if (p.iph->ttl <= 1)
			break;
		if (encap == ENCAP_NONE) {
			struct bpf_redir_neigh nh = { .nh_family = AF_INET, .ipv4_nh = rt->next_hop };

			ipv4_decrease_ttl(p.iph);
			count(HOOK, ENCAP_NONE, REASON_FORWARD_PLAIN, len);
			if (rt->flags & ROUTE_F_VIA_FIB)
				return bpf_redirect_neigh(uplink_ifindex, NULL, 0, 0);
			return bpf_redirect_neigh(uplink_ifindex, &nh, sizeof(nh), 0);
		}
		if (encap >= ENCAP__MAX) {
			count(HOOK, ENCAP_NONE, REASON_DROP_NO_ROUTE, len);
			return TC_ACT_SHOT;
		}
		if (!gso && too_big_for_tunnel(skb, encap_overhead(encap), &mtu)) {
			int df;

			data = (void *)(long)skb->data;
			data_end = (void *)(long)skb->data_end;
			if (data + ETH_HLEN + IPV4_HLEN > data_end)
				return TC_ACT_SHOT;
			df = ((struct iphdr *)(data + ETH_HLEN))->frag_off & bpf_htons(IP_DF);
			if (!df) {
				/* The stack fragments it to the block route's MTU (the agent's
				 * "BLOCK dev UPLINK mtu TUNNEL_MTU" route); to_uplink encapsulates each fragment. */
				count(HOOK, encap, REASON_PASS, len);
				return TC_ACT_OK;
			}
			count(HOOK, encap, REASON_DROP_MTU_EXCEEDED, len);
			count(HOOK, encap, REASON_FRAG_NEEDED, len);
			return reply_frag_needed(skb, p.ihl_bytes, mtu - encap_overhead(encap), icmp_source());
		}
		return encap_and_redirect(skb, HOOK, rt, len, 1);
	}

	case ROUTE_KIND_LOCAL_HOST:
		count(HOOK, ENCAP_NONE, REASON_PASS, len);
		return TC_ACT_OK;

	default: /* POOL, LOCAL_BLOCK: an address of the overlay that nobody holds */
		count(HOOK, ENCAP_NONE, REASON_DROP_NO_ROUTE, len);
		return TC_ACT_SHOT;
	}

	/* TTL exhausted: the stack answers with ICMP time-exceeded, as a router must. */
	count(HOOK, ENCAP_NONE, REASON_PASS, len);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
