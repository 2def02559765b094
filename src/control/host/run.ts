// SPDX-License-Identifier: Apache-2.0
// Runs the system tools the control plane drives (ip, nft). A failure carries the tool's own message.
import { execFileSync, spawn } from 'node:child_process';

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
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
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
    // A tool that exits early (bad arguments) closes its stdin: that shows as its exit status, not as EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}
