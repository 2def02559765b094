/* SPDX-License-Identifier: GPL-2.0-only */
/* Internet checksums without helper calls: a fixed 20-byte header sum and the TTL-decrement update. */
#ifndef BPF_OVERLAY_CSUM_H
#define BPF_OVERLAY_CSUM_H

#include "common.h"

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u16 csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return csum_fold32((__u32)(sum & 0xffff) + (__u32)(sum >> 16));
}

/* Checksum of an option-less IPv4 header whose check field is zero; the result is stored as is
 * (a one's-complement sum is byte-order neutral). Summed as five 32-bit words: the fold to 16 bits gives what
 * ten 16-bit words give, in half the loads. */
static __always_inline __u16 ipv4_hdr_csum20(const void *hdr)
{
	const __u32 *w = hdr;

	return csum_fold64((__u64)w[0] + w[1] + w[2] + w[3] + w[4]);
}

/* Decrements TTL and patches the checksum incrementally, as the kernel's ip_decrease_ttl() does. */
static __always_inline void ipv4_decrease_ttl(struct iphdr *iph)
{
	__u32 check = (__u32)iph->check;

	check += (__u32)bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xffff));
	iph->ttl--;
}

#endif /* BPF_OVERLAY_CSUM_H */
