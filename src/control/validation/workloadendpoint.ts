import { parseCidr } from '../model/cidr.js';
import { checkIntRange, checkKnownFields, checkString, checkUnicastMac, isDns1123Subdomain } from './common.js';
import type { Reporter } from './problem.js';

export const WORKLOAD_SPEC_FIELDS = [
  'node',
  'containerID',
  'interfaceName',
  'hostInterface',
  'hostIfindex',
  'hostMac',
  'mac',
  'ipNetworks',
  'pool',
  'pod',
  'namespace',
  'netns',
  'allowSpoofedSourcePrefixes',
];

export function validateWorkloadEndpointSpec(r: Reporter, spec: Record<string, unknown>): void {
  checkKnownFields(r, 'spec', spec, WORKLOAD_SPEC_FIELDS);
  if (typeof spec.node !== 'string' || !isDns1123Subdomain(spec.node)) {
    r.error('spec.node', spec.node, 'must name a node (a DNS-1123 subdomain)');
  }
  checkString(r, 'spec.containerID', spec.containerID);
  checkString(r, 'spec.interfaceName', spec.interfaceName);
  if (checkString(r, 'spec.hostInterface', spec.hostInterface) && !/^[^\s/]{1,15}$/.test(spec.hostInterface)) {
    r.error('spec.hostInterface', spec.hostInterface, 'must be an interface name of 1 to 15 characters');
  }
  if (spec.hostIfindex === undefined) r.error('spec.hostIfindex', undefined, 'must be specified');
  checkIntRange(r, 'spec.hostIfindex', spec.hostIfindex, 1, 2 ** 31 - 1, 'must be a positive interface index');
  for (const field of ['mac', 'hostMac'] as const) {
    if (spec[field] === undefined || spec[field] === '') r.error(`spec.${field}`, spec[field], 'must be specified');
    else checkUnicastMac(r, `spec.${field}`, spec[field]);
  }
  const nets = spec.ipNetworks;
  if (!Array.isArray(nets) || nets.length === 0) {
    r.error('spec.ipNetworks', nets, 'must list the workload addresses, e.g. ["192.168.1.5/32"]');
  } else {
    nets.forEach((n, i) => {
      const c = typeof n === 'string' ? parseCidr(n) : null;
      if (!c || c.prefix !== (c.family === 4 ? 32 : 128)) {
        r.error(`spec.ipNetworks.${i}`, n, 'must be a single address with /32 (IPv4) or /128 (IPv6)');
      }
    });
  }
  checkString(r, 'spec.pool', spec.pool);
  const allowed = spec.allowSpoofedSourcePrefixes;
  if (allowed !== undefined) {
    if (!Array.isArray(allowed)) {
      r.error('spec.allowSpoofedSourcePrefixes', allowed, 'must be a list of CIDRs, e.g. ["10.1.0.0/16"]');
    } else {
      allowed.forEach((p, i) => {
        if (typeof p !== 'string' || !parseCidr(p)) r.error(`spec.allowSpoofedSourcePrefixes.${i}`, p, 'must be a CIDR such as 10.1.0.0/16');
      });
    }
  }
}
