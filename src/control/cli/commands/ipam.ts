// SPDX-License-Identifier: Apache-2.0
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { checkIpam } from '../../ipam/check.js';
import { parseOutputFormat, renderStructured, renderTable, UsageError } from '../output.js';
import { withStoreReadOnly } from '../resources.js';

export const ipamCommand: Command = {
  name: 'ipam',
  summary: 'check IPAM records: leaked and double-held addresses, overlapping blocks (exit 1 when any is found)',
  usage: 'ipam check [-o table|json|yaml]',
  options: { output: { type: 'string', short: 'o' } },
  allowPositionals: true,
  async run(args, ctx) {
    const [sub, ...extra] = args.positionals;
    if (sub !== 'check' || extra.length > 0) throw new UsageError(`usage: bpf-overlay ${this.usage}`);
    const format = parseOutputFormat(stringOption(args, 'output'));
    const report = await withStoreReadOnly(ctx, async (ds) =>
      checkIpam({
        blocks: await ds.list('IPAMBlock'),
        nodes: await ds.list('Node'),
        endpoints: await ds.list('WorkloadEndpoint'),
      }),
    );
    if (format !== 'table') {
      ctx.stdout(renderStructured(report, format));
    } else {
      ctx.stdout(
        `${report.blocks} block(s), ${report.addresses} address(es) allocated: ${report.leaked} leaked, ` +
          `${report.doubleHeld} double-held, ${report.overlappingBlocks} overlapping block pair(s)\n`,
      );
      if (report.problems.length > 0) {
        ctx.stdout(
          renderTable(
            ['PROBLEM', 'ADDRESS', 'BLOCK', 'HANDLE', 'DETAIL'],
            report.problems.map((p) => [p.problem, p.address || '-', p.block, p.handle || '-', p.detail]),
          ),
        );
      }
    }
    return report.problems.length > 0 ? 1 : 0;
  },
};
