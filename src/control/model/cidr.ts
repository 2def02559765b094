// SPDX-License-Identifier: Apache-2.0
// The one CIDR and address parser of bpf-overlay, shared by validation, IPAM and the compiler: every component
// reads "10.5.0.0/016" the same way (as 10.5.0.0/16) and stores only the canonical text. Addresses are held as
// bigints so that IPv4 and IPv6 use one code path for containment and overlap; IPAM's IPv4 arithmetic uses the
// 32-bit number forms at the end of this file.
import { createRequire } from 'node:module';

// Required rather than imported: importing a CommonJS package from ESM scans its source for export names first,
// which every short-lived process (fifty CNI plugins at once) pays for in start-up CPU.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

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

/** Dotted four-part decimal without leading zeros, each part 0-255 (what ipaddr's four-part check accepts). */
function parseIpv4Fast(text: string): number | null {
  let value = 0;
  let part = -1;
  let parts = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a final '.' closes the last part
    if (c === 46) {
      if (digits === 0 || part > 255) return null;
      value = value * 256 + part;
      parts++;
      part = -1;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return null; // leading zero
      part = (part < 0 ? 0 : part) * 10 + (c - 48);
      digits++;
    } else {
      return null;
    }
  }
  return parts === 4 ? value : null;
}

export function parseIp(text: string): { family: IpFamily; value: bigint } | null {
  if (typeof text !== 'string') return null;
  // The compiler parses every address of the cluster several times per pass: IPv4 avoids the generic parser.
  const v4 = parseIpv4Fast(text);
  if (v4 !== null) return { family: 4, value: BigInt(v4) };
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

function buildMasks(bits: number): bigint[] {
  const all = (1n << BigInt(bits)) - 1n;
  return Array.from({ length: bits + 1 }, (_, prefix) =>
    prefix === 0 ? 0n : (all >> BigInt(bits - prefix)) << BigInt(bits - prefix),
  );
}

// Containment checks run for every block against every pool: look masks up instead of shifting bigints.
const MASKS: Record<IpFamily, bigint[]> = { 4: buildMasks(32), 6: buildMasks(128) };

function maskOf(family: IpFamily, prefix: number): bigint {
  return MASKS[family][prefix];
}

/** A number that orders IPv4 CIDR texts by network address, then prefix length (NaN when not IPv4 CIDR). */
export function ipv4CidrSortKey(text: string): number {
  const slash = text.indexOf('/');
  const addr = parseIpv4Fast(slash < 0 ? text : text.slice(0, slash));
  const prefix = slash < 0 ? 32 : Number(text.slice(slash + 1));
  return addr === null ? NaN : addr * 64 + prefix;
}

/** The network address of `value` under a prefix length. */
export function maskedValue(family: IpFamily, value: bigint, prefix: number): bigint {
  return value & maskOf(family, prefix);
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
// Sorting compares each text many times: parse each once. Bounded, so a long-lived agent cannot grow it.
const parsedCidrs = new Map<string, Cidr | null>();
const parsedIps = new Map<string, ReturnType<typeof parseIp>>();
const PARSE_CACHE_LIMIT = 200_000;

function cached<T>(cache: Map<string, T>, text: string, parse: (t: string) => T): T {
  let v = cache.get(text);
  if (v === undefined && !cache.has(text)) {
    v = parse(text);
    if (cache.size >= PARSE_CACHE_LIMIT) cache.clear();
    cache.set(text, v);
  }
  return v as T;
}

export function compareCidrText(a: string, b: string): number {
  const ca = cached(parsedCidrs, a, parseCidr);
  const cb = cached(parsedCidrs, b, parseCidr);
  if (!ca || !cb) return a < b ? -1 : a > b ? 1 : 0;
  if (ca.family !== cb.family) return ca.family - cb.family;
  const na = networkOf(ca);
  const nb = networkOf(cb);
  if (na !== nb) return na < nb ? -1 : 1;
  return ca.prefix - cb.prefix;
}

export function compareIpText(a: string, b: string): number {
  const pa = cached(parsedIps, a, parseIp);
  const pb = cached(parsedIps, b, parseIp);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.family !== pb.family) return pa.family - pb.family;
  return pa.value < pb.value ? -1 : pa.value > pb.value ? 1 : 0;
}

/** An IPv4 network as IPAM walks it: numbers instead of bigints. */
export interface Cidr4 {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
  /** Number of addresses. */
  size: number;
}

/** Undefined for anything that is not a strictly masked IPv4 CIDR (IPv6 pools are not served by IPAM). */
export function parseCidr4(text: string): Cidr4 | undefined {
  const c = parseCidr(text);
  if (!c || c.family !== 4 || !isStrictlyMasked(c)) return undefined;
  return { base: Number(c.addr), prefix: c.prefix, size: 2 ** (32 - c.prefix) };
}

export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function formatCidr4(c: Pick<Cidr4, 'base' | 'prefix'>): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function cidr4ContainsIp(c: Cidr4, ip: number): boolean {
  return ip >= c.base && ip < c.base + c.size;
}

/**
 * The text stored for a CIDR: canonical address and prefix ("10.5.0.0/016" -> "10.5.0.0/16",
 * "fd00:0::/48" -> "fd00::/48"). Host bits are kept (a Node address "10.0.0.5/24" stays one); null when
 * the text is no CIDR.
 */
export function canonicalCidrText(text: string): string | null {
  const c = parseCidr(text);
  return c ? `${bigintToText(c.addr, c.family)}/${c.prefix}` : null;
}

/** The text stored for a plain address ("fd00:0::1" -> "fd00::1"); null when the text is no address. */
export function canonicalIpText(text: string): string | null {
  const ip = parseIp(text);
  return ip ? bigintToText(ip.value, ip.family) : null;
}
