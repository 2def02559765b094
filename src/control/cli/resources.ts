// SPDX-License-Identifier: Apache-2.0
// What the resource commands share: reading manifests from a file or stdin, opening the datastore, naming
// kinds the way users type them, and listing everything validation must see.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { openDatastore } from '../datastore/index.js';
import type { Datastore, StoredResource } from '../datastore/types.js';
import { RESOURCE_KINDS, type ResourceKind } from '../model/types.js';
import type { CliContext } from './command.js';
import { decodeManifest, MAX_MANIFEST_BYTES } from '../model/parse.js';
import { printable } from '../printable.js';
import { UsageError } from './output.js';

/** At most limit + 1 bytes of the file: a huge file is judged too large without being read whole. */
function readBounded(file: string, limit: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, limit) + 1);
    let got = 0;
    for (let n = 1; n > 0 && got < buf.length; got += n) n = readSync(fd, buf, got, buf.length - got, null);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** The manifest text: at most MAX_MANIFEST_BYTES of strict UTF-8 (anything else is an error naming the file). */
export async function readManifestInput(file: string | undefined, ctx: CliContext): Promise<{ text: string; name: string }> {
  if (!file) throw new UsageError('-f FILE is required (use -f - for stdin)');
  if (file === '-') return { text: decodeManifest(await ctx.stdin(MAX_MANIFEST_BYTES), '<stdin>'), name: '<stdin>' };
  let bytes: Buffer;
  try {
    bytes = readBounded(file, MAX_MANIFEST_BYTES);
  } catch (err) {
    throw new Error(`-f ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return { text: decodeManifest(bytes, file), name: file };
}

export async function withDatastore<T>(
  ctx: CliContext,
  fn: (ds: Datastore) => Promise<T>,
  opts: { readOnly?: boolean } = {},
): Promise<T> {
  const ds = await openDatastore(ctx.datastoreUrl, opts);
  try {
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

/** For read commands: a SQLite store is opened read-only, so reading never creates or changes a file. */
export function withStoreReadOnly<T>(ctx: CliContext, fn: (ds: Datastore) => Promise<T>): Promise<T> {
  return withDatastore(ctx, fn, { readOnly: true });
}

/** Every record validation judges a manifest against: the resources, and IPAM's blocks (endpoint addresses). */
export async function listAll(ds: Datastore): Promise<StoredResource[]> {
  const lists = await Promise.all([...RESOURCE_KINDS, 'IPAMBlock' as const].map((k) => ds.list(k)));
  return lists.flat() as StoredResource[];
}

// A Map, not an object: a typed word such as "__proto__" or "constructor" must not find Object's own keys.
const KIND_ALIASES = new Map<string, ResourceKind>();
for (const kind of RESOURCE_KINDS) {
  const lower = kind.toLowerCase();
  KIND_ALIASES.set(lower, kind);
  KIND_ALIASES.set(lower.endsWith('y') ? `${lower.slice(0, -1)}ies` : `${lower}s`, kind);
}
for (const [alias, kind] of [['pool', 'IPPool'], ['pools', 'IPPool'], ['node', 'Node'], ['wep', 'WorkloadEndpoint'], ['weps', 'WorkloadEndpoint']] as const) {
  KIND_ALIASES.set(alias, kind);
}
for (const [alias, kind] of [['bgpconfig', 'BGPConfiguration'], ['bgpconfigs', 'BGPConfiguration']] as const) {
  KIND_ALIASES.set(alias, kind);
}

/** "ippools", "IPPool", "ippool" -> IPPool. */
export function parseKind(word: string): ResourceKind {
  const kind = KIND_ALIASES.get(word.toLowerCase());
  if (!kind) {
    throw new UsageError(`unknown resource type '${word}' (one of ${RESOURCE_KINDS.map((k) => k.toLowerCase()).join(', ')})`);
  }
  return kind;
}

/** "ippool/NAME", printable: names from a manifest or the command line may hold control characters. */
export function describeResource(r: { kind: string; metadata: { name: string } }): string {
  return printable(`${r.kind.toLowerCase()}/${r.metadata.name}`);
}
