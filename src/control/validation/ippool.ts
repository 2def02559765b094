// IPPool rules, following Calico's clientv3 and validator (texts copied from Calico so that users searching
// an error find Calico's documentation too).
import { normalizeEncapMode, ippoolSpecWithDefaults, type SourceRef } from '../model/parse.js';
import { cidrsOverlap, parseCidr, isStrictlyMasked, type Cidr } from '../model/cidr.js';
import type { IPPool } from '../model/types.js';
import { SelectorError, parseSelector } from '../selector/index.js';
import { checkBoolean, checkKnownFields } from './common.js';
import type { Reporter } from './problem.js';

export const IPPOOL_SPEC_FIELDS = [
  'cidr',
  'ipipMode',
  'vxlanMode',
  'natOutgoing',
  'disabled',
  'disableBGPExport',
  'blockSize',
  'nodeSelector',
  'allowedUses',
  'assignmentMode',
];

const IPPOOL_HINTS: Record<string, string> = {
  ipip: 'the APIv1 "ipip" block is not supported; use "ipipMode: Always|CrossSubnet|Never"',
  'nat-outgoing': 'use "natOutgoing"',
};

const LINK_LOCAL_V4 = parseCidr('169.254.0.0/16')!;
const LINK_LOCAL_V6 = parseCidr('fe80::/10')!;

function checkMode(r: Reporter, field: string, value: unknown): void {
  if (normalizeEncapMode(value) === null) {
    r.error(field, value, 'unsupported value; must be one of Never, Always, CrossSubnet');
  }
}

/**
 * Checks one IPPool spec on its own. Returns the CIDR when it is usable for the batch checks (overlap,
 * immutability), null otherwise.
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

  if (spec.nodeSelector !== undefined) {
    if (typeof spec.nodeSelector !== 'string') {
      r.error('spec.nodeSelector', spec.nodeSelector, 'must be a selector string, e.g. all()');
    } else {
      try {
        parseSelector(spec.nodeSelector);
      } catch (e) {
        if (!(e instanceof SelectorError)) throw e;
        r.error('spec.nodeSelector', spec.nodeSelector, e.message);
      }
    }
  }

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
  if (!isStrictlyMasked(cidr)) {
    r.error('spec.cidr', cidrText, 'IPPool CIDR is not strictly masked');
    return null;
  }

  if (cidr.family === 6 && ipip && ipip !== 'Never') {
    r.error('spec.ipipMode', spec.ipipMode, 'IPIP is not supported on an IPv6 IP pool');
  }

  const blockSize = spec.blockSize;
  let effectiveBlockSize: number | null = cidr.family === 4 ? 26 : 122;
  if (blockSize !== undefined) {
    const [min, max] = cidr.family === 4 ? [20, 32] : [116, 128];
    if (typeof blockSize !== 'number' || !Number.isInteger(blockSize) || blockSize < min || blockSize > max) {
      r.error('spec.blockSize', blockSize, `IPv${cidr.family} block size must be between ${min} and ${max}`);
      effectiveBlockSize = null;
    } else {
      effectiveBlockSize = blockSize;
    }
  }
  if (effectiveBlockSize !== null && cidr.prefix > effectiveBlockSize) {
    r.error(
      'spec.cidr',
      cidrText,
      'IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size.',
    );
  }

  if (cidr.family === 4 && cidrsOverlap(cidr, LINK_LOCAL_V4)) {
    r.error('spec.cidr', cidrText, 'IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16');
  }
  if (cidr.family === 6 && cidrsOverlap(cidr, LINK_LOCAL_V6)) {
    r.error('spec.cidr', cidrText, 'IPPool CIDR overlaps with IPv6 Link Local range fe80::/10');
  }
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

/**
 * Rules that need other pools: CIDR and blockSize are immutable for an existing name; a pool may not overlap
 * any other pool of the batch or of the datastore (an existing pool that the batch replaces under the same
 * name is judged by its new CIDR).
 */
export function validateIPPoolBatch(candidates: readonly PoolCandidate[], existing: readonly IPPool[]): void {
  const batchNames = new Set(candidates.map((c) => c.name));
  for (const c of candidates) {
    const old = existing.find((p) => p.metadata.name === c.name);
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

  const others: Array<{ name: string; cidrText: string; cidr: Cidr }> = [];
  for (const p of existing) {
    if (batchNames.has(p.metadata.name)) continue;
    const cidr = parseCidr(p.spec.cidr);
    if (cidr) others.push({ name: p.metadata.name, cidrText: p.spec.cidr, cidr });
  }
  for (const c of candidates) {
    for (const o of others) {
      if (cidrsOverlap(c.cidr, o.cidr)) {
        c.reporter.error('spec.cidr', c.cidrText, `IPPool(${c.name}) CIDR overlaps with IPPool(${o.name}) CIDR ${o.cidrText}`);
      }
    }
    others.push({ name: c.name, cidrText: c.cidrText, cidr: c.cidr });
  }
}
