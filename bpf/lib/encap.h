/* SPDX-License-Identifier: GPL-2.0-only */
/* In-place IPIP / VXLAN encapsulation of an skb and its hand-off toward the remote node. Used by the workload
 * ingress (forwarded traffic) and the uplink egress (host-originated traffic). */
#ifndef BPF_OVERLAY_ENCAP_H
#define BPF_OVERLAY_ENCAP_H

#include "common.h"
#include "config.h"
#include "csum.h"
#include "grow.h"
#include "parsing.h"
#include "verdict.h"

#define OUTER_TTL		64
#define VXLAN_SPORT_BASE	49152	/* IANA dynamic range, as the Linux VXLAN device defaults to */
#define VXLAN_SPORT_MASK	0x3fff	/* 16384 ports: 49152..65535 */

static __always_inline __u32 encap_overhead(__u32 encap)
{
	return encap == ENCAP_VXLAN ? VXLAN_OVERHEAD : IPIP_OVERHEAD;
}

/* jhash's final mix of three words (the kernel's __jhash_final): a full avalanche in ~20 ALU operations. */
#define ROL32(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
static __always_inline __u32 jhash_3words(__u32 a, __u32 b, __u32 c)
{
	a += 0xdeadbeef + 12;
	b += 0xdeadbeef + 12;
	c += 0xdeadbeef + 12;
	c ^= b; c -= ROL32(b, 14);
	a ^= c; a -= ROL32(c, 11);
	b ^= a; b -= ROL32(a, 25);
	c ^= b; c -= ROL32(b, 16);
	a ^= c; a -= ROL32(c, 4);
	b ^= a; b -= ROL32(a, 14);
	c ^= b; c -= ROL32(b, 24);
	return c;
}

/* The inner flow's hash for the VXLAN source port: one port per flow keeps it on one underlay ECMP path and
 * one receive queue, different flows spread. The socket's hash when the skb carries one (TCP, connected UDP:
 * free), else addresses, protocol and, for an unfragmented TCP/UDP packet, ports, hashed inline (the flow
 * dissector behind bpf_get_hash_recalc costs ~146 ns). Fragments hash without ports, as the dissector does,
 * so all fragments of a datagram take the same path. */
static __always_inline __u32 inner_flow_hash(const struct __sk_buff *skb, const struct iphdr *iph, __u32 ihl_bytes,
					     void *data_end)
{
	const __be16 *ports = (const void *)iph + ihl_bytes;
	__u32 hash = skb->hash, l4 = 0;

	if (hash)
		return hash;
	if ((iph->protocol == IPPROTO_TCP_NR || iph->protocol == IPPROTO_UDP_NR) && !ipv4_is_fragment(iph) &&
	    (void *)(ports + 2) <= data_end)
		l4 = *(const __u32 *)ports;
	return jhash_3words(iph->saddr, iph->daddr, l4 ^ iph->protocol);
}

/* Outer IP id of a packet that may be fragmented on the underlay (no DF): the inner id, which its sender keeps
 * unique within the inner flow, offset by the inner addresses so that flows between the same two nodes do not
 * reuse each other's ids in step. No helper: bpf_get_prandom_u32 cost ~26 ns. */
static __always_inline __u16 outer_ip_id(const struct iphdr *iph)
{
	__u32 a = iph->saddr ^ iph->daddr;

	return bpf_ntohs(iph->id) + (__u16)(a ^ (a >> 16));
}

/* Encapsulates the IPv4 packet in `skb` (Ethernet at offset 0, IPv4 header of `ihl_bytes` validated) for `rt`
 * (REMOTE_BLOCK with IPIP or VXLAN) and redirects it out of the uplink. Returns the counter reason; on
 * REASON_ENCAP v->action is the redirect.
 *
 * Outer L2: bpf_redirect_neigh without parameters makes the kernel route the OUTER destination (next_hop)
 * out of uplink_ifindex and resolve the neighbour of that route's gateway, so a next hop in another subnet
 * goes through the subnet's router, exactly as a bpf_fib_lookup + bpf_redirect_neigh(&nh) pair would, with
 * one helper call less on the hot path, and without making test runs depend on the host's routing table.
 * Failures there (no route) are counted by the kernel as tx drops on the uplink.
 *
 * Room for the outer headers: lib/grow.h (bpf_skb_change_head where the kernel needs no encapsulation
 * record, else bpf_skb_adjust_room with these flags).
 * BPF_F_ADJ_ROOM_FIXED_GSO keeps gso_size: the workload/route MTU already leaves room for the overhead, and
 * the ENCAP_* flags set skb->encapsulation and the inner offsets, so GSO segments and checksum offload of a
 * TCP packet still work on the inner headers (the outer UDP checksum is 0, as Calico and Linux VXLAN send). */
static __always_inline __u32 encap_and_redirect(struct __sk_buff *skb, const struct route_value *rt, __u32 ihl_bytes,
						int forwarded, struct verdict *v)
{
	__u32 encap = rt->encap;
	__be32 next_hop = rt->next_hop;
	__u32 hash = 0, room, outer_len;
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4;
	void *data, *data_end;
	struct iphdr *iph, *outer;
	__be16 df;
	__u16 id = 0;
	__u8 tos;

	v->encap = encap;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	iph = data + ETH_HLEN;
	if ((void *)(iph + 1) > data_end)
		return REASON_DROP_MALFORMED;
	if (encap == ENCAP_VXLAN) {
		hash = inner_flow_hash(skb, iph, ihl_bytes, data_end);
		room = VXLAN_OVERHEAD;
		flags |= BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
			 BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN);
	} else {
		room = IPIP_OVERHEAD;
	}
	tos = iph->tos;
	df = iph->frag_off & bpf_htons(IP_DF);
	if (!df)
		id = outer_ip_id(iph);
	if (forwarded)
		ipv4_decrease_ttl(iph);

	if (skb_grow_after_eth(skb, room, flags))
		return REASON_DROP_ADJUST_ROOM;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	outer = data + ETH_HLEN;
	if ((void *)(outer + 1) > data_end)
		return REASON_DROP_MALFORMED;
	outer_len = skb->len - ETH_HLEN;

	*(__u8 *)outer = 0x45;	/* version 4, ihl 5 */
	outer->tos = tos;	/* DSCP and ECN copied: the underlay honours the workload's QoS, ECN survives */
	outer->tot_len = bpf_htons(outer_len);
	outer->id = bpf_htons(id);
	outer->frag_off = df;
	outer->ttl = OUTER_TTL;
	outer->protocol = encap == ENCAP_VXLAN ? IPPROTO_UDP_NR : IPPROTO_IPIP_NR;
	outer->check = 0;
	outer->saddr = node_addr;
	outer->daddr = next_hop;
	outer->check = ipv4_hdr_csum20(outer);

	if (encap == ENCAP_VXLAN) {
		struct udphdr *udp = (void *)(outer + 1);
		struct vxlanhdr_wire *vx = (void *)(udp + 1);
		struct ethhdr *ieth = (void *)(vx + 1);

		if ((void *)(ieth + 1) > data_end)
			return REASON_DROP_MALFORMED;
		udp->source = bpf_htons(VXLAN_SPORT_BASE | (hash & VXLAN_SPORT_MASK));
		udp->dest = bpf_htons(vxlan_port);
		udp->len = bpf_htons(outer_len - IPV4_HLEN);
		udp->check = 0;
		vx->flags = bpf_htonl(VXLAN_FLAG_VNI);
		vx->vni = bpf_htonl(vxlan_vni << 8);
		mac_copy(ieth->h_dest, rt->dst_mac);
		copy_vtep_mac(ieth->h_source);
		ieth->h_proto = bpf_htons(ETH_P_IP);
	}

	v->action = bpf_redirect_neigh(uplink_ifindex, NULL, 0, 0);
	return REASON_ENCAP;
}

#endif /* BPF_OVERLAY_ENCAP_H */
