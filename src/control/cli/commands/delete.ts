import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { parseManifests } from '../../model/parse.js';
import type { ResourceRef } from '../../datastore/types.js';
import { UsageError } from '../output.js';
import { describeResource, parseKind, readManifestInput, withDatastore } from '../resources.js';

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'delete resources named in a file, or one resource by type and name',
  usage: 'delete -f FILE|-  |  delete TYPE NAME  (e.g. delete ippool default-pool)',
  options: { filename: { type: 'string', short: 'f' }, 'ignore-not-found': { type: 'boolean' } },
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
    return withDatastore(ctx, async (ds) => {
      const deleted = await ds.deleteAll(refs, { ignoreMissing: args.values['ignore-not-found'] === true });
      for (const ref of refs) ctx.stdout(`${describeResource({ kind: ref.kind, metadata: { name: ref.name } })} deleted\n`);
      if (deleted < refs.length) ctx.stdout(`(${refs.length - deleted} were already absent)\n`);
      return 0;
    });
  },
};
