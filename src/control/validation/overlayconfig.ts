// SPDX-License-Identifier: Apache-2.0
import { FELIX_MAPPED_FIELDS } from '../model/parse.js';
import { checkIntRange, checkKnownFields } from './common.js';
import type { Reporter } from './problem.js';

export const OVERLAY_CONFIG_SPEC_FIELDS = ['vxlanPort', 'vxlanVNI', 'mtu', 'decapHook'];

const PORT_MESSAGE = 'must be a UDP port between 1 and 65535';
const VNI_MESSAGE = 'must be a VXLAN network identifier between 1 and 16777215';
const MTU_MESSAGE = 'must be 0 (derive from the uplink) or between 576 and 9000';

export function validateOverlayConfigurationSpec(r: Reporter, spec: Record<string, unknown>): void {
  checkKnownFields(r, 'spec', spec, OVERLAY_CONFIG_SPEC_FIELDS);
  checkIntRange(r, 'spec.vxlanPort', spec.vxlanPort, 1, 65535, PORT_MESSAGE);
  checkIntRange(r, 'spec.vxlanVNI', spec.vxlanVNI, 1, 16777215, VNI_MESSAGE);
  checkIntRange(r, 'spec.mtu', spec.mtu, 576, 9000, MTU_MESSAGE, [0]);
  if (spec.decapHook !== undefined && spec.decapHook !== 'tc' && spec.decapHook !== 'xdp') {
    r.error('spec.decapHook', spec.decapHook, 'must be "tc" or "xdp"');
  }
}

/**
 * FelixConfiguration is accepted so that clusters can reuse their Felix settings, mapped onto an
 * OverlayConfiguration of the same name (see felixToOverlaySpec). Its many unrelated fields are not errors
 * (a real "default" FelixConfiguration carries dozens) but each is reported as ignored.
 */
export function validateFelixConfigurationSpec(r: Reporter, spec: Record<string, unknown>): void {
  checkIntRange(r, 'spec.vxlanPort', spec.vxlanPort, 1, 65535, PORT_MESSAGE);
  checkIntRange(r, 'spec.vxlanVNI', spec.vxlanVNI, 1, 16777215, VNI_MESSAGE);
  checkIntRange(r, 'spec.vxlanMTU', spec.vxlanMTU, 576, 9000, MTU_MESSAGE, [0]);
  checkIntRange(r, 'spec.ipipMTU', spec.ipipMTU, 576, 9000, MTU_MESSAGE, [0]);
  for (const key of Object.keys(spec)) {
    if ((FELIX_MAPPED_FIELDS as readonly string[]).includes(key)) continue;
    r.warning(`spec.${key}`, spec[key], `ignored: bpf-overlay maps only ${FELIX_MAPPED_FIELDS.join(', ')} from FelixConfiguration`);
  }
}
