// SPDX-License-Identifier: Apache-2.0
// TypeScript mirror of bpf/lib/maps.h: the enums, the logical entry types the compiler produces, and the
// codecs that turn them into the exact bytes the kernel stores. Change both files together:
// test/unit/map-abi.test.ts compares every struct field, enum value, #define and max_entries of maps.h, as the
// compiler lays them out in BTF, with this file (STRUCT_LAYOUTS, C_MIRRORS, MAP_MAX_ENTRIES, the codecs).

export const MAP_NAMES = {
  routes: 'routes_map',
  knownNodes: 'known_nodes_map',
  settings: 'settings_map',
  counters: 'counters_map',
  sourceAllow: 'source_allow_map',
  /** Pre-resolved L2 header toward each node (the agent's next-hops step follows the kernel's neighbour table). */
  nextHops: 'next_hop_map',
  /** The generation of next_hop_map's contents (one u32, written by the next-hops step after its writes; 0: the
   * programs' next-hop cache is off), and that per-CPU cache, private to each object. */
  nextHopGen: 'next_hop_gen_map',
  nextHopCache: 'next_hop_cache_map',
  /** Per-CPU caches of routes_map and known_nodes_map lookups, private to each object (not pinned): the agent
   * never reads them, it only publishes settings.cache_gen. */
  routeCache: 'route_cache_map',
  nodeCache: 'node_cache_map',
} as const;

export enum RouteKind {
  LocalWorkload = 1,
  LocalBlock = 2,
  RemoteBlock = 3,
  Pool = 4,
  LocalHost = 5,
}

export enum Encap {
  None = 0,
  Ipip = 1,
  Vxlan = 2,
}
export const ENCAP_COUNT = 3;

export const RouteFlags = {
  InPool: 1 << 0,
  NatOutgoing: 1 << 1,
  /** Plain hop to a node outside our subnet: the data path follows the host FIB (the underlay's routers). */
  ViaFib: 1 << 2,
  /** REMOTE_BLOCK only: no cluster node's underlay address lies in the prefix (to_uplink skips a lookup). */
  NoClusterNode: 1 << 3,
} as const;

export const NodeFlags = {
  AllowIpip: 1 << 0,
  AllowVxlan: 1 << 1,
} as const;

export const NextHopFlags = {
  /** The kernel's neighbour entry is STALE: packets take bpf_redirect_neigh so the kernel re-verifies it. */
  Verify: 1 << 0,
} as const;

export enum CounterHook {
  FromWorkload = 0,
  ToUplink = 1,
  FromUplinkTc = 2,
  FromUplinkXdp = 3,
}
export const HOOK_COUNT = 4;

export enum CounterReason {
  Pass = 0,
  RedirectLocal = 1,
  Encap = 2,
  ForwardPlain = 3,
  Decap = 4,
  FragNeeded = 5,
  NatOutgoing = 6,
  DropUnknownSource = 16,
  DropBadVni = 17,
  DropMalformed = 18,
  DropMtuExceeded = 19,
  DropNoRoute = 20,
  DropIpipFromWorkload = 21,
  // 22 and 24 are retired (never emitted); the other reasons keep their numbers.
  DropAdjustRoom = 23,
  DropSpoofedSource = 25,
  DropTunnelFromWorkload = 26,
  DropRpf = 27,
  DropInnerSource = 28,
}
export const REASON_COUNT = 32;
export const COUNTER_SLOTS = HOOK_COUNT * ENCAP_COUNT * REASON_COUNT;
export const ROUTE_CACHE_SLOTS = 1024;
export const NODE_CACHE_SLOTS = 256;
export const NEXT_HOP_CACHE_SLOTS = 256;

export function counterSlot(hook: CounterHook, encap: Encap, reason: CounterReason): number {
  return (hook * ENCAP_COUNT + encap) * REASON_COUNT + reason;
}

/** A routes_map entry in logical form. `cidr` is the key ("10.0.1.0/26"). MACs are "aa:bb:cc:dd:ee:ff". */
export interface RouteEntry {
  cidr: string;
  kind: RouteKind;
  encap: Encap;
  flags: number;
  ifindex: number;
  nextHop: string; // "0.0.0.0" when unused
  dstMac: string; // "00:00:00:00:00:00" when unused
  srcMac: string;
}

export interface KnownNodeEntry {
  addr: string; // underlay address, the key
  vtepMac: string;
  flags: number;
  tunnelAddr: string; // "0.0.0.0" when none
}

/** A source_allow_map entry (an endpoint's spec.allowSpoofedSourcePrefixes): `cidr` may be the source of a
 * local workload's packets on its host veth `ifindex`, or the inner source of tunnel packets from the node at
 * underlay address `node` (where that workload runs). The whole entry is the key. */
export type SourceAllowEntry = { scope: 'veth'; ifindex: number; cidr: string } | { scope: 'node'; node: string; cidr: string };

export const SourceAllowScope = { Veth: 1, Node: 2 } as const;

/** A next_hop_map entry: how to reach the node at underlay address `node` (the key) on the uplink. */
export interface NextHopEntry {
  node: string;
  dstMac: string;
  srcMac: string;
  ifindex: number;
  flags: number;
}

export interface SettingsEntry {
  tunnelAddr: string;
  uplinkMtu: number;
  /** Generation of routes_map's and known_nodes_map's contents: the programs' lookup caches answer only for the
   * current one; the agent changes it after every write to either. 0 (or absent) turns the caches off. */
  cacheGen?: number;
}

export interface CounterValue {
  packets: bigint;
  bytes: bigint;
}

export const ZERO_MAC = '00:00:00:00:00:00';
export const ZERO_IP = '0.0.0.0';

/** Byte layout of every struct of maps.h: field name (as in C) -> [offset, size]. Checked against BTF. */
export const STRUCT_LAYOUTS = {
  route_key: { size: 8, fields: { prefixlen: [0, 4], addr: [4, 4] } },
  route_value: {
    size: 24,
    fields: { kind: [0, 1], encap: [1, 1], flags: [2, 2], ifindex: [4, 4], next_hop: [8, 4], dst_mac: [12, 6], src_mac: [18, 6] },
  },
  known_node_key: { size: 4, fields: { addr: [0, 4] } },
  known_node_value: { size: 12, fields: { vtep_mac: [0, 6], flags: [6, 2], tunnel_addr: [8, 4] } },
  source_allow_key: { size: 16, fields: { prefixlen: [0, 4], scope: [4, 4], owner: [8, 4], addr: [12, 4] } },
  source_allow_value: { size: 4, fields: { reserved: [0, 4] } },
  next_hop_key: { size: 4, fields: { addr: [0, 4] } },
  next_hop_value: { size: 20, fields: { dst_mac: [0, 6], src_mac: [6, 6], ifindex: [12, 4], flags: [16, 4] } },
  next_hop_cache_slot: { size: 32, fields: { addr: [0, 4], gen: [4, 4], value: [8, 20], known: [28, 4] } },
  settings_value: { size: 16, fields: { tunnel_addr: [0, 4], uplink_mtu: [4, 4], flags: [8, 4], cache_gen: [12, 4] } },
  route_cache_slot: { size: 32, fields: { addr: [0, 4], gen: [4, 4], value: [8, 24] } },
  node_cache_slot: { size: 24, fields: { addr: [0, 4], gen: [4, 4], value: [8, 12], known: [20, 4] } },
  counter_value: { size: 16, fields: { packets: [0, 8], bytes: [8, 8] } },
} as const satisfies Record<string, { size: number; fields: Record<string, readonly [number, number]> }>;

export const ROUTE_KEY_SIZE = STRUCT_LAYOUTS.route_key.size;
export const ROUTE_VALUE_SIZE = STRUCT_LAYOUTS.route_value.size;
export const KNOWN_NODE_KEY_SIZE = STRUCT_LAYOUTS.known_node_key.size;
export const KNOWN_NODE_VALUE_SIZE = STRUCT_LAYOUTS.known_node_value.size;
export const SETTINGS_VALUE_SIZE = STRUCT_LAYOUTS.settings_value.size;
export const SOURCE_ALLOW_KEY_SIZE = STRUCT_LAYOUTS.source_allow_key.size;
export const SOURCE_ALLOW_VALUE_SIZE = STRUCT_LAYOUTS.source_allow_value.size;
export const COUNTER_VALUE_SIZE = STRUCT_LAYOUTS.counter_value.size;
export const NEXT_HOP_KEY_SIZE = STRUCT_LAYOUTS.next_hop_key.size;
export const NEXT_HOP_VALUE_SIZE = STRUCT_LAYOUTS.next_hop_value.size;

/** max_entries of each map as maps.h declares it (routes and known nodes bound what one node can hold). */
export const MAP_MAX_ENTRIES = {
  [MAP_NAMES.routes]: 65536,
  [MAP_NAMES.knownNodes]: 16384,
  [MAP_NAMES.sourceAllow]: 16384,
  [MAP_NAMES.nextHops]: 16384,
  [MAP_NAMES.nextHopGen]: 1,
  [MAP_NAMES.nextHopCache]: NEXT_HOP_CACHE_SLOTS,
  [MAP_NAMES.settings]: 1,
  [MAP_NAMES.counters]: COUNTER_SLOTS,
  [MAP_NAMES.routeCache]: ROUTE_CACHE_SLOTS,
  [MAP_NAMES.nodeCache]: NODE_CACHE_SLOTS,
} as const;

/**
 * How the enums and #defines of maps.h map onto this file. A C enumerator or macro PREFIX_FOO_BAR is the TS member
 * FooBar of `mirror`; PREFIX_MAX (an enum's "__MAX" bound) is `count`; names in `cOnly` have no TS member on
 * purpose. Every enumerator and macro of maps.h must be covered by one entry.
 */
export const C_MIRRORS: { cName: string; prefix: string; mirror: Record<string, number | string>; count?: number; cOnly?: string[] }[] = [
  { cName: 'enum route_kind', prefix: 'ROUTE_KIND_', mirror: RouteKind, cOnly: ['ROUTE_KIND_NONE'] },
  { cName: 'enum encap_type', prefix: 'ENCAP_', mirror: Encap, count: ENCAP_COUNT },
  { cName: 'enum counter_hook', prefix: 'HOOK_', mirror: CounterHook, count: HOOK_COUNT },
  { cName: 'enum counter_reason', prefix: 'REASON_', mirror: CounterReason, count: REASON_COUNT },
  { cName: 'ROUTE_F_* flags', prefix: 'ROUTE_F_', mirror: RouteFlags },
  { cName: 'NODE_F_* flags', prefix: 'NODE_F_', mirror: NodeFlags },
  { cName: 'NEXT_HOP_F_* flags', prefix: 'NEXT_HOP_F_', mirror: NextHopFlags },
  { cName: 'enum source_allow_scope', prefix: 'SOURCE_SCOPE_', mirror: SourceAllowScope },
  { cName: 'COUNTER_SLOTS', prefix: '', mirror: { COUNTER_SLOTS } },
  { cName: 'ROUTE_CACHE_SLOTS', prefix: '', mirror: { ROUTE_CACHE_SLOTS } },
  { cName: 'NODE_CACHE_SLOTS', prefix: '', mirror: { NODE_CACHE_SLOTS } },
  { cName: 'NEXT_HOP_CACHE_SLOTS', prefix: '', mirror: { NEXT_HOP_CACHE_SLOTS } },
];

/** Writes a dotted-quad IPv4 address at `offset` in network order (the reconciler encodes every entry). */
function writeIpv4(buf: Buffer, offset: number, addr: string): void {
  const parts = addr.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address '${addr}'`);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255 || (p.length > 1 && p[0] === '0')) {
      throw new Error(`invalid IPv4 address '${addr}'`);
    }
    buf[offset + i] = n;
  }
}

function writeMac(buf: Buffer, offset: number, mac: string): void {
  if (mac.length !== 17) throw new Error(`invalid MAC address '${mac}'`);
  for (let i = 0; i < 6; i++) {
    const byte = mac.slice(i * 3, i * 3 + 2);
    if ((i < 5 && mac[i * 3 + 2] !== ':') || !/^[0-9a-fA-F]{2}$/.test(byte)) throw new Error(`invalid MAC address '${mac}'`);
    buf[offset + i] = parseInt(byte, 16);
  }
}

function macString(buf: Buffer, offset: number): string {
  return [...buf.subarray(offset, offset + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function ipv4String(buf: Buffer, offset: number): string {
  return [...buf.subarray(offset, offset + 4)].join('.');
}

// Keys and values use host byte order for plain integers (the kernel's native order, little endian on every
// supported architecture) and network order for addresses, exactly as the C structs do.

export function encodeRouteKey(cidr: string): Buffer {
  const slash = cidr.indexOf('/');
  const len = Number(cidr.slice(slash + 1));
  if (slash < 0 || !Number.isInteger(len) || len < 0 || len > 32) throw new Error(`invalid IPv4 CIDR '${cidr}'`);
  const buf = Buffer.alloc(ROUTE_KEY_SIZE);
  buf.writeUInt32LE(len, 0);
  writeIpv4(buf, 4, cidr.slice(0, slash));
  return buf;
}

export function decodeRouteKey(buf: Buffer): string {
  return `${ipv4String(buf, 4)}/${buf.readUInt32LE(0)}`;
}

export function encodeRouteValue(e: Omit<RouteEntry, 'cidr'>): Buffer {
  const buf = Buffer.alloc(ROUTE_VALUE_SIZE);
  buf.writeUInt8(e.kind, 0);
  buf.writeUInt8(e.encap, 1);
  buf.writeUInt16LE(e.flags, 2);
  buf.writeUInt32LE(e.ifindex, 4);
  writeIpv4(buf, 8, e.nextHop);
  writeMac(buf, 12, e.dstMac);
  writeMac(buf, 18, e.srcMac);
  return buf;
}

export function decodeRouteValue(buf: Buffer): Omit<RouteEntry, 'cidr'> {
  return {
    kind: buf.readUInt8(0),
    encap: buf.readUInt8(1),
    flags: buf.readUInt16LE(2),
    ifindex: buf.readUInt32LE(4),
    nextHop: ipv4String(buf, 8),
    dstMac: macString(buf, 12),
    srcMac: macString(buf, 18),
  };
}

export function encodeKnownNodeKey(addr: string): Buffer {
  const buf = Buffer.alloc(KNOWN_NODE_KEY_SIZE);
  writeIpv4(buf, 0, addr);
  return buf;
}

export function decodeKnownNodeKey(buf: Buffer): string {
  return ipv4String(buf, 0);
}

export function encodeKnownNodeValue(e: Omit<KnownNodeEntry, 'addr'>): Buffer {
  const buf = Buffer.alloc(KNOWN_NODE_VALUE_SIZE);
  writeMac(buf, 0, e.vtepMac);
  buf.writeUInt16LE(e.flags, 6);
  writeIpv4(buf, 8, e.tunnelAddr);
  return buf;
}

export function decodeKnownNodeValue(buf: Buffer): Omit<KnownNodeEntry, 'addr'> {
  return { vtepMac: macString(buf, 0), flags: buf.readUInt16LE(6), tunnelAddr: ipv4String(buf, 8) };
}

/** LPM key {prefixlen, scope, owner, addr}: scope and owner always match in full, so prefixlen is 64 + the CIDR's. */
export function encodeSourceAllowKey(e: SourceAllowEntry): Buffer {
  const route = encodeRouteKey(e.cidr);
  const buf = Buffer.alloc(SOURCE_ALLOW_KEY_SIZE);
  buf.writeUInt32LE(64 + route.readUInt32LE(0), 0);
  if (e.scope === 'veth') {
    if (!Number.isInteger(e.ifindex) || e.ifindex <= 0 || e.ifindex > 0xffffffff) throw new Error(`invalid ifindex ${e.ifindex}`);
    buf.writeUInt32LE(SourceAllowScope.Veth, 4);
    buf.writeUInt32LE(e.ifindex, 8);
  } else {
    buf.writeUInt32LE(SourceAllowScope.Node, 4);
    writeIpv4(buf, 8, e.node);
  }
  route.copy(buf, 12, 4, 8);
  return buf;
}

export function decodeSourceAllowKey(buf: Buffer): SourceAllowEntry {
  const cidr = `${ipv4String(buf, 12)}/${buf.readUInt32LE(0) - 64}`;
  return buf.readUInt32LE(4) === SourceAllowScope.Veth
    ? { scope: 'veth', ifindex: buf.readUInt32LE(8), cidr }
    : { scope: 'node', node: ipv4String(buf, 8), cidr };
}

export function encodeSourceAllowValue(): Buffer {
  return Buffer.alloc(SOURCE_ALLOW_VALUE_SIZE);
}

export function encodeNextHopKey(node: string): Buffer {
  const buf = Buffer.alloc(NEXT_HOP_KEY_SIZE);
  writeIpv4(buf, 0, node);
  return buf;
}

export function decodeNextHopKey(buf: Buffer): string {
  return ipv4String(buf, 0);
}

export function encodeNextHopValue(e: Omit<NextHopEntry, 'node'>): Buffer {
  if (!Number.isInteger(e.ifindex) || e.ifindex <= 0 || e.ifindex > 0xffffffff) throw new Error(`invalid ifindex ${e.ifindex}`);
  const buf = Buffer.alloc(NEXT_HOP_VALUE_SIZE);
  writeMac(buf, 0, e.dstMac);
  writeMac(buf, 6, e.srcMac);
  buf.writeUInt32LE(e.ifindex, 12);
  buf.writeUInt32LE(e.flags, 16);
  return buf;
}

export function decodeNextHopValue(buf: Buffer): Omit<NextHopEntry, 'node'> {
  return { dstMac: macString(buf, 0), srcMac: macString(buf, 6), ifindex: buf.readUInt32LE(12), flags: buf.readUInt32LE(16) };
}

export function encodeU32Key(index: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32LE(index, 0);
  return buf;
}

export function encodeSettingsValue(e: SettingsEntry): Buffer {
  const buf = Buffer.alloc(SETTINGS_VALUE_SIZE);
  writeIpv4(buf, 0, e.tunnelAddr);
  buf.writeUInt32LE(e.uplinkMtu, 4);
  buf.writeUInt32LE(e.cacheGen ?? 0, 12);
  return buf;
}

export function decodeSettingsValue(buf: Buffer): SettingsEntry {
  return { tunnelAddr: ipv4String(buf, 0), uplinkMtu: buf.readUInt32LE(4), cacheGen: buf.readUInt32LE(12) };
}

export function decodeCounterValue(buf: Buffer): CounterValue {
  return { packets: buf.readBigUInt64LE(0), bytes: buf.readBigUInt64LE(8) };
}

/** Sums one slot's per-CPU values, as the kernel keeps one copy per possible CPU. */
export function sumPerCpu(values: Buffer[]): CounterValue {
  let packets = 0n;
  let bytes = 0n;
  for (const v of values) {
    const c = decodeCounterValue(v);
    packets += c.packets;
    bytes += c.bytes;
  }
  return { packets, bytes };
}
