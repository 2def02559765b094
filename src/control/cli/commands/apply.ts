import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { formatProblem, loadManifests } from '../../validation/index.js';
import { describeResource, listAll, readManifestInput, withDatastore } from '../resources.js';

export const applyCommand: Command = {
  name: 'apply',
  summary: 'create or update resources from a file (all documents, or none when any is invalid)',
  usage: 'apply -f FILE|-',
  options: { filename: { type: 'string', short: 'f' } },
  async run(args, ctx) {
    const input = await readManifestInput(stringOption(args, 'filename'), ctx);
    return withDatastore(ctx, async (ds) => {
      const existing = await listAll(ds);
      const result = loadManifests(input.text, input.name, existing);
      for (const p of result.problems.filter((x) => x.severity === 'warning')) process.stderr.write(`${formatProblem(p)}\n`);
      if (!result.ok) {
        for (const p of result.problems.filter((x) => x.severity === 'error')) process.stderr.write(`${formatProblem(p)}\n`);
        throw new Error(`${input.name}: nothing applied (${result.problems.filter((x) => x.severity === 'error').length} error(s))`);
      }
      const byKey = new Set(existing.map((r) => `${r.kind}/${r.metadata.name}`));
      // Keep the stored resourceVersion-free copies: applyAll writes them atomically, all or none.
      const written = await ds.applyAll(result.resources.map((s) => s.resource));
      for (const r of written) {
        ctx.stdout(`${describeResource(r)} ${byKey.has(`${r.kind}/${r.metadata.name}`) ? 'configured' : 'created'}\n`);
      }
      return 0;
    });
  },
};
