// SPDX-License-Identifier: Apache-2.0
// The BIRD 2 configuration of one node, as a pure function of its BGP plan. Same plan, same text: the syncer
// reconfigures BIRD only when this text changes.
//
// What BIRD is allowed to do here: originate this node's blocks (a static protocol of blackholes, which never
// reach the kernel), learn routes from its peers into its own table (the agent reads them through birdc and
// decides what the data path uses), and export to peers only what this node originates, plus pool routes it
// reflects to its route-reflector clients. BIRD never writes the kernel's routing table: the agent stays the
// one writer of routes on the host.
import type { LogSeverity } from '../model/bgp.js';
import type { BgpPlan, PeerPlan } from './plan.js';

/** Name of the static protocol of originated prefixes: its routes are exactly what we advertise. */
export const ORIGIN_PROTOCOL = 'bo_origin';

const LOG_CLASSES: Record<LogSeverity, string | null> = {
  Debug: 'all',
  Info: '{ info, remote, warning, error, auth, fatal, bug }',
  Warning: '{ warning, error, auth, fatal, bug }',
  Error: '{ error, fatal, bug }',
  Fatal: '{ fatal, bug }',
  None: null,
};

function peerBlock(p: PeerPlan, plan: BgpPlan): string[] {
  const lines = [`protocol bgp ${p.name} from bo_peer {`];
  lines.push(`  description "${p.type}";`);
  lines.push(`  neighbor ${p.ip}${p.port ? ` port ${p.port}` : ''} as ${p.asNumber};`);
  if (p.sourceAddress) lines.push(`  source address ${p.sourceAddress};`);
  if (p.passive) lines.push('  passive on;');
  if (p.restartTime !== undefined) lines.push(`  graceful restart time ${p.restartTime};`);
  if (p.rrClient) {
    lines.push('  rr client;');
    lines.push(`  rr cluster id ${plan.routeReflectorClusterId};`);
  }
  const channel: string[] = [];
  if (p.keepNextHop) channel.push('next hop keep;');
  if (p.rrClient) channel.push('export filter bo_export_reflect;');
  if (channel.length > 0) lines.push(`  ipv4 { ${channel.join(' ')} };`);
  lines.push('}');
  return lines;
}

export function renderBirdConfig(plan: BgpPlan): string {
  if (!plan.enabled || !plan.routerId) throw new Error(`BGP is off on node ${plan.node}: ${plan.reason}`);
  const out: string[] = [
    `# BIRD configuration of node ${plan.node}, rendered by bpf-overlay from the datastore (${plan.reason}).`,
    '# Do not edit: the agent rewrites it and runs "birdc configure" whenever the datastore changes.',
  ];
  const classes = LOG_CLASSES[plan.logSeverity];
  if (classes) out.push(`log stderr ${classes};`);
  if (plan.logSeverity === 'Debug') out.push('debug protocols all;');
  out.push(`router id ${plan.routerId};`);
  out.push('timeformat protocol "%F %T";');
  out.push(
    '',
    '# Interfaces and the kernel table are read only: they resolve the next hops of multihop sessions.',
    'protocol device { scan time 2; }',
    'protocol direct { ipv4; interface "*"; }',
    'protocol kernel { ipv4 { import all; export none; }; learn; scan time 2; }',
    '',
    '# What this node originates: its blocks and the /32s it holds outside them (pools with disableBGPExport excluded).',
    `protocol static ${ORIGIN_PROTOCOL} {`,
    '  ipv4;',
    ...plan.advertised.map((c) => `  route ${c} blackhole;`),
    '}',
  );
  if (plan.withheld.length > 0) out.push(`# Withheld (disableBGPExport): ${plan.withheld.join(', ')}`);
  out.push('', `filter bo_export_own { if proto = "${ORIGIN_PROTOCOL}" then accept; reject; }`);
  const reflected = plan.exportablePools.map((c) => `${c}+`).join(', ');
  out.push(
    'filter bo_export_reflect {',
    `  if proto = "${ORIGIN_PROTOCOL}" then accept;`,
    ...(reflected ? [`  if source = RTS_BGP && net ~ [ ${reflected} ] then accept;`] : []),
    '  reject;',
    '}',
    '',
    'template bgp bo_peer {',
    // BIRD 2 listens on each protocol's local port: listenPort is set per session.
    `  local${plan.listenPort !== 179 ? ` port ${plan.listenPort}` : ''} as ${plan.asNumber};`,
    '  multihop;',
    '  graceful restart;',
    '  connect delay time 2;',
    '  connect retry time 5;',
    '  error wait time 5, 30;',
    '  ipv4 { gateway recursive; import all; export filter bo_export_own; };',
    '}',
  );
  for (const p of plan.peers) out.push('', ...peerBlock(p, plan));
  return out.join('\n') + '\n';
}
