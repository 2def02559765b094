// SPDX-License-Identifier: Apache-2.0
// Runs the system tools the control plane drives (ip, nft). A failure carries the tool's own message.
import { execFileSync } from 'node:child_process';

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
