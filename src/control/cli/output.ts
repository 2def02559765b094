// SPDX-License-Identifier: Apache-2.0
// Output for people (aligned tables) and for scripts (JSON, YAML): one place decides the format.
import { stringify as toYaml } from 'yaml';
import { printable } from '../printable.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function parseOutputFormat(value: string | undefined, flag = '-o'): OutputFormat {
  const format = value ?? 'table';
  if (format !== 'table' && format !== 'json' && format !== 'yaml') {
    throw new UsageError(`${flag}: '${format}' is not one of table, json, yaml`);
  }
  return format;
}

/** Aligned columns; every cell is escaped (a pod name with an ESC sequence or a newline prints inert). */
export function renderTable(headers: string[], rows: (string | number | boolean)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => printable(String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
      .join('\n') + '\n'
  );
}

export function renderStructured(value: unknown, format: 'json' | 'yaml'): string {
  if (format === 'json') {
    return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n';
  }
  return toYaml(value, { lineWidth: 0 });
}

/** A mistake in how the command was called: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
