// SPDX-License-Identifier: Apache-2.0
import type { Command } from '../command.js';
import { boolOption, stringOption } from '../command.js';
import { detectUplink } from '../../host/uplink.js';
import { readUplinkLinkFacts } from '../../datapath/xdp-support.js';
import { runChecks } from '../../doctor/checks.js';
import { nativeProbes } from '../../doctor/probes.js';
import { renderStructured, renderTable } from '../output.js';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check that this machine has everything the data path needs',
  usage: 'doctor [--json] [--bpffs DIR] [--uplink IFACE]',
  options: { json: { type: 'boolean' }, bpffs: { type: 'string' }, uplink: { type: 'string' } },
  async run(args, ctx) {
    const uplink = () => readUplinkLinkFacts(stringOption(args, 'uplink') ?? detectUplink().ifname);
    const rows = runChecks(nativeProbes(), { bpffsDir: stringOption(args, 'bpffs') ?? '/sys/fs/bpf', uplink });
    const healthy = rows.every((r) => r.ok || !r.required);
    if (boolOption(args, 'json')) {
      ctx.stdout(renderStructured({ ok: healthy, checks: rows }, 'json'));
    } else {
      ctx.stdout(
        renderTable(
          ['CHECK', 'STATUS', 'DETAIL', 'FIX'],
          rows.map((r) => [r.name, r.ok ? 'ok' : r.required ? 'FAIL' : 'warn', r.detail, r.fix ?? '']),
        ),
      );
      ctx.stdout(healthy ? '\nall required checks passed\n' : '\nsome required checks failed\n');
    }
    return healthy ? 0 : 1;
  },
};
