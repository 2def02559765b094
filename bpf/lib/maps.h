/* SPDX-License-Identifier: GPL-2.0-only */
/* Map layouts shared by every bpf-overlay program. The control plane mirrors each struct byte for byte in
 * src/control/maps/layout.ts: change both together, and keep every struct free of implicit padding. */
#ifndef BPF_OVERLAY_MAPS_H
#define BPF_OVERLAY_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* ---- routes: where a destination (or source) address lives, longest prefix first ---- */

enum route_kind {
	ROUTE_KIND_NONE = 0,		/* never stored; "no entry" means outside every pool */
	ROUTE_KIND_LOCAL_WORKLOAD = 1,	/* a /32 of a workload on this node: deliver to its veth */
	ROUTE_KIND_LOCAL_BLOCK = 2,	/* a block affine to this node; addresses without a workload */
	ROUTE_KIND_REMOTE_BLOCK = 3,	/* a block affine to another node: send to next_hop */
	ROUTE_KIND_POOL = 4,		/* a pool prefix: carries pool flags for addresses not in any block */
	ROUTE_KIND_LOCAL_HOST = 5,	/* this node's own tunnel address: belongs to the host stack */
};

enum encap_type {
	ENCAP_NONE = 0,
	ENCAP_IPIP = 1,
	ENCAP_VXLAN = 2,
	ENCAP__MAX = 3,
};

/* Pool properties copied onto every entry that lies in the pool, so one lookup answers all questions. */
#define ROUTE_F_IN_POOL		(1 << 0)
#define ROUTE_F_NAT_OUTGOING	(1 << 1)
/* Plain hop whose next hop is not on our subnet: follow the host FIB (routes the underlay learned by BGP). */
#define ROUTE_F_VIA_FIB		(1 << 2)
/* REMOTE_BLOCK: no cluster node's underlay address lies in the prefix (the compiler knows every node), so a
 * destination matching it is no node and to_uplink skips its known-node lookup. Absent: look it up. */
#define ROUTE_F_NO_CLUSTER_NODE	(1 << 3)

struct route_key {
	__u32 prefixlen;	/* LPM trie convention: bits that follow, here 0..32 */
	__be32 addr;
};

struct route_value {
	__u8 kind;		/* enum route_kind */
	__u8 encap;		/* enum encap_type, already resolved for CrossSubnet by the compiler */
	__u16 flags;		/* ROUTE_F_* */
	__u32 ifindex;		/* LOCAL_WORKLOAD: host-side veth ifindex */
	__be32 next_hop;	/* REMOTE_BLOCK: the remote node's underlay address */
	__u8 dst_mac[6];	/* LOCAL_WORKLOAD: workload MAC; REMOTE_BLOCK + VXLAN: remote VTEP MAC */
	__u8 src_mac[6];	/* LOCAL_WORKLOAD: host-side veth MAC */
};

/* ---- known nodes: the only underlay sources whose tunnel packets are accepted ---- */

#define NODE_F_ALLOW_IPIP	(1 << 0)
#define NODE_F_ALLOW_VXLAN	(1 << 1)

struct known_node_key {
	__be32 addr;		/* the node's underlay address */
};

struct known_node_value {
	__u8 vtep_mac[6];	/* the node's VTEP MAC (VXLAN inner source on its packets) */
	__u16 flags;		/* NODE_F_* */
	__be32 tunnel_addr;	/* the node's tunnel address, 0 when it has none */
};

/* ---- next hops: the uplink's L2 header toward a node, pre-resolved from the kernel's neighbour table ----
 * Keyed by a node's underlay address (the outer destination of our tunnel packets). The agent follows the
 * neighbour table of the uplink (src/control/reconcile/next-hops.ts) and writes an entry while the neighbour of
 * that node's first hop (the node itself on-link, else the gateway the host's route names) is in a usable state;
 * the encapsulating programs then write the Ethernet header and bpf_redirect, skipping the kernel's route and
 * neighbour lookups of bpf_redirect_neigh. No entry, or NEXT_HOP_F_VERIFY: bpf_redirect_neigh as before. */

/* The kernel's entry is STALE: our bpf_redirect never counts as a use of it, so without a packet through
 * bpf_redirect_neigh the kernel would never re-verify it (DELAY, probe) and would garbage-collect it. Packets to
 * such a next hop take bpf_redirect_neigh until the kernel moves the entry on (DELAY, then REACHABLE). */
#define NEXT_HOP_F_VERIFY	(1 << 0)

struct next_hop_key {
	__be32 addr;		/* a node's underlay address */
};

struct next_hop_value {
	__u8 dst_mac[6];	/* the first hop's MAC (the node itself on-link, else its gateway) */
	__u8 src_mac[6];	/* the uplink's MAC */
	__u32 ifindex;		/* the uplink, where that neighbour lives */
	__u32 flags;		/* NEXT_HOP_F_* */
};

/* A per-CPU, direct-mapped cache in front of next_hop_map (the hash costs ~25 ns, a slot a few), valid for one
 * generation of next_hop_map: the agent's next-hops step publishes a new one in next_hop_gen_map after every write
 * to the map, 0 = cache off. A generation of its own, not settings.cache_gen: entries change once or twice per
 * reachable time of each neighbour in use, which would flush the route cache that often. */
#define NEXT_HOP_CACHE_SLOTS 256

struct next_hop_cache_slot {
	__be32 addr;			/* the node looked up */
	__u32 gen;			/* next_hop_gen_map's generation when filled; 0 never matches */
	struct next_hop_value value;
	__u32 known;			/* 0: no entry for addr */
};

/* ---- source allow-list: prefixes a workload may send from besides its own addresses ----
 * WorkloadEndpoint spec.allowSpoofedSourcePrefixes (Calico's field). For a local workload, per host-side veth
 * (from_workload's source check); for a workload on another node, per that node's underlay address (the
 * inner-source check after decapsulation). Looked up only when the ordinary check has failed, so it costs
 * nothing on the hot path. The LPM key matches scope and owner in full (prefixlen = 64 + the prefix's length),
 * then the address prefix. */

enum source_allow_scope {
	SOURCE_SCOPE_VETH = 1,	/* owner: host-side veth ifindex, host order */
	SOURCE_SCOPE_NODE = 2,	/* owner: the node's underlay address, network order */
};

struct source_allow_key {
	__u32 prefixlen;	/* 64 (scope and owner) + 0..32 (address bits) */
	__u32 scope;		/* enum source_allow_scope */
	__u32 owner;
	__be32 addr;
};

struct source_allow_value {
	__u32 reserved;		/* 0: presence is the answer */
};

/* ---- settings: run-time values that may change without a reload (one entry, key 0) ---- */

struct settings_value {
	__be32 tunnel_addr;	/* this node's tunnel address: source of host-originated overlay traffic */
	__u32 uplink_mtu;	/* MTU of the uplink; 0 = ask the kernel (bpf_check_mtu) */
	__u32 flags;		/* reserved, 0 */
	__u32 cache_gen;	/* generation of routes_map and known_nodes_map, changed by the agent after every write to
				 * either; 0 = the programs' lookup caches are off */
};

/* ---- lookup caches: per-CPU, direct-mapped, in front of routes_map and known_nodes_map ----
 * Private to each object (not pinned); the agent never reads them. The LPM trie costs ~20 ns per lookup with a
 * handful of entries and ~80 ns with a node's few hundred, the known-nodes hash ~36 ns; a slot here a few. A slot
 * answers only while its gen equals settings.cache_gen: one filled before a write carries the old generation and
 * misses once the agent has published the new one. */

#define ROUTE_CACHE_SLOTS 1024	/* powers of two: the slot is the top bits of a multiplicative hash */
#define NODE_CACHE_SLOTS 256

struct route_cache_slot {
	__be32 addr;			/* the /32 looked up */
	__u32 gen;			/* settings.cache_gen when filled; 0 never matches */
	struct route_value value;	/* kind ROUTE_KIND_NONE: no entry covers addr */
};

struct node_cache_slot {
	__be32 addr;			/* the underlay address looked up */
	__u32 gen;			/* settings.cache_gen when filled; 0 never matches */
	struct known_node_value value;
	__u32 known;			/* 0: addr is no known node */
};

/* ---- counters: per-CPU packets and bytes per (hook, encapsulation, verdict or drop reason) ---- */

enum counter_hook {
	HOOK_FROM_WORKLOAD = 0,		/* tc ingress, host side of a workload veth */
	HOOK_TO_UPLINK = 1,		/* tc egress of the uplink: host-originated traffic */
	HOOK_FROM_UPLINK_TC = 2,	/* tc ingress of the uplink: decap */
	HOOK_FROM_UPLINK_XDP = 3,	/* XDP on the uplink: decap */
	HOOK__MAX = 4,
};

enum counter_reason {
	/* verdicts */
	REASON_PASS = 0,		/* handed to the kernel stack unchanged */
	REASON_REDIRECT_LOCAL = 1,	/* delivered straight to a local workload */
	REASON_ENCAP = 2,		/* encapsulated and sent toward a remote node */
	REASON_FORWARD_PLAIN = 3,	/* sent unencapsulated toward a remote node */
	REASON_DECAP = 4,		/* decapsulated from a known node */
	REASON_FRAG_NEEDED = 5,		/* ICMP fragmentation-needed returned to the sender */
	REASON_NAT_OUTGOING = 6,	/* marked for natOutgoing masquerade, passed to the stack */
	/* drops */
	REASON_DROP_UNKNOWN_SOURCE = 16,	/* tunnel packet from an address that is no known node */
	REASON_DROP_BAD_VNI = 17,
	REASON_DROP_MALFORMED = 18,
	REASON_DROP_MTU_EXCEEDED = 19,
	REASON_DROP_NO_ROUTE = 20,
	REASON_DROP_IPIP_FROM_WORKLOAD = 21,
	/* 22 and 24 are retired (never emitted); their slots stay unused so the others keep their numbers */
	REASON_DROP_ADJUST_ROOM = 23,		/* the kernel refused to grow or shrink the packet */
	REASON_DROP_SPOOFED_SOURCE = 25,	/* workload sent from an address it does not hold */
	REASON_DROP_TUNNEL_FROM_WORKLOAD = 26,	/* workload sent IPIP / VXLAN to a cluster node's underlay address */
	REASON_DROP_RPF = 27,			/* plain uplink packet for a workload with a source that cannot come from there */
	REASON_DROP_INNER_SOURCE = 28,		/* decapsulated source (or VXLAN inner MAC) does not belong to the sender */
	REASON__MAX = 32,
};

#define COUNTER_SLOTS (HOOK__MAX * ENCAP__MAX * REASON__MAX)

struct counter_value {
	__u64 packets;
	__u64 bytes;
};

/* ---- the maps ----
 * Pinned by name: every entry object declares the same maps, and libbpf makes them share one instance under
 * the agent's pin root (DIR/bpf-overlay/NODE/). A restarted agent adopts them with their contents. */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct route_key);
	__type(value, struct route_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} routes_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct known_node_key);
	__type(value, struct known_node_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} known_nodes_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct next_hop_key);
	__type(value, struct next_hop_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} next_hop_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} next_hop_gen_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NEXT_HOP_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct next_hop_cache_slot);
} next_hop_cache_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct source_allow_key);
	__type(value, struct source_allow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} source_allow_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} settings_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ROUTE_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct route_cache_slot);
} route_cache_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NODE_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct node_cache_slot);
} node_cache_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_SLOTS);
	__type(key, __u32);
	__type(value, struct counter_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters_map SEC(".maps");

#endif /* BPF_OVERLAY_MAPS_H */
