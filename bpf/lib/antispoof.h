/* SPDX-License-Identifier: GPL-2.0-only */
/* Who may send what: the source checks that keep forged packets out of workloads. Each costs at most one map
 * lookup on its hot path; the allow-list is read only when the ordinary check has already failed.
 *
 * What they establish, and what they cannot (README "What is authenticated"):
 *  - a workload sends only from addresses it holds (its routes_map /32 on its own veth) or that its endpoint's
 *    allowSpoofedSourcePrefixes allow;
 *  - a workload sends no tunnel packet to a cluster node, so it cannot have the stack (natOutgoing) turn it
 *    into one "from a known node";
 *  - a decapsulated packet's source routes back to the node whose underlay address sent it;
 *  - a plain packet from the underlay never claims to come from this node or from its workloads and blocks.
 * The outer source of a tunnel packet itself is not authenticated: a host on the underlay that forges a
 * node's address is trusted as that node. */
#ifndef BPF_OVERLAY_ANTISPOOF_H
#define BPF_OVERLAY_ANTISPOOF_H

#include "common.h"
#include "config.h"
#include "maps.h"
#include "parsing.h"
#include "routes.h"
#include "nodes.h"

/* An underlay address of a cluster node (this one included): where a tunnel packet would be decapsulated. */
static __always_inline int is_cluster_node(__be32 addr, __u32 gen)
{
	return addr == node_addr || known_node_lookup_gen(addr, gen) != NULL;
}

/* Slow path of the source checks: an endpoint's allowSpoofedSourcePrefixes, on a local veth or on a node. */
static __always_inline int source_allowed(__u32 scope, __u32 owner, __be32 saddr)
{
	struct source_allow_key key = { .prefixlen = 96, .scope = scope, .owner = owner, .addr = saddr };

	return bpf_map_lookup_elem(&source_allow_map, &key) != NULL;
}

/* `src` is the routes_map entry for the packet's source (NULL when outside every pool). */
static __always_inline int workload_source_ok(const struct route_value *src, __u32 ifindex, __be32 saddr)
{
	if (src && src->kind == ROUTE_KIND_LOCAL_WORKLOAD && src->ifindex == ifindex)
		return 1;
	return source_allowed(SOURCE_SCOPE_VETH, ifindex, saddr);
}

/* A workload's packet that could be a tunnel packet for a cluster node: IPIP, or UDP to the VXLAN port (a
 * first fragment or whole packet too short to show its port counts as one). Later fragments carry no L4
 * header; the first fragment decides for them. Returns the encapsulation it would be, ENCAP_NONE if none. */
static __always_inline __u32 workload_tunnel_packet(const struct l3 *p, void *data_end, __u32 gen)
{
	struct iphdr *iph = p->iph;
	struct udphdr *udp = (void *)iph + p->ihl_bytes;
	__u32 encap;

	if (iph->protocol == IPPROTO_IPIP_NR) {
		encap = ENCAP_IPIP;
	} else if (iph->protocol == IPPROTO_UDP_NR && !ipv4_is_later_fragment(iph)) {
		if ((void *)(udp + 1) <= data_end && p->tot_len - p->ihl_bytes >= UDP_HLEN &&
		    udp->dest != bpf_htons(vxlan_port))
			return ENCAP_NONE;
		encap = ENCAP_VXLAN;
	} else {
		return ENCAP_NONE;
	}
	return is_cluster_node(iph->daddr, gen) ? encap : ENCAP_NONE;
}

/* Strict reverse path for a plain packet from the underlay about to be delivered into a workload: its source
 * must not be this node, nor anything this node holds (workloads, blocks, tunnel address); inside a pool it
 * must be a remote block. Addresses outside every pool are the underlay's business. */
static __always_inline int uplink_source_ok(__be32 saddr, __u32 gen)
{
	struct route_value *src, buf;

	if (saddr == node_addr)
		return 0;
	src = route_lookup(saddr, gen, &buf);
	return !src || src->kind == ROUTE_KIND_REMOTE_BLOCK;
}

/* The inner source of a packet decapsulated from `sender` (a known node) must route back to it: one of its
 * blocks, its own underlay or tunnel address, or a prefix one of its workloads may send from. */
static __always_inline int inner_source_ok(__be32 inner_saddr, __be32 sender, const struct known_node_value *node,
					   __u32 gen)
{
	const struct route_value *src;

	if (unlikely(inner_saddr == sender || (node->tunnel_addr && inner_saddr == node->tunnel_addr)))
		return 1;
	src = route_lookup_gen(inner_saddr, gen);
	if (likely(src && src->kind == ROUTE_KIND_REMOTE_BLOCK && src->next_hop == sender))
		return 1;
	return source_allowed(SOURCE_SCOPE_NODE, sender, inner_saddr);
}

#endif /* BPF_OVERLAY_ANTISPOOF_H */
