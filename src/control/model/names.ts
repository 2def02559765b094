// SPDX-License-Identifier: Apache-2.0
// Names derived from a node name (up to 253 characters) plus a suffix can exceed the limit of what they name: a
// resource name (253, DNS-1123) or an nftables table (255). Over the limit, the node part is cut and a hash of
// the whole name keeps it unique and deterministic, so every process derives the same name.
import { createHash } from 'node:crypto';

export const RESOURCE_NAME_MAX = 253;
/** NFT_NAME_MAXLEN is 256 bytes including the terminating NUL. */
export const NFT_NAME_MAX = 255;

/** `head` + `tail` when that fits in `max`; else head cut short + separator + 10 hex digits of the full name's hash +
 * tail. Resource names use "." so that no DNS-1123 label grows past 63 characters. */
export function boundedName(head: string, tail: string, max: number, separator = '-'): string {
  const full = head + tail;
  if (full.length <= max) return full;
  const digest = createHash('sha256').update(full).digest('hex').slice(0, 10);
  const room = max - tail.length - digest.length - separator.length;
  // A DNS-1123 name must not end a label with "-" or ".": cut back to a letter or digit.
  const cut = head.slice(0, Math.max(0, room)).replace(/[^A-Za-z0-9_]+$/, '');
  return `${cut}${separator}${digest}${tail}`;
}
