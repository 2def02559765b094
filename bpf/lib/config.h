/* SPDX-License-Identifier: GPL-2.0-only */
/* Read-only globals: the loader writes them into .rodata before load (objects.ts), so the verifier sees them
 * as constants and dead branches disappear. Defaults are what an unconfigured object uses in tests. */
#ifndef BPF_OVERLAY_CONFIG_H
#define BPF_OVERLAY_CONFIG_H

#include "common.h"

const volatile __be32 node_addr = 0;		/* this node's underlay address (network order) */
const volatile __u32 uplink_ifindex = 0;	/* interface toward the other nodes */
const volatile __u16 vxlan_port = 4789;		/* host order */
const volatile __u32 vxlan_vni = 4096;		/* host order, 24 bits */
const volatile __u8 vtep_mac[ETH_ALEN] = {};	/* this node's VTEP MAC: inner source of our VXLAN packets */

/* Reads vtep_mac through volatile loads: a plain cast would let clang fold the all-zero initializer. */
static __always_inline void copy_vtep_mac(__u8 *dst)
{
	*(__u32 *)dst = *(const volatile __u32 *)vtep_mac;
	*(__u16 *)(dst + 4) = *(const volatile __u16 *)(vtep_mac + 4);
}

static __always_inline int is_vtep_mac(const __u8 *mac)
{
	return *(const __u32 *)mac == *(const volatile __u32 *)vtep_mac &&
	       *(const __u16 *)(mac + 4) == *(const volatile __u16 *)(vtep_mac + 4);
}

#endif /* BPF_OVERLAY_CONFIG_H */
