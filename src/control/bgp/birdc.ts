// SPDX-License-Identifier: Apache-2.0
// Talking to a running BIRD through its control socket with `birdc`, and reading its answers: the protocol
// table (session states for status, readiness and metrics) and the routes learned over BGP.
import { spawnSync } from 'node:child_process';

export const BIRDC = process.env.BPF_OVERLAY_BIRDC ?? 'birdc';

export class BirdcError extends Error {}

/** One birdc command; throws BirdcError with BIRD's own words when the socket or the command fails. */
export function birdc(socket: string, args: readonly string[], timeoutMs = 5_000): string {
  const res = spawnSync(BIRDC, ['-s', socket, ...args], { encoding: 'utf8', timeout: timeoutMs });
  if (res.error) throw new BirdcError(`birdc ${args.join(' ')}: ${res.error.message}`);
  const out = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  // birdc exits 0 even when the daemon reports an error; errors are lines with a 8xxx/9xxx reply code or text.
  if (res.status !== 0 || /^(Unable to connect|.*: No such file)/m.test(out)) {
    throw new BirdcError(`birdc ${args.join(' ')}: ${out.trim().split('\n').pop()}`);
  }
  return out;
}

export interface ProtocolStatus {
  name: string;
  proto: string;
  state: string;
  since: string;
  /** BGP session state (Established, Active, Connect, Passive, ...) or other protocols' info. */
  info: string;
}

// "Mesh_10_0_1_3 BGP        ---        up     2026-11-30 18:51:46  Established   "
const PROTOCOL_LINE = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\S+)\s*(.*?)\s*$/;

/** Parses `birdc show protocols` (the config sets `timeformat protocol "%F %T"`, so Since has a date). */
export function parseProtocols(text: string): ProtocolStatus[] {
  const out: ProtocolStatus[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('BIRD ') || line.startsWith('Name ') || line.trim() === '') continue;
    const m = PROTOCOL_LINE.exec(line);
    if (m) out.push({ name: m[1], proto: m[2], state: m[4], since: m[5], info: m[6] });
  }
  return out;
}

export interface LearnedRoute {
  cidr: string;
  /** BGP next hop (the advertising node's address for our own nodes). */
  nextHop: string;
  /** BIRD protocol (session) it was learned from. */
  protocol: string;
}

/** Parses `birdc show route where source = RTS_BGP all`: the first (best) route of each prefix. */
export function parseLearnedRoutes(text: string): LearnedRoute[] {
  const routes: LearnedRoute[] = [];
  let current: { cidr: string; protocol: string; nextHop?: string } | undefined;
  const seen = new Set<string>();
  const flush = () => {
    if (current?.nextHop && !seen.has(current.cidr)) {
      seen.add(current.cidr);
      routes.push({ cidr: current.cidr, nextHop: current.nextHop, protocol: current.protocol });
    }
    current = undefined;
  };
  let lastCidr = '';
  for (const line of text.split('\n')) {
    const head = /^(\d+\.\d+\.\d+\.\d+\/\d+)?\s+\S+\s+\[(\S+)\s/.exec(line);
    if (head && (head[1] || /^\s+(unicast|unreachable|blackhole)\s/.test(line))) {
      flush();
      if (head[1]) lastCidr = head[1];
      current = { cidr: lastCidr, protocol: head[2] };
      continue;
    }
    const nh = /^\s+BGP\.next_hop:\s+(\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (nh && current && !current.nextHop) current.nextHop = nh[1];
  }
  flush();
  return routes;
}
