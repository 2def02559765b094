// SPDX-License-Identifier: Apache-2.0
// BGP status of a node: the plan (which sessions should exist, their type and AS) joined with what BIRD says
// about them. `status --node` prints it; the agent's readiness and metrics read the same rows.
import { existsSync } from 'node:fs';
import { birdc, BirdcError, parseProtocols, type ProtocolStatus } from './birdc.js';
import type { BirdPaths } from './paths.js';
import type { BgpPlan, PeerType } from './plan.js';

export interface BgpPeerStatus {
  peerIP: string;
  asNumber: number;
  type: PeerType;
  /** BGP state as BIRD reports it (Established, Active, Connect, Passive, OpenSent, ...), or Down when BIRD does not run. */
  state: string;
  /** When the session entered its state (BIRD's clock, "YYYY-MM-DD hh:mm:ss"), or null. */
  since: string | null;
}

export interface BgpStatus {
  enabled: boolean;
  asNumber: number | null;
  routerId: string | null;
  peers: BgpPeerStatus[];
}

/** BIRD's protocol table, or null when its socket does not answer (not running). */
export function readProtocols(paths: BirdPaths): ProtocolStatus[] | null {
  if (!existsSync(paths.socket)) return null;
  try {
    return parseProtocols(birdc(paths.socket, ['show', 'protocols']));
  } catch (err) {
    if (err instanceof BirdcError) return null;
    throw err;
  }
}

/** The BGP state of a protocol row: the first word of BIRD's info column ("Established", "Active", ...). */
function bgpState(row: ProtocolStatus | undefined): string {
  if (!row) return 'Down';
  const info = row.info.split(/\s+/)[0];
  if (info) return info;
  return row.state === 'up' ? 'Established' : row.state === 'down' ? 'Idle' : row.state;
}

export function bgpStatusOf(plan: BgpPlan, protocols: readonly ProtocolStatus[] | null): BgpStatus {
  if (!plan.enabled) return { enabled: false, asNumber: null, routerId: null, peers: [] };
  const rows = new Map((protocols ?? []).map((p) => [p.name, p]));
  return {
    enabled: true,
    asNumber: plan.asNumber,
    routerId: plan.routerId,
    peers: plan.peers.map((p) => {
      const row = rows.get(p.name);
      return { peerIP: p.port ? `${p.ip}:${p.port}` : p.ip, asNumber: p.asNumber, type: p.type, state: bgpState(row), since: row?.since ?? null };
    }),
  };
}

export const allPeersEstablished = (s: BgpStatus): boolean => s.peers.every((p) => p.state === 'Established');

/** The table of `calicoctl node status`. */
export function renderBgpStatusTable(s: BgpStatus, protocols: readonly ProtocolStatus[] | null, plan: BgpPlan): string {
  if (!s.enabled) return 'BGP is off on this node (no BGPConfiguration and no BGPPeer selects it).\n';
  const header = ['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO'];
  const rows = new Map((protocols ?? []).map((p) => [p.name, p]));
  const body = s.peers.map((p, i) => {
    const row = rows.get(plan.peers[i].name);
    return [p.peerIP, p.type, row?.state ?? 'down', p.since ?? '', row ? row.info : protocols ? 'not configured in BIRD' : 'BIRD is not running'];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const fmt = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c])).join(' | ')} |`;
  const lines = [
    protocols ? 'BIRD is running.' : 'BIRD is NOT running.',
    `AS ${s.asNumber}, router id ${s.routerId}`,
    '',
    'IPv4 BGP status',
    line,
    fmt(header),
    line,
    ...body.map(fmt),
    line,
  ];
  return lines.join('\n') + '\n';
}
