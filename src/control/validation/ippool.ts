// SPDX-License-Identifier: Apache-2.0
// IPPool rules, following Calico's clientv3 and validator (texts copied from Calico so that users searching
// an error find Calico's documentation too). Every rule runs even when an earlier one failed, as Calico's
// validator does, so that one run lists everything to fix.
import { isCanonicalEncapMode, normalizeEncapMode, ippoolSpecWithDefaults, type SourceRef } from '../model/parse.js';
import { cidrsOverlap, isStrictlyMasked, networkOf, parseCidr, type Cidr } from '../model/cidr.js';
import { CidrIndex } from './cidr-index.js';
import type { IPPool } from '../model/types.js';
import { checkBoolean, checkKnownFields, checkSelector } from './common.js';
import type { Reporter } from './problem.js';
import { LINK_LOCAL_V4, LINK_LOCAL_V6, specialRangesOverlapping } from './special-ranges.js';

export const IPPOOL_SPEC_FIELDS = [
  'cidr',
  'ipipMode',
  'vxlanMode',
  'natOutgoing',
  'disabled',
  'disableBGPExport',
  'blockSize',
  'nodeSelector',
  'namespaceSelector',
  'allowedUses',
  'assignmentMode',
];

const IPPOOL_HINTS = new Map([
  ['ipip', 'the APIv1 "ipip" block is not supported; use "ipipMode: Always|CrossSubnet|Never"'],
  ['nat-outgoing', 'use "natOutgoing"'],
]);

const ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'];
const ASSIGNMENT_MODES = ['Automatic', 'Manual'];

function checkMode(r: Reporter, field: string, value: unknown): void {
  const mode = normalizeEncapMode(value);
  if (mode === null) {
    r.error(field, value, 'unsupported value; must be one of Never, Always, CrossSubnet');
  } else if (!isCanonicalEncapMode(value)) {
    r.warning(field, value, `read as "${mode}"; Calico rejects this spelling, write "${mode}"`);
  }
}

/** Calico's allowedUses: a list of Workload, Tunnel, LoadBalancer; LoadBalancer pools serve nothing else. */
function checkAllowedUses(r: Reporter, spec: Record<string, unknown>): void {
  const uses = spec.allowedUses;
  if (uses === undefined) return;
  if (!Array.isArray(uses)) {
    r.error('spec.allowedUses', uses, `must be a list of ${ALLOWED_USES.join(', ')}`);
    return;
  }
  const seen = new Set<string>();
  uses.forEach((u, i) => {
    if (typeof u !== 'string' || !ALLOWED_USES.includes(u)) {
      r.error(`spec.allowedUses.${i}`, u, `unsupported value; must be one of ${ALLOWED_USES.join(', ')}`);
    } else if (seen.has(u)) {
      r.error(`spec.allowedUses.${i}`, u, 'listed twice');
    }
    if (typeof u === 'string') seen.add(u);
  });
  if (seen.has('LoadBalancer')) {
    if (seen.has('Workload') || seen.has('Tunnel')) {
      r.error('spec.allowedUses', uses, 'LoadBalancer cannot be combined with Workload or Tunnel');
    }
    const encap = [normalizeEncapMode(spec.ipipMode), normalizeEncapMode(spec.vxlanMode)];
    if (encap.some((m) => m !== null && m !== 'Never')) {
      r.error('spec.allowedUses', uses, 'a LoadBalancer pool cannot enable IPIP or VXLAN');
    }
  }
  if (seen.has('Tunnel') && typeof spec.namespaceSelector === 'string' && spec.namespaceSelector.trim() !== '') {
    r.error('spec.namespaceSelector', spec.namespaceSelector, 'IP Pool with AllowedUse Tunnel cannot have namespaceSelector');
  }
}

/** The pool's CIDR checks; returns the CIDR (its network, when host bits were set) or null when unusable. */
function checkCidr(r: Reporter, spec: Record<string, unknown>): Cidr | null {
  const cidrText = spec.cidr;
  if (cidrText === undefined || cidrText === null || cidrText === '') {
    r.error('spec.cidr', cidrText, 'IPPool CIDR must be specified');
    return null;
  }
  const cidr = typeof cidrText === 'string' ? parseCidr(cidrText) : null;
  if (!cidr) {
    r.error('spec.cidr', cidrText, 'IPPool CIDR must be a valid subnet');
    return null;
  }
  if (!isStrictlyMasked(cidr)) r.error('spec.cidr', cidrText, 'IPPool CIDR is not strictly masked');
  if (cidr.family === 4 && cidrsOverlap(cidr, LINK_LOCAL_V4)) {
    r.error('spec.cidr', cidrText, 'IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16');
  }
  if (cidr.family === 6 && cidrsOverlap(cidr, LINK_LOCAL_V6)) {
    r.error('spec.cidr', cidrText, 'IPPool CIDR overlaps with IPv6 Link Local range fe80::/10');
  }
  const special = specialRangesOverlapping(cidr);
  if (special.length > 0) {
    r.error('spec.cidr', cidrText, `IPPool CIDR overlaps with the special-purpose range(s) ${special.join(', ')}`);
  }
  return cidr;
}

function checkBlockSize(r: Reporter, spec: Record<string, unknown>, cidr: Cidr): void {
  const blockSize = spec.blockSize;
  let effective: number | null = cidr.family === 4 ? 26 : 122;
  if (blockSize !== undefined) {
    const [min, max] = cidr.family === 4 ? [20, 32] : [116, 128];
    if (typeof blockSize !== 'number' || !Number.isInteger(blockSize) || blockSize < min || blockSize > max) {
      r.error('spec.blockSize', blockSize, `IPv${cidr.family} block size must be between ${min} and ${max}`);
      effective = null;
    } else {
      effective = blockSize;
    }
  }
  // As in Calico, only an enabled pool must hold a whole block: a disabled one never hands out addresses.
  if (effective !== null && cidr.prefix > effective && spec.disabled !== true) {
    r.error(
      'spec.cidr',
      spec.cidr,
      'IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.',
    );
  }
}

/**
 * Checks one IPPool spec on its own. Returns the CIDR when it is usable for the batch checks (overlap,
 * immutability, node addresses), null otherwise.
 */
export function validateIPPoolSpec(r: Reporter, spec: Record<string, unknown>): Cidr | null {
  checkKnownFields(r, 'spec', spec, IPPOOL_SPEC_FIELDS, IPPOOL_HINTS);
  checkMode(r, 'spec.ipipMode', spec.ipipMode);
  checkMode(r, 'spec.vxlanMode', spec.vxlanMode);
  checkBoolean(r, 'spec.natOutgoing', spec.natOutgoing);
  checkBoolean(r, 'spec.disabled', spec.disabled);
  checkBoolean(r, 'spec.disableBGPExport', spec.disableBGPExport);

  const ipip = normalizeEncapMode(spec.ipipMode);
  const vxlan = normalizeEncapMode(spec.vxlanMode);
  if (ipip && vxlan && ipip !== 'Never' && vxlan !== 'Never') {
    r.error('spec.vxlanMode', spec.vxlanMode, 'Cannot enable both VXLAN and IPIP on the same IPPool');
  }
  for (const field of ['nodeSelector', 'namespaceSelector'] as const) {
    const value = spec[field];
    // Calico's own text: global() belongs to policy selectors, not to pools.
    if (typeof value === 'string' && value.includes('global(')) r.error(`spec.${field}`, value, `global() selector is not valid for IPPool ${field}`);
    else checkSelector(r, `spec.${field}`, value);
  }
  checkAllowedUses(r, spec);
  if (spec.assignmentMode !== undefined && (typeof spec.assignmentMode !== 'string' || !ASSIGNMENT_MODES.includes(spec.assignmentMode))) {
    r.error('spec.assignmentMode', spec.assignmentMode, `unsupported value; must be one of ${ASSIGNMENT_MODES.join(', ')}`);
  }

  const cidr = checkCidr(r, spec);
  if (!cidr) return null;
  if (cidr.family === 6 && ipip && ipip !== 'Never') {
    r.error('spec.ipipMode', spec.ipipMode, 'IPIP is not supported on an IPv6 IP pool');
  }
  checkBlockSize(r, spec, cidr);
  return cidr;
}

export interface PoolCandidate {
  name: string;
  cidrText: string;
  cidr: Cidr;
  spec: Record<string, unknown>;
  reporter: Reporter;
  source: SourceRef;
}

/** A node's underlay address, as pools must avoid it. */
export interface NodeAddress {
  node: string;
  /** The text of spec.bgp.ipv4Address, e.g. "10.0.0.5/24". */
  text: string;
  family: 4 | 6;
  value: bigint;
}

/**
 * Rules that need other pools and the nodes: CIDR and blockSize are immutable for an existing name; a pool may
 * not overlap any other pool of the batch or of the datastore (an existing pool that the batch replaces under
 * the same name is judged by its new CIDR); a pool may not contain a node's underlay address (the agent would
 * route the node's own subnet into the overlay).
 */
export function validateIPPoolBatch(
  candidates: readonly PoolCandidate[],
  existing: readonly IPPool[],
  nodeAddresses: readonly NodeAddress[] = [],
): void {
  const batchNames = new Set(candidates.map((c) => c.name));
  const existingByName = new Map(existing.map((p) => [p.metadata.name, p]));
  for (const c of candidates) {
    const old = existingByName.get(c.name);
    if (!old) continue;
    const oldCidr = parseCidr(old.spec.cidr);
    if (oldCidr && oldCidr.network !== c.cidr.network) {
      c.reporter.error('spec.cidr', c.cidrText, 'IPPool CIDR cannot be modified');
    }
    const newBlockSize = ippoolSpecWithDefaults(c.spec).blockSize;
    const oldBlockSize = ippoolSpecWithDefaults(old.spec as unknown as Record<string, unknown>).blockSize;
    if (newBlockSize !== oldBlockSize) {
      c.reporter.error('spec.blockSize', c.spec.blockSize ?? newBlockSize, 'IPPool BlockSize cannot be modified');
    }
  }

  // Overlap and node addresses through an index by (family, prefix, network) instead of comparing every pair:
  // a manifest of thousands of pools is judged in milliseconds, not minutes.
  const index = new CidrIndex<PoolEntry>();
  existing.forEach((p) => {
    const cidr = batchNames.has(p.metadata.name) ? null : parseCidr(p.spec.cidr);
    if (cidr) index.add(cidr, { name: p.metadata.name, cidrText: p.spec.cidr, order: -1 });
  });
  candidates.forEach((c, order) => index.add(c.cidr, { name: c.name, cidrText: c.cidrText, order, candidate: c }));
  const reported = new Set<string>();
  const report = (a: PoolEntry, b: PoolEntry) => {
    const [later, earlier] = a.order > b.order ? [a, b] : [b, a];
    const key = `${later.order}/${earlier.order}/${earlier.name}`;
    if (!later.candidate || reported.has(key)) return;
    reported.add(key);
    later.candidate.reporter.error('spec.cidr', later.cidrText, `IPPool(${later.name}) CIDR overlaps with IPPool(${earlier.name}) CIDR ${earlier.cidrText}`);
  };
  candidates.forEach((c, order) => {
    const self: PoolEntry = { name: c.name, cidrText: c.cidrText, order, candidate: c };
    // Every pool that contains this one (or is the same CIDR) is found from here; the pools this one contains
    // find it from their side.
    for (const outer of index.containing(c.cidr.family, networkOf(c.cidr), c.cidr.prefix)) {
      if (outer.candidate !== c) report(self, outer);
    }
  });
  for (const e of index.all()) {
    if (e.entry.order < 0) {
      for (const outer of index.containing(e.cidr.family, networkOf(e.cidr), e.cidr.prefix)) {
        if (outer.order >= 0) report(e.entry, outer);
      }
    }
  }

  const candidateIndex = new CidrIndex<PoolCandidate>();
  for (const c of candidates) candidateIndex.add(c.cidr, c);
  for (const n of nodeAddresses) {
    for (const c of candidateIndex.containing(n.family, n.value, n.family === 4 ? 32 : 128)) {
      c.reporter.error(
        'spec.cidr',
        c.cidrText,
        `IPPool CIDR contains Node(${n.node}) address ${n.text} (spec.bgp.ipv4Address); a pool must not cover the underlay`,
      );
    }
  }
}

interface PoolEntry {
  name: string;
  cidrText: string;
  /** Position in the batch; -1 for a pool already in the datastore. */
  order: number;
  candidate?: PoolCandidate;
}
