// SPDX-License-Identifier: Apache-2.0
import type { Command } from '../command.js';
import { boolOption, stringOption } from '../command.js';
import { parseManifests } from '../../model/parse.js';
import { describeRef, NotFoundError, type ResourceRef, type Txn } from '../../datastore/types.js';
import { planNodeDeletion, type NodeRelease } from '../../ipam/delete-node.js';
import { planPoolDeletion, type DeletePoolResult } from '../../ipam/delete-pool.js';
import { runSteps, type Step } from '../../ipam/steps.js';
import { UsageError } from '../output.js';
import { describeResource, parseKind, readManifestInput, withDatastore } from '../resources.js';

/** What deleting one resource did, for the report line. */
type Outcome = { ref: ResourceRef; deleted: boolean; pool?: DeletePoolResult; node?: NodeRelease };

async function planPlainDeletion(tx: Txn, outcome: Outcome, ignoreMissing: boolean): Promise<Step[]> {
  const { kind, name } = outcome.ref;
  if (!(await tx.get(kind, name))) {
    if (ignoreMissing) return [];
    throw new NotFoundError(`${describeRef(outcome.ref)} not found`, outcome.ref);
  }
  outcome.deleted = true;
  return [
    async (t) => {
      if (await t.get(kind, name)) t.delete(kind, name);
    },
  ];
}

function report(o: Outcome): string {
  const what = describeResource({ kind: o.ref.kind, metadata: { name: o.ref.name } });
  if (!o.deleted) return `${what} already absent`;
  if (o.node) {
    const n = o.node;
    return `${what} deleted (released ${n.addresses} address(es), ${n.blocks} block(s), ${n.affinities} affinity(ies), ${n.endpoints} endpoint(s))`;
  }
  if (o.pool && o.pool.usage.addresses > 0) {
    const u = o.pool.usage;
    return `${what} deleted with --force: ${u.addresses} address(es) still in use keep their ${u.busyBlocks} block(s) until released`;
  }
  return `${what} deleted`;
}

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'delete resources named in a file, or one resource by type and name (a Node with all its IPAM records)',
  usage:
    'delete -f FILE|-  |  delete TYPE NAME  [--force] [--ignore-not-found]\n' +
    '  (e.g. delete ippool default-pool; a pool whose blocks hold addresses needs --force)',
  options: {
    filename: { type: 'string', short: 'f' },
    'ignore-not-found': { type: 'boolean' },
    force: { type: 'boolean' },
  },
  allowPositionals: true,
  async run(args, ctx) {
    let refs: ResourceRef[];
    const file = stringOption(args, 'filename');
    if (file) {
      if (args.positionals.length > 0) throw new UsageError('give either -f FILE or TYPE NAME, not both');
      const input = await readManifestInput(file, ctx);
      refs = parseManifests(input.text, input.name).map((doc, i) => {
        const kind = typeof doc.body.kind === 'string' ? doc.body.kind : '';
        const meta = doc.body.metadata as { name?: unknown } | undefined;
        if (typeof meta?.name !== 'string' || !kind) {
          throw new Error(`${input.name} document ${i + 1}: kind and metadata.name are required to delete`);
        }
        return { kind: parseKind(kind === 'FelixConfiguration' ? 'OverlayConfiguration' : kind), name: meta.name };
      });
    } else {
      if (args.positionals.length !== 2) throw new UsageError('usage: delete TYPE NAME, or delete -f FILE');
      refs = [{ kind: parseKind(args.positionals[0]), name: args.positionals[1] }];
    }
    const ignoreMissing = boolOption(args, 'ignore-not-found');
    const force = boolOption(args, 'force');
    return withDatastore(ctx, async (ds) => {
      let outcomes: Outcome[] = [];
      // All of it in one transaction (nothing deleted when any part is refused), or, when too large for the
      // backend, the same steps one by one after every check passed.
      const { mode } = await runSteps(ds, async (tx) => {
        outcomes = refs.map((ref) => ({ ref, deleted: false }));
        const steps: Step[] = [];
        for (const o of outcomes) {
          if (o.ref.kind === 'IPPool') {
            o.pool = { deleted: false, usage: { addresses: 0, workload: 0, tunnel: 0, busyBlocks: 0, emptyBlocks: 0 } };
            steps.push(...(await planPoolDeletion(tx, o.ref.name, { force, ignoreMissing }, o.pool)));
            o.deleted = o.pool.deleted;
          } else if (o.ref.kind === 'Node') {
            o.node = { endpoints: 0, blocks: 0, affinities: 0, addresses: 0 };
            const nodeSteps = await planNodeDeletion(tx, o.ref.name, { ignoreMissing }, o.node);
            o.deleted = nodeSteps.length > 0;
            steps.push(...nodeSteps);
          } else {
            steps.push(...(await planPlainDeletion(tx, o, ignoreMissing)));
          }
        }
        return steps;
      });
      for (const o of outcomes) ctx.stdout(`${report(o)}\n`);
      if (mode !== 'one transaction') ctx.logger.info(`deleted in ${mode} (too many records for one)`);
      return 0;
    });
  },
};
