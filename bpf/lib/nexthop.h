/* SPDX-License-Identifier: GPL-2.0-only */
/* The hand-off of an encapsulated packet to the uplink: with the next hop's MAC pre-resolved by the agent
 * (next_hop_map, maps.h), or through the kernel's route and neighbour lookups. */
#ifndef BPF_OVERLAY_NEXTHOP_H
#define BPF_OVERLAY_NEXTHOP_H

#include "common.h"
#include "config.h"
#include "maps.h"

/* Sends the frame in `skb` (Ethernet at offset 0, outer IPv4 destination `node`) out of the uplink. With a fresh
 * next_hop_map entry for `node`: its Ethernet header and bpf_redirect (no FIB or neighbour lookup at transmit).
 * Otherwise bpf_redirect_neigh without parameters: the kernel routes `node` out of uplink_ifindex and resolves the
 * route's gateway (or `node` itself), which also starts resolution of a neighbour not yet known. Returns the action. */
static __always_inline int redirect_to_node(struct __sk_buff *skb, __be32 node)
{
	struct next_hop_key key = { .addr = node };
	struct next_hop_value *nh = bpf_map_lookup_elem(&next_hop_map, &key);
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (!nh || (nh->flags & NEXT_HOP_F_VERIFY) || (void *)(eth + 1) > data_end)
		return bpf_redirect_neigh(uplink_ifindex, NULL, 0, 0);
	mac_copy(eth->h_dest, nh->dst_mac);
	mac_copy(eth->h_source, nh->src_mac);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return bpf_redirect(nh->ifindex, 0);
}

#endif /* BPF_OVERLAY_NEXTHOP_H */
