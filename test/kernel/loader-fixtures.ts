// SPDX-License-Identifier: Apache-2.0
// Shared by the loader kernel tests: the compiled test objects, and packet/key builders.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const objectPath = (name: string): string => join(repoRoot, 'build', 'bpf', `${name}.o`);

/**
 * Builds the BPF objects when missing. The build is incremental, and `node-gyp rebuild` wipes build/ (including
 * build/bpf), so the tests do not rely on the order of build steps.
 */
export function ensureBpfObjects(): void {
  const names = ['loader_test', 'verifier_reject', 'loader_pinned', 'loader_min', 'loader_frags'];
  if (names.every((n) => existsSync(objectPath(n)))) return;
  execFileSync('bash', [join(repoRoot, 'scripts', 'build-bpf.sh')], { cwd: repoRoot, stdio: 'pipe', timeout: 120_000 });
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

export function u64(n: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** struct lpm_v4_key { u32 prefixlen; u32 addr (network order) } */
export function lpmKey(prefixlen: number, dotted: string): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(prefixlen);
  Buffer.from(dotted.split('.').map(Number)).copy(b, 4);
  return b;
}

/** Slots of pkt_counts in bpf/test/loader_test.c. */
export const SLOT_TC = 0;
export const SLOT_TC_ALT = 1;
export const SLOT_XDP = 2;

/** Sums struct pkt_count { u64 packets; u64 bytes } over CPUs. */
export function sumCounts(perCpu: Buffer[] | undefined): { packets: bigint; bytes: bigint } {
  let packets = 0n;
  let bytes = 0n;
  for (const v of perCpu ?? []) {
    packets += v.readBigUInt64LE(0);
    bytes += v.readBigUInt64LE(8);
  }
  return { packets, bytes };
}

/** An Ethernet + IPv4 + UDP frame of the given total length (at least 42 bytes). */
export function udpFrame(length = 64): Buffer {
  const f = Buffer.alloc(Math.max(length, 42));
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(f, 0); // dst
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(f, 6); // src
  f.writeUInt16BE(0x0800, 12);
  f[14] = 0x45;
  f.writeUInt16BE(f.length - 14, 16);
  f[22] = 64;
  f[23] = 17;
  Buffer.from([10, 0, 0, 1]).copy(f, 26);
  Buffer.from([10, 0, 0, 2]).copy(f, 30);
  f.writeUInt16BE(1234, 34);
  f.writeUInt16BE(5678, 36);
  f.writeUInt16BE(f.length - 34, 38);
  return f;
}
