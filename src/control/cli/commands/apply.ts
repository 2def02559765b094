// SPDX-License-Identifier: Apache-2.0
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import type { StoredResource, Txn } from '../../datastore/types.js';
import { RESOURCE_KINDS } from '../../model/types.js';
import { formatProblem, loadManifests, type ValidationResult } from '../../validation/index.js';
import { describeResource, readManifestInput, withDatastore } from '../resources.js';

/**
 * Everything validation judges against, read inside the transaction with kind guards: if another apply stores
 * (say) an overlapping pool between this read and this commit, the commit fails and validation runs again on
 * the new contents, so two conflicting applies can never both be stored.
 */
// IPAM blocks are read too: a WorkloadEndpoint is judged against the addresses IPAM holds for its handle.
async function guardedContents(tx: Txn): Promise<StoredResource[]> {
  const lists: StoredResource[][] = [];
  for (const kind of [...RESOURCE_KINDS, 'IPAMBlock' as const]) lists.push(await tx.list(kind, { guardKind: true }));
  return lists.flat();
}

export const applyCommand: Command = {
  name: 'apply',
  summary: 'create or update resources from a file (all documents, or none when any is invalid)',
  usage: 'apply -f FILE|-',
  options: { filename: { type: 'string', short: 'f' } },
  async run(args, ctx) {
    const input = await readManifestInput(stringOption(args, 'filename'), ctx);
    return withDatastore(ctx, async (ds) => {
      const { result, existing } = await ds.transact(async (tx) => {
        const contents = await guardedContents(tx);
        const validated: ValidationResult = loadManifests(input.text, input.name, contents);
        if (validated.ok) for (const s of validated.resources) tx.put(s.resource);
        return { result: validated, existing: new Set(contents.map((r) => `${r.kind}/${r.metadata.name}`)) };
      });
      for (const p of result.problems.filter((x) => x.severity === 'warning')) process.stderr.write(`${formatProblem(p)}\n`);
      if (!result.ok) {
        for (const p of result.problems.filter((x) => x.severity === 'error')) process.stderr.write(`${formatProblem(p)}\n`);
        throw new Error(`${input.name}: nothing applied (${result.problems.filter((x) => x.severity === 'error').length} error(s))`);
      }
      for (const { resource: r } of result.resources) {
        ctx.stdout(`${describeResource(r)} ${existing.has(`${r.kind}/${r.metadata.name}`) ? 'configured' : 'created'}\n`);
      }
      return 0;
    });
  },
};
