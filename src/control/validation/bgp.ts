// SPDX-License-Identifier: Apache-2.0
// BGPConfiguration and BGPPeer: Calico's fields and rules. Calico fields bpf-overlay does not implement are
// named as such (an error when ignoring them would change what the user asked for, a warning otherwise).
import { parseCidr } from '../model/cidr.js';
import { BGP_CONFIGURATION_FIELDS, BGP_PEER_FIELDS, LOG_SEVERITIES, parseAsNumber, parseDurationSeconds, parsePeerAddress } from '../model/bgp.js';
import { isPlainObject } from '../model/parse.js';
import { checkBoolean, checkIntRange, checkIpv4Address, checkKnownFields, checkSelector, isDns1123Subdomain } from './common.js';
import type { Reporter } from './problem.js';

/** Calico fields whose absence of effect changes nothing about reachability: accepted with a warning. */
const BGP_CONFIGURATION_IGNORED = ['communities', 'prefixAdvertisements', 'bindMode', 'ignoredInterfaces', 'nodeMeshMaxRestartTime'];

/** Calico fields that would change the sessions (authentication, AS, reachability): refused, not ignored. */
const BGP_PEER_UNSUPPORTED = [
  'password',
  'localASNumber',
  'ttlSecurity',
  'reachableBy',
  'keepaliveTime',
  'nextHopMode',
  'filters',
  'numAllowedLocalASNumbers',
  'localWorkloadSelector',
];

const AS_MESSAGE = 'must be an AS number: 1 to 4294967295, or the dotted form A.B (each part 0 to 65535)';

function checkAsNumber(r: Reporter, field: string, value: unknown): void {
  if (value !== undefined && parseAsNumber(value) === null) r.error(field, value, AS_MESSAGE);
}

function checkServiceIPs(r: Reporter, field: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    r.error(field, value, 'must be a list of {cidr: A.B.C.D/N}');
    return;
  }
  value.forEach((item, i) => {
    const cidr = isPlainObject(item) && typeof item.cidr === 'string' ? parseCidr(item.cidr) : null;
    if (!cidr) r.error(`${field}[${i}].cidr`, isPlainObject(item) ? item.cidr : item, 'must be a CIDR, e.g. 10.96.0.0/12');
  });
  if (value.length > 0) {
    r.warning(field, value, 'accepted but not advertised: bpf-overlay advertises workload blocks only (see docs/bgp.md)');
  }
}

export function validateBGPConfigurationSpec(r: Reporter, name: string, spec: Record<string, unknown>): void {
  checkKnownFields(r, 'spec', Object.fromEntries(Object.entries(spec).filter(([k]) => !BGP_CONFIGURATION_IGNORED.includes(k))), BGP_CONFIGURATION_FIELDS);
  for (const key of BGP_CONFIGURATION_IGNORED) {
    if (spec[key] !== undefined) r.warning(`spec.${key}`, spec[key], 'ignored: not implemented by bpf-overlay');
  }
  checkAsNumber(r, 'spec.asNumber', spec.asNumber);
  checkBoolean(r, 'spec.nodeToNodeMeshEnabled', spec.nodeToNodeMeshEnabled);
  checkIntRange(r, 'spec.listenPort', spec.listenPort, 1, 65535, 'must be a TCP port between 1 and 65535');
  const level = spec.logSeverityScreen;
  if (level !== undefined && (typeof level !== 'string' || !LOG_SEVERITIES.some((s) => s.toLowerCase() === level.toLowerCase()))) {
    r.error('spec.logSeverityScreen', level, `must be one of ${LOG_SEVERITIES.join(', ')}`);
  }
  for (const key of ['serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs']) checkServiceIPs(r, `spec.${key}`, spec[key]);
  // Calico: a per-node configuration may only set what is per node.
  if (name.startsWith('node.')) {
    for (const key of ['asNumber', 'nodeToNodeMeshEnabled', 'serviceClusterIPs', 'serviceExternalIPs', 'serviceLoadBalancerIPs']) {
      if (spec[key] !== undefined) r.error(`spec.${key}`, spec[key], 'may only be set in the "default" BGPConfiguration, not a per-node one');
    }
  }
}

export function validateBGPPeerSpec(r: Reporter, spec: Record<string, unknown>): void {
  const unsupported = BGP_PEER_UNSUPPORTED.filter((k) => spec[k] !== undefined);
  for (const key of unsupported) r.error(`spec.${key}`, spec[key], 'not supported by bpf-overlay yet; remove it to peer without it');
  checkKnownFields(r, 'spec', Object.fromEntries(Object.entries(spec).filter(([k]) => !unsupported.includes(k))), BGP_PEER_FIELDS);
  const has = (k: string) => spec[k] !== undefined && spec[k] !== '';
  if (has('node') && (typeof spec.node !== 'string' || !isDns1123Subdomain(spec.node))) {
    r.error('spec.node', spec.node, 'must name a node (a DNS-1123 subdomain)');
  }
  // An empty selector is an unset one, as in Calico.
  for (const key of ['nodeSelector', 'peerSelector']) if (spec[key] !== '') checkSelector(r, `spec.${key}`, spec[key]);
  if (has('node') && has('nodeSelector')) r.error('spec.nodeSelector', spec.nodeSelector, 'node and nodeSelector cannot both be set');
  if (has('peerIP') && has('peerSelector')) r.error('spec.peerSelector', spec.peerSelector, 'peerIP and peerSelector cannot both be set');
  if (has('peerSelector') && has('asNumber') && spec.asNumber !== 0) {
    r.error('spec.asNumber', spec.asNumber, 'asNumber must be empty when peerSelector is set (the peers\' own AS numbers are used)');
  }
  if (!has('peerIP') && !has('peerSelector')) r.error('spec.peerIP', spec.peerIP, 'one of peerIP or peerSelector must be set');
  if (has('peerIP')) {
    if (typeof spec.peerIP !== 'string' || !parsePeerAddress(spec.peerIP)) {
      r.error('spec.peerIP', spec.peerIP, 'must be an IPv4 address with an optional port, e.g. 10.0.0.1 or 10.0.0.1:1790');
    } else if (!has('asNumber') && !has('peerSelector')) {
      r.error('spec.asNumber', spec.asNumber, 'the peer\'s AS number is required with peerIP');
    }
  }
  if (!has('peerSelector')) checkAsNumber(r, 'spec.asNumber', spec.asNumber);
  if (spec.sourceAddress !== undefined && spec.sourceAddress !== 'UseNodeIP' && spec.sourceAddress !== 'None') {
    r.error('spec.sourceAddress', spec.sourceAddress, 'must be "UseNodeIP" or "None"');
  }
  checkBoolean(r, 'spec.keepOriginalNextHop', spec.keepOriginalNextHop);
  if (spec.maxRestartTime !== undefined) {
    const seconds = typeof spec.maxRestartTime === 'string' ? parseDurationSeconds(spec.maxRestartTime) : null;
    if (seconds === null || seconds < 1 || seconds > 65535) {
      r.error('spec.maxRestartTime', spec.maxRestartTime, 'must be a duration between 1s and 65535s, e.g. 120s or 5m');
    }
  }
}

/** Node spec.bgp fields of BGP itself (the addresses are checked in node.ts). */
export function validateNodeBgpFields(r: Reporter, bgp: Record<string, unknown>): void {
  checkAsNumber(r, 'spec.bgp.asNumber', bgp.asNumber);
  checkIpv4Address(r, 'spec.bgp.routeReflectorClusterID', bgp.routeReflectorClusterID);
}
