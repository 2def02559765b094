/* SPDX-License-Identifier: Apache-2.0 */
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

#endif /* BPF_OVERLAY_CONFIG_H */
