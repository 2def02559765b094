// SPDX-License-Identifier: Apache-2.0
// An independent packet builder and dissector for the data-path tests: Ethernet, IPv4 (options, fragments),
// TCP, UDP, ICMP, IPIP and VXLAN, with its own Internet checksum. It shares no code with the BPF programs or
// the control plane, so that a bug cannot hide on both sides of an assertion.

export const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const PROTO_ICMP = 1;
export const PROTO_IPIP = 4;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

// ---------------------------------------------------------------- addresses

export function ipBytes(addr: string): Buffer {
  const parts = addr.split('.');
  if (parts.length !== 4) throw new Error(`packets: invalid IPv4 address '${addr}'`);
  return Buffer.from(
    parts.map((p) => {
      const n = Number(p);
      if (!/^\d{1,3}$/.test(p) || n > 255) throw new Error(`packets: invalid IPv4 address '${addr}'`);
      return n;
    }),
  );
}

export function ipString(buf: Buffer, offset = 0): string {
  return [...buf.subarray(offset, offset + 4)].join('.');
}

export function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`packets: invalid MAC address '${mac}'`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export function macString(buf: Buffer, offset = 0): string {
  return [...buf.subarray(offset, offset + 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

// ---------------------------------------------------------------- checksums (RFC 1071)

/** One's-complement sum of 16-bit big-endian words, not folded to 16 bits and not inverted. */
export function onesSum(buf: Buffer, initial = 0): number {
  let sum = initial;
  const even = buf.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (buf.length & 1) sum += buf[buf.length - 1] << 8;
  return sum;
}

export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function internetChecksum(buf: Buffer, initial = 0): number {
  return foldChecksum(onesSum(buf, initial));
}

function pseudoHeaderSum(src: string, dst: string, proto: number, length: number): number {
  return onesSum(Buffer.concat([ipBytes(src), ipBytes(dst), Buffer.from([0, proto, length >> 8, length & 0xff])]));
}

/** True when an IPv4 header (options included) carries a correct checksum. */
export function ipv4HeaderChecksumOk(header: Buffer): boolean {
  return internetChecksum(header) === 0;
}

// ---------------------------------------------------------------- builders

export interface EthernetSpec {
  dst: string;
  src: string;
  type?: number;
}

export function ethernet(spec: EthernetSpec, payload: Buffer): Buffer {
  const h = Buffer.alloc(ETH_HLEN);
  macBytes(spec.dst).copy(h, 0);
  macBytes(spec.src).copy(h, 6);
  h.writeUInt16BE(spec.type ?? ETH_P_IP, 12);
  return Buffer.concat([h, payload]);
}

export interface Ipv4Spec {
  src: string;
  dst: string;
  protocol: number;
  ttl?: number;
  tos?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in 8-byte units. */
  fragOffset?: number;
  /** Options, padded by the caller to a multiple of 4 bytes (at most 40). */
  options?: Buffer;
  /** Overrides for malformed packets. */
  ihl?: number;
  version?: number;
  totalLength?: number;
  checksum?: number;
}

export function ipv4(spec: Ipv4Spec, payload: Buffer): Buffer {
  const options = spec.options ?? Buffer.alloc(0);
  if (options.length % 4 !== 0 || options.length > 40) {
    throw new Error(`packets: ipv4 options must be a multiple of 4 bytes and at most 40, got ${options.length}`);
  }
  const hlen = 20 + options.length;
  const h = Buffer.alloc(hlen);
  h[0] = ((spec.version ?? 4) << 4) | (spec.ihl ?? hlen / 4);
  h[1] = spec.tos ?? 0;
  h.writeUInt16BE(spec.totalLength ?? hlen + payload.length, 2);
  h.writeUInt16BE(spec.id ?? 0, 4);
  h.writeUInt16BE((spec.df ? 0x4000 : 0) | (spec.mf ? 0x2000 : 0) | ((spec.fragOffset ?? 0) & 0x1fff), 6);
  h[8] = spec.ttl ?? 64;
  h[9] = spec.protocol;
  ipBytes(spec.src).copy(h, 12);
  ipBytes(spec.dst).copy(h, 16);
  options.copy(h, 20);
  h.writeUInt16BE(spec.checksum ?? internetChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function udp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Buffer,
  opts: { checksum?: boolean; length?: number } = {},
): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(opts.length ?? 8 + payload.length, 4);
  const seg = Buffer.concat([h, payload]);
  if (opts.checksum !== false) {
    const c = internetChecksum(seg, pseudoHeaderSum(src, dst, PROTO_UDP, seg.length));
    seg.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  }
  return seg;
}

export function tcp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  payload: Buffer,
  opts: { seq?: number; ack?: number; flags?: number; window?: number } = {},
): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(opts.seq ?? 1, 4);
  h.writeUInt32BE(opts.ack ?? 0, 8);
  h[12] = 5 << 4;
  h[13] = opts.flags ?? 0x18; // PSH|ACK
  h.writeUInt16BE(opts.window ?? 65535, 14);
  const seg = Buffer.concat([h, payload]);
  seg.writeUInt16BE(internetChecksum(seg, pseudoHeaderSum(src, dst, PROTO_TCP, seg.length)), 16);
  return seg;
}

export function icmpEcho(id: number, seq: number, payload: Buffer, type = 8): Buffer {
  const h = Buffer.alloc(8);
  h[0] = type;
  h.writeUInt16BE(id, 4);
  h.writeUInt16BE(seq, 6);
  const msg = Buffer.concat([h, payload]);
  msg.writeUInt16BE(internetChecksum(msg), 2);
  return msg;
}

export function vxlanHeader(vni: number, flags = 0x08): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE((flags << 24) >>> 0, 0);
  h.writeUInt32BE((vni << 8) >>> 0, 4);
  return h;
}

/** A deterministic payload so that byte-by-byte comparisons catch shifted or corrupted data. */
export function pattern(length: number, seed = 0): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + seed * 13 + 3) & 0xff;
  return b;
}

// ---------------------------------------------------------------- dissector

export interface EthernetHeader {
  dst: string;
  src: string;
  type: number;
}

export interface Ipv4Header {
  version: number;
  ihl: number;
  headerLength: number;
  tos: number;
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  checksumOk: boolean;
  src: string;
  dst: string;
  options: Buffer;
  /** The header bytes themselves. */
  raw: Buffer;
}

export interface UdpHeader {
  sport: number;
  dport: number;
  length: number;
  checksum: number;
}

export interface VxlanHeader {
  flags: number;
  vni: number;
  reserved: number;
}

export interface IcmpHeader {
  type: number;
  code: number;
  checksum: number;
  /** Bytes 4..7: echo id/sequence, or unused + next-hop MTU for fragmentation-needed. */
  rest: number;
  checksumOk: boolean;
  body: Buffer;
}

export interface Dissected {
  eth?: EthernetHeader;
  ip?: Ipv4Header;
  udp?: UdpHeader;
  vxlan?: VxlanHeader;
  icmp?: IcmpHeader;
  /** The encapsulated packet of an IPIP (starts at ip) or VXLAN (starts at eth) frame. */
  inner?: Dissected;
  /** The L4 payload (after UDP/TCP/ICMP headers) or the remaining bytes when parsing stopped. */
  payload: Buffer;
  /** Why dissection stopped early, if it did. */
  error?: string;
}

export function dissectIpv4Header(buf: Buffer): Ipv4Header | string {
  if (buf.length < 20) return 'truncated IPv4 header';
  const ihl = buf[0] & 0x0f;
  const hl = ihl * 4;
  if (ihl < 5 || buf.length < hl) return 'bad IHL';
  const frag = buf.readUInt16BE(6);
  const raw = buf.subarray(0, hl);
  return {
    version: buf[0] >> 4,
    ihl,
    headerLength: hl,
    tos: buf[1],
    totalLength: buf.readUInt16BE(2),
    id: buf.readUInt16BE(4),
    df: (frag & 0x4000) !== 0,
    mf: (frag & 0x2000) !== 0,
    fragOffset: frag & 0x1fff,
    ttl: buf[8],
    protocol: buf[9],
    checksum: buf.readUInt16BE(10),
    checksumOk: ipv4HeaderChecksumOk(raw),
    src: ipString(buf, 12),
    dst: ipString(buf, 16),
    options: Buffer.from(buf.subarray(20, hl)),
    raw: Buffer.from(raw),
  };
}

/** Dissects from the IPv4 header on (used for IPIP inner packets too). */
export function dissectIpv4(buf: Buffer, vxlanPort = 4789): Dissected {
  const ip = dissectIpv4Header(buf);
  if (typeof ip === 'string') return { payload: buf, error: ip };
  const end = Math.min(buf.length, Math.max(ip.totalLength, ip.headerLength));
  const l4 = buf.subarray(ip.headerLength, end);
  const out: Dissected = { ip, payload: l4 };
  if (ip.fragOffset !== 0) return out;
  if (ip.protocol === PROTO_IPIP) {
    out.inner = dissectIpv4(l4, vxlanPort);
  } else if (ip.protocol === PROTO_UDP) {
    if (l4.length < 8) return { ...out, error: 'truncated UDP header' };
    out.udp = { sport: l4.readUInt16BE(0), dport: l4.readUInt16BE(2), length: l4.readUInt16BE(4), checksum: l4.readUInt16BE(6) };
    out.payload = l4.subarray(8);
    if (out.udp.dport === vxlanPort) {
      if (l4.length < 16) return { ...out, error: 'truncated VXLAN header' };
      const w0 = l4.readUInt32BE(8);
      const w1 = l4.readUInt32BE(12);
      out.vxlan = { flags: w0 >>> 24, vni: w1 >>> 8, reserved: w1 & 0xff };
      out.inner = dissect(l4.subarray(16), vxlanPort);
      out.payload = l4.subarray(16);
    }
  } else if (ip.protocol === PROTO_ICMP) {
    if (l4.length < 8) return { ...out, error: 'truncated ICMP header' };
    out.icmp = {
      type: l4[0],
      code: l4[1],
      checksum: l4.readUInt16BE(2),
      rest: l4.readUInt32BE(4),
      checksumOk: ip.mf ? true : internetChecksum(l4) === 0,
      body: l4.subarray(8),
    };
    out.payload = l4.subarray(8);
  } else if (ip.protocol === PROTO_TCP) {
    if (l4.length < 20) return { ...out, error: 'truncated TCP header' };
    out.payload = l4.subarray((l4[12] >> 4) * 4);
  }
  return out;
}

export function dissect(frame: Buffer, vxlanPort = 4789): Dissected {
  if (frame.length < ETH_HLEN) return { payload: frame, error: 'truncated Ethernet header' };
  const eth: EthernetHeader = { dst: macString(frame, 0), src: macString(frame, 6), type: frame.readUInt16BE(12) };
  if (eth.type !== ETH_P_IP) return { eth, payload: frame.subarray(ETH_HLEN) };
  return { eth, ...dissectIpv4(frame.subarray(ETH_HLEN), vxlanPort) };
}

/** Checks a TCP or UDP checksum over the pseudo header (0 for UDP means "none"), or an ICMP checksum. */
export function l4ChecksumOk(ipPacket: Buffer): boolean {
  const ip = dissectIpv4Header(ipPacket);
  if (typeof ip === 'string') return false;
  const seg = ipPacket.subarray(ip.headerLength, ip.totalLength);
  if (ip.protocol === PROTO_ICMP) return internetChecksum(seg) === 0;
  if (ip.protocol === PROTO_UDP && seg.readUInt16BE(6) === 0) return true;
  return internetChecksum(seg, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, seg.length)) === 0;
}
