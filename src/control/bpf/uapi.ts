// SPDX-License-Identifier: Apache-2.0
// Numbers of the kernel's BPF UAPI the loader passes through the native addon. The installed UAPI headers
// (6.1) predate tcx, so these are the kernel's values (include/uapi/linux/bpf.h, if_link.h).

/** enum bpf_attach_type */
export const ATTACH_TYPE = { xdp: 37, tcxIngress: 46, tcxEgress: 47 } as const;

/** enum bpf_link_type */
export const LINK_TYPE = { xdp: 6, tcx: 11 } as const;

/** XDP_FLAGS_* of if_link.h: which XDP mode an attach asks for ('auto' asks for none). */
export const XDP_ATTACH_FLAGS = { auto: 0, generic: 1 << 1, native: 1 << 2 } as const;

/** BPF_F_XDP_HAS_FRAGS: a program load flag (libbpf sets it for SEC("xdp.frags")). */
export const PROG_FLAG_XDP_HAS_FRAGS = 1 << 5;
