// SPDX-License-Identifier: Apache-2.0
import { isPlainObject } from '../model/parse.js';
import { parseCidr } from '../model/cidr.js';
import { checkIpv4Address, checkKnownFields, checkUnicastMac } from './common.js';
import type { Reporter } from './problem.js';
import { validateNodeBgpFields } from './bgp.js';

// Fields Calico writes on Node resources that bpf-overlay does not use; accepted so that
// `calicoctl get node -o yaml` output applies unchanged.
export const NODE_SPEC_FIELDS = [
  'bgp',
  'ipv4VXLANTunnelAddr',
  'vxlanTunnelMACAddr',
  'ipv6VXLANTunnelAddr',
  'vxlanTunnelMACAddrV6',
  'orchRefs',
  'addresses',
  'wireguard',
];
export const NODE_BGP_FIELDS = ['ipv4Address', 'ipv6Address', 'ipv4IPIPTunnelAddr', 'asNumber', 'routeReflectorClusterID'];

export function validateNodeSpec(r: Reporter, spec: Record<string, unknown>): void {
  checkKnownFields(r, 'spec', spec, NODE_SPEC_FIELDS);
  if (spec.bgp !== undefined) {
    if (!isPlainObject(spec.bgp)) {
      r.error('spec.bgp', spec.bgp, 'must be a mapping');
    } else {
      const bgp = spec.bgp;
      checkKnownFields(r, 'spec.bgp', bgp, NODE_BGP_FIELDS);
      const addr = bgp.ipv4Address;
      if (addr !== undefined && addr !== '') {
        const cidr = typeof addr === 'string' ? parseCidr(addr) : null;
        if (!cidr || cidr.family !== 4) {
          r.error(
            'spec.bgp.ipv4Address',
            addr,
            'must be an IPv4 address with its subnet prefix length, e.g. 10.0.0.5/24 (the prefix decides CrossSubnet)',
          );
        }
      }
      checkIpv4Address(r, 'spec.bgp.ipv4IPIPTunnelAddr', bgp.ipv4IPIPTunnelAddr);
      validateNodeBgpFields(r, bgp);
    }
  }
  checkIpv4Address(r, 'spec.ipv4VXLANTunnelAddr', spec.ipv4VXLANTunnelAddr);
  checkUnicastMac(r, 'spec.vxlanTunnelMACAddr', spec.vxlanTunnelMACAddr);
}
