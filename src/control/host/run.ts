// SPDX-License-Identifier: Apache-2.0
// Runs the system tools the control plane drives (ip, nft). A failure carries the tool's own message.
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly status: number | null,
  ) {
    super(`${command}: ${stderr || `exit status ${status}`}`);
  }
}

export function runTool(cmd: string, args: string[], input?: string): string {
  try {
    return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 }).toString();
  } catch (err) {
    const e = err as { stderr?: Buffer; status?: number | null; message: string };
    throw new CommandError(`${cmd} ${args.join(' ')}`.slice(0, 200), e.stderr?.toString().trim() ?? e.message, e.status ?? null);
  }
}

/**
 * runTool without blocking the event loop: for long kernel work (thousands of routes) that other work can
 * overlap. Resolves with stdout; rejects with a CommandError carrying the tool's own message.
 */
export function runToolAsync(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // The input is handed over as a file, whole: written into a pipe, its tail would wait for every turn of this
    // process's event loop, and the tool with it, while the loop is busy with synchronous work.
    const stdin = inputFile(input ?? '');
    const child = (() => {
      try {
        return spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'] }) as ChildProcessByStdio<null, Readable, Readable>;
      } finally {
        closeSync(stdin);
      }
    })();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const command = `${cmd} ${args.join(' ')}`.slice(0, 200);
    child.once('error', (e) => reject(new CommandError(command, e.message, null)));
    child.once('close', (status) => {
      if (status === 0) resolve(Buffer.concat(out).toString());
      else reject(new CommandError(command, Buffer.concat(err).toString().trim(), status));
    });
  });
}

/** A read descriptor of a file holding `input`, already unlinked (a private directory: no other user can swap it). */
function inputFile(input: string): number {
  const dir = mkdtempSync(path.join(tmpdir(), 'bo-input-'));
  try {
    const file = path.join(dir, 'input');
    writeFileSync(file, input, { mode: 0o600 });
    return openSync(file, 'r');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
