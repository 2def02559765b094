// Address arithmetic shared by validation and the compiler. Addresses are held as bigints so that IPv4 and
// IPv6 use one code path for containment and overlap.
import ipaddr from 'ipaddr.js';

export type IpFamily = 4 | 6;

export interface Cidr {
  family: IpFamily;
  /** The address as written (host bits possibly set). */
  addr: bigint;
  prefix: number;
  /** Canonical "network/prefix" text with host bits cleared. */
  network: string;
}

function bitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

function bytesToBigint(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigintToText(v: bigint, family: IpFamily): string {
  const n = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((v >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** Parses a plain address strictly (IPv4 only in dotted four-part decimal), or returns null. */
export function parseIp(text: string): { family: IpFamily; value: bigint } | null {
  if (typeof text !== 'string') return null;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, value: bytesToBigint(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  if (text.includes(':') && ipaddr.IPv6.isValid(text)) {
    const parsed = ipaddr.IPv6.parse(text);
    if (parsed.zoneId) return null;
    return { family: 6, value: bytesToBigint(parsed.toByteArray()) };
  }
  return null;
}

export function isIpv4(text: string): boolean {
  return parseIp(text)?.family === 4;
}

/** Parses "addr/len"; host bits may be set (see isStrictlyMasked). Returns null when malformed. */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== 'string') return null;
  const slash = text.indexOf('/');
  if (slash < 0 || slash !== text.lastIndexOf('/')) return null;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenText)) return null;
  const prefix = Number(lenText);
  if (prefix > bitsOf(ip.family)) return null;
  const net = ip.value & maskOf(ip.family, prefix);
  return { family: ip.family, addr: ip.value, prefix, network: `${bigintToText(net, ip.family)}/${prefix}` };
}

function maskOf(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(bitsOf(family));
  const all = (1n << bits) - 1n;
  return prefix === 0 ? 0n : (all >> (bits - BigInt(prefix))) << (bits - BigInt(prefix));
}

export function networkOf(c: Cidr): bigint {
  return c.addr & maskOf(c.family, c.prefix);
}

export function isStrictlyMasked(c: Cidr): boolean {
  return networkOf(c) === c.addr;
}

export function cidrContainsIp(c: Cidr, family: IpFamily, value: bigint): boolean {
  return c.family === family && (value & maskOf(c.family, c.prefix)) === networkOf(c);
}

/** True when `inner` lies entirely within `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && cidrContainsIp(outer, inner.family, inner.addr);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** Orders CIDRs by family, network address, then prefix length: a total order for deterministic output. */
export function compareCidrText(a: string, b: string): number {
  const ca = parseCidr(a);
  const cb = parseCidr(b);
  if (!ca || !cb) return a < b ? -1 : a > b ? 1 : 0;
  if (ca.family !== cb.family) return ca.family - cb.family;
  const na = networkOf(ca);
  const nb = networkOf(cb);
  if (na !== nb) return na < nb ? -1 : 1;
  return ca.prefix - cb.prefix;
}

export function compareIpText(a: string, b: string): number {
  const pa = parseIp(a);
  const pb = parseIp(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.family !== pb.family) return pa.family - pb.family;
  return pa.value < pb.value ? -1 : pa.value > pb.value ? 1 : 0;
}
