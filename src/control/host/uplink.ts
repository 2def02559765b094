// SPDX-License-Identifier: Apache-2.0
// Finds the uplink (the interface toward other nodes) and this node's underlay address when the user did not
// name them: the interface of the default route, else the only interface with a global IPv4 address.
import { runTool } from './run.js';

export interface UplinkInfo {
  ifname: string;
  ifindex: number;
  mtu: number;
  mac: string;
  /** "10.0.1.1/24": the node's address with its subnet prefix (Node spec.bgp.ipv4Address). */
  address: string;
}

interface IpAddrJson {
  ifname: string;
  ifindex: number;
  mtu: number;
  address?: string;
  link_type?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}

function interfaces(): IpAddrJson[] {
  return JSON.parse(runTool('ip', ['-j', 'addr', 'show'])) as IpAddrJson[];
}

function globalIpv4(i: IpAddrJson) {
  return (i.addr_info ?? []).filter((a) => a.family === 'inet' && a.scope === 'global');
}

export function detectUplink(opts: { uplink?: string; address?: string } = {}): UplinkInfo {
  const all = interfaces();
  let iface: IpAddrJson | undefined;
  if (opts.uplink) {
    iface = all.find((i) => i.ifname === opts.uplink);
    if (!iface) throw new Error(`--uplink: no interface named '${opts.uplink}'`);
  } else {
    const defaults = JSON.parse(runTool('ip', ['-j', 'route', 'show', 'default'])) as { dev?: string }[];
    const dev = defaults.find((r) => r.dev)?.dev;
    iface = dev ? all.find((i) => i.ifname === dev) : undefined;
    if (!iface) {
      const candidates = all.filter((i) => i.link_type !== 'loopback' && globalIpv4(i).length > 0);
      if (candidates.length !== 1) {
        throw new Error(
          `--uplink: cannot auto-detect (no default route and ${candidates.length} interfaces with a global IPv4 address); name it`,
        );
      }
      iface = candidates[0];
    }
  }
  let address = opts.address;
  if (!address) {
    const addr = globalIpv4(iface)[0];
    if (!addr) throw new Error(`--address: interface '${iface.ifname}' has no global IPv4 address; give --address A.B.C.D/N`);
    address = `${addr.local}/${addr.prefixlen}`;
  }
  return { ifname: iface.ifname, ifindex: iface.ifindex, mtu: iface.mtu, mac: iface.address ?? '', address };
}
