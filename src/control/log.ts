// SPDX-License-Identifier: Apache-2.0
// One logger for the whole control plane: JSON lines by default (what a DaemonSet's log collector wants),
// human-readable when a person watches a terminal.
import { destination as pinoDestination, pino, type Level, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const LOG_LEVELS: readonly Level[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function isLogLevel(value: string): value is Level {
  return (LOG_LEVELS as readonly string[]).includes(value) || value === 'silent';
}

export function createLogger(opts: { level?: string; pretty?: boolean; name?: string } = {}): Logger {
  const level = opts.level ?? process.env.BPF_OVERLAY_LOG_LEVEL ?? 'info';
  if (!isLogLevel(level)) {
    throw new Error(`--log-level: '${level}' is not one of ${LOG_LEVELS.join(', ')}, silent`);
  }
  const wantPretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  // Logs go to stderr: stdout belongs to command output that scripts parse (tables, JSON, CNI results).
  const destination = wantPretty
    ? pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true })
    : pinoDestination({ dest: 2, sync: true });
  return pino({ level, name: opts.name ?? 'bpf-overlay', base: { pid: process.pid } }, destination);
}
