// SPDX-License-Identifier: Apache-2.0
import { isStrictlyMasked, parseCidr } from '../model/cidr.js';
import { checkBoolean, checkKnownFields, isDns1123Subdomain } from './common.js';
import type { Reporter } from './problem.js';

export const BLOCK_AFFINITY_SPEC_FIELDS = ['node', 'cidr', 'state', 'deleted', 'type'];
const STATES = ['confirmed', 'pending', 'pendingDeletion'];

export function validateBlockAffinitySpec(r: Reporter, spec: Record<string, unknown>): void {
  checkKnownFields(r, 'spec', spec, BLOCK_AFFINITY_SPEC_FIELDS);
  const node = spec.node;
  if (typeof node !== 'string' || !isDns1123Subdomain(node)) {
    r.error('spec.node', node, 'must name a node (a DNS-1123 subdomain)');
  }
  const cidr = typeof spec.cidr === 'string' ? parseCidr(spec.cidr) : null;
  if (!cidr) r.error('spec.cidr', spec.cidr, 'must be a valid block CIDR, e.g. 192.168.10.0/26');
  else if (!isStrictlyMasked(cidr)) r.error('spec.cidr', spec.cidr, 'block CIDR is not strictly masked');
  if (spec.state !== undefined && (typeof spec.state !== 'string' || !STATES.includes(spec.state))) {
    r.error('spec.state', spec.state, `must be one of ${STATES.join(', ')}`);
  }
  checkBoolean(r, 'spec.deleted', spec.deleted);
}
