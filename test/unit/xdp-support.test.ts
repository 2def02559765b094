// SPDX-License-Identifier: Apache-2.0
// The agent's XDP decap decision: declined on a veth (and generic-XDP-only) uplink with a warning, forced with
// --force-xdp, never attached unless asked for; the gate warns once per change of decision.
import { describe, expect, it } from 'vitest';
import { decideXdpDecap, xdpUnhelpfulReason, XdpDecapGate } from '../../src/control/datapath/xdp-support.js';

describe('XDP decap on the uplink', () => {
  it('helps on a physical NIC and on devices with native XDP, not on a veth or generic-only virtual device', () => {
    expect(xdpUnhelpfulReason({ ifname: 'ens5' })).toBeUndefined();
    expect(xdpUnhelpfulReason({ ifname: 'bond0', kind: 'bond' })).toBeUndefined();
    expect(xdpUnhelpfulReason({ ifname: 'tap0', kind: 'tun' })).toBeUndefined();
    expect(xdpUnhelpfulReason({ ifname: 'eth0', kind: 'veth' })).toMatch(/'eth0' is a veth.*drop GSO/);
    for (const kind of ['loopback', 'bridge', 'vlan', 'macvlan', 'ipvlan', 'vxlan']) {
      expect(xdpUnhelpfulReason({ ifname: 'x0', kind })).toMatch(new RegExp(`${kind} device without native XDP`));
    }
  });

  it('declines with a warning naming --force-xdp, and attaches when forced (still warning)', () => {
    const veth = { ifname: 'eth0', kind: 'veth' };
    expect(decideXdpDecap(veth, { requested: false, force: false })).toEqual({ xdp: false });
    expect(decideXdpDecap(veth, { requested: false, force: true })).toEqual({ xdp: false });
    const declined = decideXdpDecap(veth, { requested: true, force: false });
    expect(declined.xdp).toBe(false);
    expect(declined.warning).toMatch(/^XDP decap declined, tc decap instead: uplink 'eth0' is a veth.*--force-xdp/);
    const forced = decideXdpDecap(veth, { requested: true, force: true });
    expect(forced.xdp).toBe(true);
    expect(forced.warning).toMatch(/^XDP decap forced \(--force-xdp\)/);
    expect(decideXdpDecap({ ifname: 'ens5' }, { requested: true, force: false })).toEqual({ xdp: true });
  });

  it('the gate reads the link only when XDP is asked for and warns once per decision change', () => {
    const warnings: string[] = [];
    // 'lo' exists in every namespace: reading it exercises the real ip call (loopback has no native XDP).
    const gate = new XdpDecapGate('lo', false, (m) => warnings.push(m));
    expect(gate.allow(false)).toBe(false);
    expect(warnings).toEqual([]);
    expect(gate.allow(true)).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/uplink 'lo' is a loopback device without native XDP/)]);
    warnings.length = 0;
    const physical = new XdpDecapGate('ens5', false, (m) => warnings.push(m), (ifname) => ({ ifname, driver: 'ixgbe' }));
    expect(physical.allow(true)).toBe(true);
    expect(warnings).toEqual([]);

    let reads = 0;
    const vethGate = new XdpDecapGate('eth0', false, (m) => warnings.push(m), (ifname) => (reads++, { ifname, kind: 'veth' }));
    expect(vethGate.allow(true)).toBe(false);
    expect(vethGate.allow(true)).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(vethGate.allow(false)).toBe(false);
    expect(vethGate.allow(true)).toBe(false);
    expect(warnings).toHaveLength(2);
    expect(reads).toBe(1);
  });
});
