// SPDX-License-Identifier: Apache-2.0
// Entry of `bpf-overlay`: global flags, dispatch to one command, one-line errors and exit codes.
import { parseArgs } from 'node:util';
import { createLogger } from '../log.js';
import { safeMessage } from '../printable.js';
import type { CliContext, Command, OptionsConfig } from './command.js';
import { UsageError } from './output.js';
import { COMMAND_LOADERS, loadAllCommands } from './registry.js';

const DEFAULT_DATASTORE_URL = 'sqlite:///var/lib/bpf-overlay/store.db';

const GLOBAL_OPTIONS: OptionsConfig = {
  'log-level': { type: 'string' },
  datastore: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

async function usage(): Promise<string> {
  const COMMANDS = await loadAllCommands();
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: bpf-overlay COMMAND [flags]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global flags:',
    '  --datastore URL     sqlite:///path.db or etcd://host:2379[,host:2379] (env BPF_OVERLAY_DATASTORE)',
    '  --log-level LEVEL   fatal, error, warn, info, debug, trace, silent (default info)',
    '  -h, --help          help for a command',
    '',
  ].join('\n');
}

async function readStdin(limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size > limit) break; // the caller reports "too large": no need to hold the rest in memory
  }
  return Buffer.concat(chunks).subarray(0, limit + 1);
}

/** Global flags may come before the command too (`bpf-overlay --datastore URL get nodes`): move them after it. */
function hoistGlobalFlags(argv: string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i].startsWith('--') && argv[i] !== '--help') {
    const [flag] = argv[i].split('=', 1);
    if (flag !== '--datastore' && flag !== '--log-level') break;
    leading.push(argv[i]);
    if (!argv[i].includes('=') && i + 1 < argv.length) leading.push(argv[++i]);
    i++;
  }
  return i < argv.length ? [argv[i], ...leading, ...argv.slice(i + 1)] : argv;
}

export async function main(rawArgv: string[]): Promise<number> {
  const argv = hoistGlobalFlags(rawArgv);
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await usage());
    return name ? 0 : 2;
  }
  const loader = Object.hasOwn(COMMAND_LOADERS, name) ? COMMAND_LOADERS[name] : undefined;
  const command: Command | undefined = await loader?.();
  if (!command) {
    process.stderr.write(`bpf-overlay: unknown command '${safeMessage(name)}' (see bpf-overlay --help)\n`);
    return 2;
  }
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
    if (parsed.values.help) {
      process.stdout.write(`Usage: bpf-overlay ${command.usage}\n\n${command.summary}\n`);
      return 0;
    }
    const ctx: CliContext = {
      logger: createLogger({ level: parsed.values['log-level'] as string | undefined }),
      datastoreUrl:
        (parsed.values.datastore as string | undefined) ?? process.env.BPF_OVERLAY_DATASTORE ?? DEFAULT_DATASTORE_URL,
      stdout: (text) => process.stdout.write(text),
      stdin: readStdin,
    };
    return await command.run(parsed, ctx);
  } catch (err) {
    const e = err as Error & { code?: string };
    // parseArgs reports unknown or malformed flags with these codes: they are usage mistakes.
    const isUsage = err instanceof UsageError || (e.code?.startsWith('ERR_PARSE_ARGS') ?? false);
    process.stderr.write(`bpf-overlay ${name}: ${safeMessage(e.message.split('\n')[0])}\n`);
    if (process.env.BPF_OVERLAY_DEBUG && e.stack) process.stderr.write(`${e.stack}\n`);
    return isUsage ? 2 : 1;
  }
}
