// SPDX-License-Identifier: Apache-2.0
// The plugin process: read CNI_* and the network config, run one command, print its result (or the spec's
// error object) on stdout, exit non-zero on error. Diagnostics go to stderr, which runtimes log.
//
// Each command's module is imported when that command runs: a runtime starts one process per call (fifty pods at
// once are fifty processes), and ADD should not pay for loading what DEL, CHECK, GC or STATUS need.
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { decodeConfig, parseNetConf, type NetConf } from './config.js';
import { parseCommand, parseEnv, type CniCommand } from './env.js';
import { CniCode, CniError, errorJson, looksLikeTimeout } from './errors.js';
import { PLUGIN_CNI_VERSION, SUPPORTED_VERSIONS, requireCommandVersion, requireSupported } from './version.js';

export interface CniIo {
  env: NodeJS.ProcessEnv;
  stdin: string;
}

export interface CniOutcome {
  exitCode: number;
  stdout: string;
}

const MIN_VERSION: Partial<Record<CniCommand, string>> = { CHECK: '0.4.0', GC: '1.1.0', STATUS: '1.1.0' };

function versionReply(): object {
  return { cniVersion: PLUGIN_CNI_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

async function dispatch(io: CniIo, setVersion: (v: string) => void): Promise<object | undefined> {
  const command = parseCommand(io.env.CNI_COMMAND);
  if (command === 'VERSION') {
    // VERSION may come with an empty config or one in a version we do not speak: answer either way.
    if (io.stdin.trim() !== '') decodeConfig(io.stdin);
    return versionReply();
  }
  const env = parseEnv(io.env);
  if (io.stdin.trim() === '') throw new CniError(CniCode.DecodeFailure, `CNI_COMMAND ${command} needs the network config on stdin`);
  const raw = decodeConfig(io.stdin);
  if (typeof raw.cniVersion === 'string') setVersion(raw.cniVersion);
  const conf: NetConf = parseNetConf(raw, { gc: command === 'GC' });
  requireSupported(conf.cniVersion);
  const min = MIN_VERSION[command];
  if (min) requireCommandVersion(command, conf.cniVersion, min);
  switch (command) {
    case 'ADD':
      return (await import('./add.js')).cmdAdd(env, conf);
    case 'DEL':
      await (await import('./del.js')).cmdDel(env, conf);
      return undefined;
    case 'CHECK':
      await (await import('./check.js')).cmdCheck(env, conf);
      return undefined;
    case 'GC': {
      const summary = await (await import('./gc.js')).cmdGc(conf);
      process.stderr.write(`bpf-overlay-cni GC: ${JSON.stringify(summary)}\n`);
      return undefined;
    }
    case 'STATUS':
      await (await import('./status.js')).cmdStatus(conf);
      return undefined;
  }
}

export async function runCni(io: CniIo): Promise<CniOutcome> {
  let version = PLUGIN_CNI_VERSION;
  try {
    const out = await dispatch(io, (v) => {
      // Errors are reported in the caller's version when we speak it, else in ours.
      if ((SUPPORTED_VERSIONS as readonly string[]).includes(v)) version = v;
    });
    return { exitCode: 0, stdout: out === undefined ? '' : JSON.stringify(out) + '\n' };
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    const cniErr =
      err instanceof CniError
        ? err
        : looksLikeTimeout(err)
          ? new CniError(CniCode.TryAgainLater, `timed out, try again later: ${message}`, (err as Error)?.stack ?? '')
          : new CniError(CniCode.DataplaneFailure, `unexpected failure: ${message}`, (err as Error)?.stack ?? '');
    return { exitCode: 1, stdout: JSON.stringify(errorJson(version, cniErr)) + '\n' };
  }
}

/**
 * The network config. Read straight from fd 0: process.stdin builds a stream (a few ms of CPU per call, and a
 * runtime starts one plugin process per pod); a non-blocking descriptor (EAGAIN) still goes through the stream.
 */
async function readStdin(): Promise<string> {
  if (isatty(0)) return '';
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function main(): Promise<void> {
  let stdin: string;
  try {
    stdin = await readStdin();
  } catch (err) {
    const out = errorJson(PLUGIN_CNI_VERSION, new CniError(CniCode.IoFailure, `reading stdin: ${(err as Error).message}`));
    process.stdout.write(JSON.stringify(out) + '\n');
    process.exitCode = 1;
    return;
  }
  const outcome = await runCni({ env: process.env, stdin });
  if (outcome.exitCode !== 0) process.stderr.write(`bpf-overlay-cni ${process.env.CNI_COMMAND ?? ''}: ${outcome.stdout}`);
  process.stdout.write(outcome.stdout);
  process.exitCode = outcome.exitCode;
  // The answer is out (stdout to a pipe or file is written synchronously): a datastore client abandoned after a
  // deadline may still hold sockets or retry timers, and the runtime waits for this process to exit.
  setTimeout(() => process.exit(), 100).unref();
}
