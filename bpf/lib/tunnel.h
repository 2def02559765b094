/* SPDX-License-Identifier: GPL-2.0-only */
/* Recognising and validating IPIP / VXLAN packets on the uplink, shared by the tc and the XDP decapsulators.
 * Works on a [data, data_end) window so both hooks run the very same checks. */
#ifndef BPF_OVERLAY_TUNNEL_H
#define BPF_OVERLAY_TUNNEL_H

#include "common.h"
#include "config.h"
#include "maps.h"
#include "parsing.h"
#include "csum.h"
#include "antispoof.h"

enum tunnel_verdict {
	TUNNEL_NONE = 0,	/* not a tunnel packet addressed to us: plain processing */
	TUNNEL_DECAP = 1,	/* valid, from a known node: strip `strip` bytes after the outer Ethernet */
	TUNNEL_DROP = 2,	/* drop with `reason` */
};

struct tunnel {
	__u32 encap;		/* ENCAP_IPIP or ENCAP_VXLAN (NONE when not a tunnel) */
	__u32 strip;		/* outer IPv4 [+ UDP + VXLAN + inner Ethernet] */
	__u32 reason;		/* TUNNEL_DROP: REASON_DROP_* */
	struct iphdr *inner;	/* the inner IPv4 header, inside the window */
};

/* The checksum of a header with options, out of line (a BPF-to-BPF call) to keep the common case's code short. */
static __noinline int ipv4_csum_options_ok(const struct iphdr *iph, __u32 ihl_bytes, void *data_end)
{
	const __u16 *w = (const void *)iph;
	__u32 sum = 0;

	for (int i = 0; i < 30; i++) {	/* with options: at most 60 bytes */
		const __u16 *cur = w + i;

		if (i * 2 >= ihl_bytes)
			break;
		barrier_var(cur);
		if ((void *)(cur + 1) > data_end)
			return 0;
		sum += *cur;
	}
	return csum_fold32(sum) == 0;
}

/* Full header checksum, options included: we bypass ip_rcv, so we must reject what it would reject. */
static __always_inline int ipv4_csum_ok(const struct iphdr *iph, __u32 ihl_bytes, void *data_end)
{
	if (likely(ihl_bytes == IPV4_HLEN))	/* parse_ipv4 has bounds-checked these 20 bytes */
		return ipv4_hdr_csum20(iph) == 0;
	return ipv4_csum_options_ok(iph, ihl_bytes, data_end);
}

/* An inner IPv4 header carried in `room` bytes starting at `inner` must be complete and consistent. */
static __always_inline int inner_ipv4_ok(struct iphdr *inner, __u32 room, void *data_end)
{
	__u32 tot_len;
	__u8 vihl;

	if (unlikely((void *)(inner + 1) > data_end))
		return 0;
	vihl = *(const __u8 *)inner;	/* version and ihl in one load */
	if (unlikely((vihl & 0xf0) != 0x40 || (vihl & 0x0f) < 5))
		return 0;
	if (unlikely(inner->protocol == IPPROTO_IPIP_NR))	/* nested IPIP: never ours, a classic filter-evasion trick */
		return 0;
	tot_len = bpf_ntohs(inner->tot_len);
	return tot_len >= (vihl & 0x0f) * 4U && tot_len <= room;
}

/* The 8 bytes of a valid VXLAN header of ours (I flag only, our VNI, reserved bits zero), as one word. */
static __always_inline __u64 vxlan_header_want(void)
{
	union {
		struct vxlanhdr_wire h;
		__u64 word;
	} want = { .h = { .flags = bpf_htonl(VXLAN_FLAG_VNI), .vni = bpf_htonl(vxlan_vni << 8) } };

	return want.word;
}

static __always_inline int tunnel_drop(struct tunnel *t, __u32 reason)
{
	t->reason = reason;
	return TUNNEL_DROP;
}

/* `gen`: cache_gen(), read once per packet. */
static __always_inline int tunnel_classify(const struct l3 *p, void *data_end, __u32 gen, struct tunnel *t)
{
	struct iphdr *iph = p->iph;
	__u32 ihl_bytes = p->ihl_bytes;
	void *l4 = (void *)iph + ihl_bytes;
	__u32 l4_len = p->tot_len - ihl_bytes;	/* parse_ipv4: ihl <= tot_len <= the packet's length */
	const struct known_node_value *node;
	__u16 need_flag;

	if (iph->protocol == IPPROTO_IPIP_NR) {
		t->encap = ENCAP_IPIP;
		need_flag = NODE_F_ALLOW_IPIP;
	} else if (iph->protocol == IPPROTO_UDP_NR) {
		struct udphdr *udp = l4;

		/* A later fragment's "port" is payload: we never send fragmented outer packets, so it is not ours. */
		if (ipv4_is_later_fragment(iph))
			return TUNNEL_NONE;

		if ((void *)(udp + 1) > data_end || l4_len < UDP_HLEN) {
			if (iph->daddr != node_addr || ipv4_is_fragment(iph))
				return TUNNEL_NONE;
			t->encap = ENCAP_NONE;
			return tunnel_drop(t, REASON_DROP_MALFORMED);
		}
		if (udp->dest != bpf_htons(vxlan_port))
			return TUNNEL_NONE;
		t->encap = ENCAP_VXLAN;
		need_flag = NODE_F_ALLOW_VXLAN;
	} else {
		return TUNNEL_NONE;
	}
	if (unlikely(iph->daddr != node_addr))
		return TUNNEL_NONE;

	/* Anti-spoofing first: whatever an unknown host sends, it learns nothing from our parser. */
	node = known_node_lookup_gen(iph->saddr, gen);
	if (unlikely(!node || !(node->flags & need_flag)))
		return tunnel_drop(t, REASON_DROP_UNKNOWN_SOURCE);
	/* We never send fragmented outer packets, and without a tunnel device the stack could not use the
	 * reassembled one either. */
	if (unlikely(ipv4_is_fragment(iph) || !ipv4_csum_ok(iph, ihl_bytes, data_end)))
		return tunnel_drop(t, REASON_DROP_MALFORMED);

	if (t->encap == ENCAP_IPIP) {
		t->inner = l4;
		t->strip = ihl_bytes;
		if (unlikely(!inner_ipv4_ok(t->inner, l4_len, data_end)))
			return tunnel_drop(t, REASON_DROP_MALFORMED);
		if (unlikely(!inner_source_ok(t->inner->saddr, iph->saddr, node, gen)))
			return tunnel_drop(t, REASON_DROP_INNER_SOURCE);
		return TUNNEL_DECAP;
	}

	{
		struct udphdr *udp = l4;
		struct vxlanhdr_wire *vx = (void *)(udp + 1);
		struct ethhdr *ieth = (void *)(vx + 1);
		__u32 udp_len = bpf_ntohs(udp->len);

		if (unlikely((void *)(ieth + 1) > data_end || udp_len > l4_len ||
			     udp_len < UDP_HLEN + VXLAN_HLEN + ETH_HLEN + IPV4_HLEN))
			return tunnel_drop(t, REASON_DROP_MALFORMED);
		/* RFC 7348: only the I flag, reserved bits zero (the Linux VXLAN device drops others too), and our VNI:
		 * the whole header in one compare; only a packet that fails it sorts out which reason applies. */
		if (unlikely(*(const __u64 *)vx != vxlan_header_want())) {
			if (vx->flags != bpf_htonl(VXLAN_FLAG_VNI) || (vx->vni & bpf_htonl(0xff)))
				return tunnel_drop(t, REASON_DROP_MALFORMED);
			return tunnel_drop(t, REASON_DROP_BAD_VNI);
		}
		if (unlikely(ieth->h_proto != bpf_htons(ETH_P_IP) || !is_vtep_mac(ieth->h_dest)))
			return tunnel_drop(t, REASON_DROP_MALFORMED);
		t->inner = (void *)(ieth + 1);
		t->strip = ihl_bytes + UDP_HLEN + VXLAN_HLEN + ETH_HLEN;
		if (unlikely(!inner_ipv4_ok(t->inner, udp_len - (UDP_HLEN + VXLAN_HLEN + ETH_HLEN), data_end)))
			return tunnel_drop(t, REASON_DROP_MALFORMED);
		/* The sender's VTEP speaks for it: another inner MAC is a frame it did not build. */
		if (unlikely(!mac_equal(ieth->h_source, node->vtep_mac) ||
			     !inner_source_ok(t->inner->saddr, iph->saddr, node, gen)))
			return tunnel_drop(t, REASON_DROP_INNER_SOURCE);
		return TUNNEL_DECAP;
	}
}

#endif /* BPF_OVERLAY_TUNNEL_H */
