// SPDX-License-Identifier: Apache-2.0
import { readCounters, type CounterRow } from '../../node/counters.js';
import { DEFAULT_BPFFS, PinLayout } from '../../node/pins.js';
import { openPinnedMap } from '../../bpf/index.js';
import { MAP_NAMES } from '../../maps/layout.js';
import type { Command } from '../command.js';
import { boolOption, stringOption } from '../command.js';
import { renderStructured, renderTable, UsageError } from '../output.js';

function table(rows: CounterRow[], previous?: Map<string, CounterRow>, seconds = 1): string {
  const key = (r: CounterRow) => `${r.hook}/${r.encap}/${r.reason}`;
  return renderTable(
    ['HOOK', 'ENCAP', 'VERDICT', 'PACKETS', 'BYTES', ...(previous ? ['PKT/S'] : [])],
    rows.map((r) => [
      r.hook,
      r.encap,
      r.drop ? `${r.reason} (drop)` : r.reason,
      r.packets,
      r.bytes,
      ...(previous ? [Math.round((r.packets - (previous.get(key(r))?.packets ?? 0)) / seconds)] : []),
    ]),
  );
}

export const countersCommand: Command = {
  name: 'counters',
  summary: "print a node's data-path counters (packets and bytes per hook, encapsulation and verdict)",
  usage: 'counters --node NAME [--json] [--watch] [--interval SECONDS] [--count N] [--bpffs DIR]',
  options: {
    node: { type: 'string' },
    json: { type: 'boolean' },
    watch: { type: 'boolean' },
    interval: { type: 'string' },
    count: { type: 'string' },
    bpffs: { type: 'string' },
  },
  async run(args, ctx) {
    const node = stringOption(args, 'node');
    if (!node) throw new UsageError('--node NAME is required');
    const pins = new PinLayout(stringOption(args, 'bpffs') ?? DEFAULT_BPFFS, node);
    const interval = Number(stringOption(args, 'interval') ?? '1');
    if (!(interval > 0)) throw new UsageError('--interval must be a positive number of seconds');
    const count = stringOption(args, 'count') === undefined ? Infinity : Number(stringOption(args, 'count'));
    if (!(count >= 1)) throw new UsageError('--count must be at least 1');
    let map;
    try {
      map = openPinnedMap(pins.map(MAP_NAMES.counters));
    } catch (err) {
      throw new Error(`node ${node}: no data path pinned at ${pins.root} (${(err as Error).message})`);
    }
    try {
      const json = boolOption(args, 'json');
      if (!boolOption(args, 'watch')) {
        const rows = readCounters(map);
        ctx.stdout(json ? renderStructured({ node, counters: rows }, 'json') : table(rows));
        return 0;
      }
      let previous: Map<string, CounterRow> | undefined;
      let stop = false;
      process.once('SIGINT', () => (stop = true));
      for (let i = 0; i < count && !stop; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, interval * 1000));
        const rows = readCounters(map);
        if (json) ctx.stdout(JSON.stringify({ time: new Date().toISOString(), node, counters: rows }) + '\n');
        else ctx.stdout(`${i > 0 ? '\n' : ''}${new Date().toISOString()}  node ${node}\n${table(rows, previous, interval)}`);
        previous = new Map(rows.map((r) => [`${r.hook}/${r.encap}/${r.reason}`, r]));
      }
      return 0;
    } finally {
      map.close();
    }
  },
};
