// SPDX-License-Identifier: Apache-2.0
// The kernel's IPv4 neighbour table of one interface: read whole (`ip -j neigh show`), and followed as it changes
// (`ip monitor neigh`, a supervised child: netlink neighbour events, so a change costs one line, not a dump).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { backoffDelay, type Backoff } from '../backoff.js';
import { runTool } from './run.js';

/** NUD states as iproute2 prints them. */
export type NudState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE' | 'FAILED' | 'NOARP' | 'PERMANENT' | 'NONE';
const NUD_STATES: ReadonlySet<string> = new Set(['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT', 'NONE']);
/** States in which the kernel itself transmits to the entry's MAC (NUD_VALID less NUD_INCOMPLETE/FAILED). */
const USABLE: ReadonlySet<string> = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

export interface Neighbour {
  addr: string;
  /** The link-layer address; absent while unresolved (INCOMPLETE, FAILED). */
  mac?: string;
  states: NudState[];
}

export type NeighbourEvent = { type: 'put'; neighbour: Neighbour } | { type: 'delete'; addr: string };

/** Whether the kernel would send to this entry's MAC: a usable state and a MAC. */
export function usableNeighbour(n: Neighbour | undefined): n is Neighbour & { mac: string } {
  return !!n && !!n.mac && n.states.some((s) => USABLE.has(s));
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

interface IpNeighJson {
  dst?: string;
  lladdr?: string;
  state?: string[];
}

/** `ip -4 -j neigh show dev DEV` output; entries that are no IPv4 neighbour with a known state are left out. */
export function parseNeighbourDump(json: string): Neighbour[] {
  const out: Neighbour[] = [];
  for (const e of JSON.parse(json || '[]') as IpNeighJson[]) {
    if (!e.dst || !IPV4.test(e.dst)) continue;
    const states = (e.state ?? []).filter((s) => NUD_STATES.has(s)) as NudState[];
    const mac = e.lladdr?.toLowerCase();
    out.push({ addr: e.dst, ...(mac && MAC.test(mac) ? { mac } : {}), states });
  }
  return out;
}

/**
 * One line of `ip -4 monitor neigh dev DEV` (iproute2's print_neigh, text: `ip -json monitor` prints text for
 * neighbours up to iproute2 6.1 at least): `[Deleted ]ADDR [lladdr MAC] [router] [probes N] STATE...`. Application
 * "miss" requests and lines that name no IPv4 neighbour give undefined.
 */
export function parseNeighbourEvent(line: string): NeighbourEvent | undefined {
  const tokens = line.trim().split(/\s+/);
  let i = 0;
  const deleted = tokens[0] === 'Deleted';
  if (deleted) i++;
  const addr = tokens[i++];
  if (!addr || !IPV4.test(addr)) return undefined; // "miss ...", IPv6, or anything unexpected
  if (deleted) return { type: 'delete', addr };
  let mac: string | undefined;
  const states: NudState[] = [];
  for (; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === 'lladdr') {
      const m = tokens[++i]?.toLowerCase();
      if (m && MAC.test(m)) mac = m;
    } else if (t === 'dev' || t === 'probes' || t === 'proto' || t === 'vrf') i++; // a key and its value
    else if (NUD_STATES.has(t)) states.push(t as NudState);
  }
  return { type: 'put', neighbour: { addr, ...(mac ? { mac } : {}), states } };
}

/** The IPv4 neighbours of `dev`, read whole. */
export function listNeighbours(dev: string): Neighbour[] {
  return parseNeighbourDump(runTool('ip', ['-4', '-j', 'neigh', 'show', 'dev', dev]));
}

/** Whether `setpriv --pdeathsig` is there: it makes the monitor die with the agent even when the agent is killed. */
function hasSetpriv(): boolean {
  return spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The second line of a link event (`ip monitor link`): `    link/ether MAC brd ...`. */
const LINK_ADDRESS = /^\s+link\/ether ([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\b/;

/** How long after spawning the monitor the table is read (the monitor has subscribed by then). */
const MONITOR_SETTLE_MS = 200;

export interface NeighbourMonitorOptions {
  dev: string;
  onEvent: (e: NeighbourEvent) => void;
  /** The monitor (re)started: events in between may be lost, so the caller reads the table whole again. */
  onStart: () => void;
  onError?: (message: string) => void;
  /** The interface's own MAC as a link event reports it (an address change also flushes its neighbours). */
  onLinkAddress?: (mac: string) => void;
  /** Delay before restarting a monitor that exited (doubles per consecutive failure, capped). */
  backoff?: Backoff;
}

/**
 * `ip -4 monitor neigh link dev DEV` as a supervised child of the agent (inheriting its network namespace): each line
 * is one netlink neighbour event. A monitor that exits is started again with backoff (one that ran a minute counts
 * as healthy again); stop() kills exactly the child it started. Idle cost: a sleeping process; per event: a line.
 */
export class NeighbourMonitor {
  private child?: ChildProcess;
  private stopped = false;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private startTimer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  private readonly command: [string, string[]];
  /** Monitors that exited and were started again. */
  restarts = 0;

  constructor(private readonly opts: NeighbourMonitorOptions) {
    this.backoff = opts.backoff ?? { initialMs: 200, maxMs: 10_000 };
    const ip = ['ip', '-4', 'monitor', 'neigh', 'link', 'dev', opts.dev];
    this.command = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'KILL', '--', ...ip]] : [ip[0], ip.slice(1)];
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopped || this.child) return;
    const started = Date.now();
    const child = spawn(this.command[0], this.command[1], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let pending = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const e = parseNeighbourEvent(line);
        if (e) this.opts.onEvent(e);
        const link = LINK_ADDRESS.exec(line);
        if (link) this.opts.onLinkAddress?.(link[1].toLowerCase());
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-500)));
    child.on('error', (err) => this.opts.onError?.(`neighbour monitor: ${err.message}`));
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopped) return;
      this.failures = Date.now() - started > 60_000 ? 0 : this.failures + 1;
      const delay = backoffDelay(this.backoff, this.failures - 1);
      this.opts.onError?.(`neighbour monitor of ${this.opts.dev} exited (${signal ?? `status ${code}`}${stderr ? `: ${stderr.trim()}` : ''}); restarting in ${delay} ms`);
      this.timer = setTimeout(() => {
        this.restarts++;
        this.start();
      }, delay);
    });
    // The caller reads the table once the monitor listens (ip subscribes within milliseconds of its start): an
    // event from before that read is in what it reads, one from after reaches us as a line.
    this.startTimer = setTimeout(() => {
      if (this.child === child) this.opts.onStart();
    }, MONITOR_SETTLE_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.startTimer) clearTimeout(this.startTimer);
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}
