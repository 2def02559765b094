// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { derivedVtepMac, vtepMacOf } from '../../src/control/model/vtep.js';

describe('VTEP MAC', () => {
  // Expected values: `printf %s NAME | sha1sum`, first five bytes, after 0x66.
  it.each([
    ['node1', '66:f9:37:c3:7e:94'],
    ['node2', '66:2d:bf:44:a6:8b'],
    ['node3', '66:a4:6f:e0:c4:da'],
    ['kind-control-plane', '66:07:01:14:06:90'],
  ])('%s -> %s', (name, mac) => {
    expect(derivedVtepMac(name)).toBe(mac);
  });
  it('prefers the configured vxlanTunnelMACAddr', () => {
    expect(vtepMacOf({ metadata: { name: 'node1' }, spec: { vxlanTunnelMACAddr: '66:AA:BB:CC:DD:EE' } })).toBe('66:aa:bb:cc:dd:ee');
    expect(vtepMacOf({ metadata: { name: 'node1' }, spec: {} })).toBe('66:f9:37:c3:7e:94');
  });
});
