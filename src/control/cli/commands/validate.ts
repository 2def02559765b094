// SPDX-License-Identifier: Apache-2.0
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { formatProblem, loadManifests } from '../../validation/index.js';
import { describeResource, listAll, readManifestInput, withStoreReadOnly } from '../resources.js';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check resources from a file against the rules and the datastore, without applying them',
  usage: 'validate -f FILE|- [--offline]',
  options: { filename: { type: 'string', short: 'f' }, offline: { type: 'boolean' } },
  async run(args, ctx) {
    const input = await readManifestInput(stringOption(args, 'filename'), ctx);
    // Online, validation also sees existing pools (overlaps, immutable fields); --offline checks the file alone.
    const existing = args.values.offline ? [] : await withStoreReadOnly(ctx, listAll);
    const result = loadManifests(input.text, input.name, existing, { offline: args.values.offline === true });
    for (const p of result.problems) ctx.stdout(`${formatProblem(p)}\n`);
    if (!result.ok) return 1;
    for (const s of result.resources) ctx.stdout(`${describeResource(s.resource)} valid\n`);
    return 0;
  },
};
