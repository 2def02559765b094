// SPDX-License-Identifier: Apache-2.0
// The shape every CLI command has. Each command lives in its own file under commands/ and is registered in
// registry.ts; main.ts parses global flags and dispatches.
import type { ParseArgsConfig } from 'node:util';
import type { Logger } from '../log.js';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export interface CliContext {
  logger: Logger;
  /** Datastore URL from --datastore, else BPF_OVERLAY_DATASTORE, else the embedded default. */
  datastoreUrl: string;
  stdout: (text: string) => void;
  /** The raw bytes of stdin, at most `limit` + 1 of them (more than `limit` means "too large"; reading stops). */
  stdin: (limit: number) => Promise<Buffer>;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionsConfig;
  allowPositionals?: boolean;
  /** Returns the process exit code. */
  run(args: ParsedArgs, ctx: CliContext): Promise<number>;
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function boolOption(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
