// SPDX-License-Identifier: Apache-2.0
// BIRD as a supervised child of the agent: started in the agent's network namespace (children inherit it) with
// its own control socket, restarted when it dies, stopped on request. A BIRD left behind by an agent that was
// killed outright is found through its pid file and stopped before a new one starts (or by `unload`).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import type { Logger } from '../log.js';
import { birdc, BirdcError } from './birdc.js';
import type { BirdPaths } from './paths.js';

export const BIRD = process.env.BPF_OVERLAY_BIRD ?? 'bird';

/** `bird -p`: BIRD's own parser judges a configuration before it replaces a working one. */
export function checkBirdConfig(file: string): string | null {
  const res = spawnSync(BIRD, ['-p', '-c', file], { encoding: 'utf8', timeout: 10_000 });
  if (res.error) return res.error.message;
  return res.status === 0 ? null : `${res.stdout ?? ''}${res.stderr ?? ''}`.trim();
}

function pidOf(paths: BirdPaths): number | null {
  try {
    const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** True when `pid` is a BIRD started for these paths (a recycled pid must never be killed). */
function isOurBird(pid: number, paths: BirdPaths): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /(^|\/)bird$/.test(cmdline[0]) && cmdline.includes(paths.socket);
  } catch {
    return false;
  }
}

/** Last-resort cleanup where nothing may wait (a process 'exit' handler): SIGKILL the node's BIRD, if ours. */
export function killBirdNow(paths: BirdPaths): boolean {
  const pid = pidOf(paths);
  if (pid === null || !isOurBird(pid, paths)) return false;
  process.kill(pid, 'SIGKILL');
  return true;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stops the BIRD recorded in the pid file (if it is ours and alive) and removes its files. Returns its pid. */
export async function stopStaleBird(paths: BirdPaths, opts: { keepConfig?: boolean; timeoutMs?: number } = {}): Promise<number | null> {
  const pid = pidOf(paths);
  let stopped: number | null = null;
  if (pid !== null && isOurBird(pid, paths)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
    while (isOurBird(pid, paths) && Date.now() < deadline) await sleep(50);
    if (isOurBird(pid, paths)) process.kill(pid, 'SIGKILL');
    stopped = pid;
  }
  if (opts.keepConfig) for (const f of [paths.socket, paths.pidFile]) rmSync(f, { force: true });
  else rmSync(paths.dir, { recursive: true, force: true });
  return stopped;
}

export interface SupervisorOptions {
  logger: Logger;
  /** Wait before restarting a BIRD that died (ms). */
  restartDelayMs?: number;
  /** Called after each restart that followed a death. */
  onRestart?: () => void;
}

export class BirdSupervisor {
  private child?: ChildProcess;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;
  /** BIRDs that died and were started again. */
  restarts = 0;

  constructor(
    private readonly paths: BirdPaths,
    private readonly opts: SupervisorOptions,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** Starts BIRD on the configuration already written to paths.config and waits until its socket answers. */
  async start(): Promise<void> {
    this.stopping = false;
    if (this.running) return;
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    await stopStaleBird(this.paths, { keepConfig: true });
    const child = spawn(BIRD, ['-f', '-c', this.paths.config, '-s', this.paths.socket, '-P', this.paths.pidFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    let spawnError: Error | undefined;
    child.once('error', (err) => (spawnError = err));
    const log = this.opts.logger.child({ bird: child.pid });
    let pending = '';
    child.stderr!.on('data', (d: Buffer) => {
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) log.info({ bird: line.trim() }, 'bird');
    });
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      if (this.stopping) return;
      log.warn({ code, signal }, 'bird exited; restarting it');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = undefined;
        if (this.stopping) return;
        this.start().then(
          () => {
            this.restarts++;
            this.opts.onRestart?.();
          },
          (err: Error) => log.error({ err: err.message }, 'bird restart failed'),
        );
      }, this.opts.restartDelayMs ?? 1_000);
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (spawnError) throw new Error(`cannot run ${BIRD}: ${spawnError.message} (BGP needs bird2: apt-get install -y bird2)`);
      if (!this.running) throw new Error(`bird exited at start (code ${child.exitCode}); see its log lines above`);
      try {
        birdc(this.paths.socket, ['show', 'status'], 2_000);
        break;
      } catch (err) {
        if (!(err instanceof BirdcError) || Date.now() > deadline) throw err;
        await sleep(50);
      }
    }
    log.info({ socket: this.paths.socket }, 'bird started');
  }

  /** Applies the configuration file to the running BIRD; sessions whose settings did not change stay up. */
  configure(): void {
    const out = birdc(this.paths.socket, ['configure', `"${this.paths.config}"`]);
    if (!/Reconfigured|Reconfiguration in progress|Reconfiguration confirmed/.test(out)) {
      throw new BirdcError(`birdc configure: ${out.trim().split('\n').pop()}`);
    }
  }

  /**
   * Stops BIRD. `graceful`: with BIRD's `graceful restart` command, so that peers keep our routes (for the
   * restart time) while the agent restarts; otherwise a clean shutdown that withdraws them.
   */
  async stop(opts: { graceful?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (child && this.running) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      let asked = false;
      if (opts.graceful) {
        try {
          birdc(this.paths.socket, ['graceful', 'restart']);
          asked = true;
        } catch (err) {
          this.opts.logger.warn({ err: (err as Error).message }, 'bird graceful restart refused; stopping it');
        }
      }
      if (!asked) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 5_000);
      await exited;
      clearTimeout(timer);
    }
    this.child = undefined;
    if (existsSync(this.paths.dir)) await stopStaleBird(this.paths);
  }
}
