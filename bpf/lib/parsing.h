/* SPDX-License-Identifier: GPL-2.0-only */
/* Ethernet + IPv4 parsing on a [data, data_end) window, shared by tc and XDP programs. */
#ifndef BPF_OVERLAY_PARSING_H
#define BPF_OVERLAY_PARSING_H

#include "common.h"

enum parse_result {
	PARSE_IPV4 = 0,		/* eth and iph valid, the whole IPv4 header (with options) is in the window */
	PARSE_NOT_IPV4 = 1,	/* ARP, IPv6, short frames: not ours to judge */
	PARSE_MALFORMED = 2,	/* EtherType IPv4 but the header is impossible */
};

struct l3 {
	struct ethhdr *eth;
	struct iphdr *iph;
	__u32 ihl_bytes;
	__u32 tot_len;		/* the L3 length to compute with: ihl_bytes <= tot_len <= wire_len, always */
};

/* `wire_len` is the L3 length the packet really has (skb->len or the XDP window minus Ethernet): a header
 * claiming more than that is truncated. A GSO packet (gso) may carry a tot_len that no longer describes it
 * (0 for BIG TCP, or the first segment's): it is not dropped for that, but every bound computed from it uses
 * the skb's own length instead, so a lying header cannot widen what later checks accept. */
static __always_inline int parse_ipv4(void *data, void *data_end, __u32 wire_len, int gso, struct l3 *out)
{
	struct ethhdr *eth = data;
	struct iphdr *iph;
	__u32 ihl_bytes, tot_len;
	__u8 vihl;

	if (unlikely((void *)(eth + 1) > data_end))
		return PARSE_NOT_IPV4;
	if (unlikely(eth->h_proto != bpf_htons(ETH_P_IP)))
		return PARSE_NOT_IPV4;
	iph = (void *)(eth + 1);
	if (unlikely((void *)(iph + 1) > data_end))
		return PARSE_MALFORMED;
	vihl = *(const __u8 *)iph;	/* version and ihl in one load, not one per bitfield */
	if (unlikely((vihl & 0xf0) != 0x40 || (vihl & 0x0f) < 5))
		return PARSE_MALFORMED;
	ihl_bytes = (vihl & 0x0f) * 4;
	if (unlikely((void *)iph + ihl_bytes > data_end))
		return PARSE_MALFORMED;
	tot_len = bpf_ntohs(iph->tot_len);
	if (unlikely(tot_len < ihl_bytes || tot_len > wire_len)) {
		if (!gso)
			return PARSE_MALFORMED;
		tot_len = wire_len;
	}
	out->eth = eth;
	out->iph = iph;
	out->ihl_bytes = ihl_bytes;
	out->tot_len = tot_len;
	return PARSE_IPV4;
}

static __always_inline int ipv4_is_fragment(const struct iphdr *iph)
{
	return (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
}

/* A fragment other than the first: what follows its IP header is payload, not an L4 header, so nothing may
 * be decided from bytes there (they are whatever the sender chose). */
static __always_inline int ipv4_is_later_fragment(const struct iphdr *iph)
{
	return (iph->frag_off & bpf_htons(IP_OFFSET)) != 0;
}

#endif /* BPF_OVERLAY_PARSING_H */
