// What the resource commands share: reading manifests from a file or stdin, opening the datastore, naming
// kinds the way users type them, and listing everything validation must see.
import { readFileSync } from 'node:fs';
import { openDatastore } from '../datastore/index.js';
import type { Datastore } from '../datastore/types.js';
import { RESOURCE_KINDS, type Resource, type ResourceKind } from '../model/types.js';
import type { CliContext } from './command.js';
import { UsageError } from './output.js';

export async function readManifestInput(file: string | undefined, ctx: CliContext): Promise<{ text: string; name: string }> {
  if (!file) throw new UsageError('-f FILE is required (use -f - for stdin)');
  if (file === '-') return { text: await ctx.stdin(), name: '<stdin>' };
  try {
    return { text: readFileSync(file, 'utf8'), name: file };
  } catch (err) {
    throw new Error(`-f ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

export async function withDatastore<T>(ctx: CliContext, fn: (ds: Datastore) => Promise<T>): Promise<T> {
  const ds = await openDatastore(ctx.datastoreUrl);
  try {
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

export async function listAll(ds: Datastore): Promise<Resource[]> {
  const lists = await Promise.all(RESOURCE_KINDS.map((k) => ds.list(k)));
  return lists.flat() as Resource[];
}

const KIND_ALIASES: Record<string, ResourceKind> = {};
for (const kind of RESOURCE_KINDS) {
  const lower = kind.toLowerCase();
  KIND_ALIASES[lower] = kind;
  KIND_ALIASES[lower.endsWith('y') ? `${lower.slice(0, -1)}ies` : `${lower}s`] = kind;
}
Object.assign(KIND_ALIASES, { pool: 'IPPool', pools: 'IPPool', node: 'Node', wep: 'WorkloadEndpoint', weps: 'WorkloadEndpoint' });
Object.assign(KIND_ALIASES, { bgpconfig: 'BGPConfiguration', bgpconfigs: 'BGPConfiguration' });

/** "ippools", "IPPool", "ippool" -> IPPool. */
export function parseKind(word: string): ResourceKind {
  const kind = KIND_ALIASES[word.toLowerCase()];
  if (!kind) {
    throw new UsageError(`unknown resource type '${word}' (one of ${RESOURCE_KINDS.map((k) => k.toLowerCase()).join(', ')})`);
  }
  return kind;
}

export function describeResource(r: { kind: string; metadata: { name: string } }): string {
  return `${r.kind.toLowerCase()}/${r.metadata.name}`;
}
