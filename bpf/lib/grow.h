/* SPDX-License-Identifier: GPL-2.0-only */
/* How encapsulation makes room for the outer headers in front of an skb (tc only), the cheapest way that is
 * correct for that skb (docs/datapath-costs.md, "tc encapsulation and decapsulation under 100 ns").
 *
 * bpf_skb_adjust_room with the ENCAP flags records the encapsulation for the kernel: skb->encapsulation, the
 * inner header offsets and protocol, and for GSO the tunnel gso_type. Segmentation (GSO/TSO) and checksum
 * offload of an inner header (CHECKSUM_PARTIAL: the device or validate_xmit_skb finishes the inner L4
 * checksum, choosing by skb->encapsulation between the device's plain and tunnel features) need them.
 * It costs ~65-70 ns here; bpf_skb_change_head, which only pushes zeroed bytes in front of the MAC header,
 * ~30 ns. A packet that is neither GSO nor CHECKSUM_PARTIAL needs none of that record: the kernel's own
 * ipip/vxlan devices clear skb->encapsulation for exactly these (iptunnel_handle_offloads). So such a packet
 * gets change_head and everything else keeps adjust_room. What change_head leaves behind, and why it is
 * harmless on the hand-off: mac_header is the new front (as adjust_room leaves it); network_header still
 * points at the inner IPv4 header, and bpf_redirect_neigh resets it to the outer one after pulling the
 * Ethernet header; nothing on transmit reads the inner offsets of a non-GSO, non-PARTIAL skb. */
#ifndef BPF_OVERLAY_GROW_H
#define BPF_OVERLAY_GROW_H

#include "common.h"
#include <bpf/bpf_core_read.h>

#define CHECKSUM_PARTIAL 3	/* include/linux/skbuff.h: a #define, not in BTF */

/* The verifier rewrites this kfunc into a register move: reading the kernel's sk_buff costs no call. */
extern void *bpf_cast_to_kern_ctx(void *) __ksym;

/* Whether `skb` may get its outer headers without the kernel's encapsulation record: not GSO, no inner
 * checksum left to the device, and not already encapsulated (adjust_room refuses those: -EALREADY). */
static __always_inline int skb_plain_push_ok(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

	if (skb->gso_size)
		return 0;
	return BPF_CORE_READ_BITFIELD(kskb, ip_summed) != CHECKSUM_PARTIAL &&
	       !BPF_CORE_READ_BITFIELD(kskb, encapsulation);
}

/* Inserts `room` bytes between the Ethernet header and the IPv4 header (Ethernet stays at offset 0, its
 * contents unchanged; the new bytes are zero or stale, the caller writes them all). `flags`: the adjust_room
 * ENCAP flags for the packets that need the kernel's record. Nonzero when the kernel refuses. */
static __always_inline int skb_grow_after_eth(struct __sk_buff *skb, __u32 room, __u64 flags)
{
	void *data, *data_end;

	if (!skb_plain_push_ok(skb))
		return bpf_skb_adjust_room(skb, room, BPF_ADJ_ROOM_MAC, flags);
	if (bpf_skb_change_head(skb, room, 0))
		return -1;
	/* [room][Ethernet][IPv4...] -> [Ethernet][`room` bytes for the caller][IPv4...]: source and destination of
	 * the copy do not overlap, as every room is at least ETH_HLEN. */
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (room < ETH_HLEN || data + room + ETH_HLEN > data_end)
		return -1;
	__builtin_memcpy(data, data + room, ETH_HLEN);
	return 0;
}

#endif /* BPF_OVERLAY_GROW_H */
