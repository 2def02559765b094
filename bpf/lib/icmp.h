/* SPDX-License-Identifier: GPL-2.0-only */
/* ICMP "fragmentation needed" (type 3 code 4) built from the offending packet itself, so path-MTU discovery in
 * the workload learns the tunnel MTU instead of its packets vanishing (Calico issues 8953, 7651). */
#ifndef BPF_OVERLAY_ICMP_H
#define BPF_OVERLAY_ICMP_H

#include "common.h"
#include "csum.h"

#define ICMP_DEST_UNREACH_T	3
#define ICMP_FRAG_NEEDED_C	4
#define ICMP_HLEN		8
#define ICMP_QUOTE_MAX		(60 + 8)	/* largest IPv4 header + 64 bits of its payload (RFC 792) */
#define ICMP_ERR_TOS		0xc0		/* internetwork control, as Linux sends its ICMP errors */

/* Turns `skb` (Ethernet + IPv4, at least IP header + 8 bytes long) into the ICMP error addressed back to its
 * sender and returns it out of the interface it arrived on (the host side of the workload veth, so it lands
 * in the workload). `from` is the address the error claims to come from. Returns a TC action; the caller
 * counts. */
static __always_inline int reply_frag_needed(struct __sk_buff *skb, __u32 ihl_bytes, __u32 next_hop_mtu,
					     __be32 from)
{
	__u8 quote[ICMP_QUOTE_MAX];
	__u32 quote_len = (ihl_bytes & 0x3c) + 8;
	__u32 ifindex = skb->ifindex;
	void *data, *data_end;
	struct ethhdr *eth;
	struct iphdr *iph;
	struct icmphdr *icmp;
	__u8 peer_mac[ETH_ALEN], our_mac[ETH_ALEN];
	__be32 sender;
	__s64 sum;

	if (quote_len < 28 || quote_len > ICMP_QUOTE_MAX)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, quote, quote_len))
		return TC_ACT_SHOT;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	iph = data + ETH_HLEN;
	if ((void *)(iph + 1) > data_end)
		return TC_ACT_SHOT;
	mac_copy(peer_mac, eth->h_source);
	mac_copy(our_mac, eth->h_dest);
	sender = iph->saddr;

	if (bpf_skb_change_tail(skb, ETH_HLEN + IPV4_HLEN + ICMP_HLEN + quote_len, 0))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, ETH_HLEN + IPV4_HLEN + ICMP_HLEN, quote, quote_len, 0))
		return TC_ACT_SHOT;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	iph = data + ETH_HLEN;
	icmp = (void *)(iph + 1);
	if ((void *)(icmp + 1) > data_end)
		return TC_ACT_SHOT;

	mac_copy(eth->h_dest, peer_mac);
	mac_copy(eth->h_source, our_mac);
	eth->h_proto = bpf_htons(ETH_P_IP);

	*(__u8 *)iph = 0x45;
	iph->tos = ICMP_ERR_TOS;
	iph->tot_len = bpf_htons(IPV4_HLEN + ICMP_HLEN + quote_len);
	iph->id = 0;
	iph->frag_off = 0;
	iph->ttl = 64;
	iph->protocol = IPPROTO_ICMP_NR;
	iph->check = 0;
	iph->saddr = from;
	iph->daddr = sender;
	iph->check = ipv4_hdr_csum20(iph);

	icmp->type = ICMP_DEST_UNREACH_T;
	icmp->code = ICMP_FRAG_NEEDED_C;
	icmp->checksum = 0;
	icmp->un.frag.__unused = 0;
	icmp->un.frag.mtu = bpf_htons(next_hop_mtu);

	/* The ICMP checksum covers header + quote; the quote is still on the stack, so one csum_diff over it
	 * seeded with the header's two words. quote_len is a multiple of 4, as csum_diff requires. */
	sum = bpf_csum_diff(NULL, 0, (__be32 *)quote, quote_len,
			    (__u32)(bpf_htons((ICMP_DEST_UNREACH_T << 8) | ICMP_FRAG_NEEDED_C)) +
				    (__u32)bpf_htons(next_hop_mtu));
	if (sum < 0)
		return TC_ACT_SHOT;
	icmp->checksum = csum_fold64((__u64)sum);

	return bpf_redirect(ifindex, 0);
}

#endif /* BPF_OVERLAY_ICMP_H */
