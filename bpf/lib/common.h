/* SPDX-License-Identifier: GPL-2.0-only */
/* Constants and wire structs that vmlinux.h lacks (it carries types, not UAPI #defines). */
#ifndef BPF_OVERLAY_COMMON_H
#define BPF_OVERLAY_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP	0x0800
#define ETH_HLEN	14
#define ETH_ALEN	6

#define IPPROTO_ICMP_NR	1
#define IPPROTO_IPIP_NR	4
#define IPPROTO_TCP_NR	6
#define IPPROTO_UDP_NR	17

#define IP_DF		0x4000
#define IP_MF		0x2000
#define IP_OFFSET	0x1fff

#define AF_INET		2

#define TC_ACT_OK	0
#define TC_ACT_SHOT	2
#define TC_ACT_REDIRECT	7

#define IPV4_HLEN	20
#define UDP_HLEN	8
#define VXLAN_HLEN	8
#define IPIP_OVERHEAD	IPV4_HLEN
/* outer IPv4 + UDP + VXLAN + inner Ethernet */
#define VXLAN_OVERHEAD	(IPV4_HLEN + UDP_HLEN + VXLAN_HLEN + ETH_HLEN)

/* A macro in the UAPI header, absent from BTF (its mask and shift are enum values there). */
#define BPF_F_ADJ_ROOM_ENCAP_L2(len) (((__u64)(len) & BPF_ADJ_ROOM_ENCAP_L2_MASK) << BPF_ADJ_ROOM_ENCAP_L2_SHIFT)

#define VXLAN_FLAG_VNI	0x08000000	/* the I flag: VNI valid; every other flag bit must be zero */

struct vxlanhdr_wire {
	__be32 flags;
	__be32 vni;	/* VNI in the top 24 bits, low byte reserved (0) */
};

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* barrier_var() (bpf_helpers.h) hides a value from the optimizer: it stops clang from turning packet bounds
 * checks into arithmetic on data_end, or from keeping a ctx field address across a helper call, both of
 * which the verifier rejects. */

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b && *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	*(__u32 *)dst = *(const __u32 *)src;
	*(__u16 *)(dst + 4) = *(const __u16 *)(src + 4);
}

#endif /* BPF_OVERLAY_COMMON_H */
