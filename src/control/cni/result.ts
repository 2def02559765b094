// SPDX-License-Identifier: Apache-2.0
// The ADD result in the shape the requested spec version defines: 0.3.x/0.4.0 tag each IP with "version",
// 1.0.0 dropped that, 1.1.0 added interface "mtu".
import type { DnsConfig } from './config.js';
import { GATEWAY } from './netlink.js';
import { atLeast } from './version.js';

export interface ResultInterface {
  name: string;
  mac: string;
  sandbox?: string;
  mtu?: number;
}

export interface ResultIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: '4' | '6';
}

export interface CniResult {
  cniVersion: string;
  interfaces: ResultInterface[];
  ips: ResultIp[];
  routes: { dst: string; gw?: string }[];
  dns: DnsConfig;
}

export interface AttachedWorkload {
  hostIfname: string;
  hostMac: string;
  containerIfname: string;
  containerMac: string;
  netns: string;
  address: string;
  mtu: number;
  /** What the workload routes through this interface: 0.0.0.0/0, or its pool's CIDR for a further attachment. */
  routeDst: string;
}

export function addResult(cniVersion: string, w: AttachedWorkload, dns: DnsConfig = {}): CniResult {
  const withMtu = atLeast(cniVersion, '1.1.0');
  const host: ResultInterface = { name: w.hostIfname, mac: w.hostMac };
  const container: ResultInterface = { name: w.containerIfname, mac: w.containerMac, sandbox: w.netns };
  if (withMtu) {
    host.mtu = w.mtu;
    container.mtu = w.mtu;
  }
  const ipEntry: ResultIp = { address: `${w.address}/32`, gateway: GATEWAY, interface: 1 };
  if (!atLeast(cniVersion, '1.0.0')) ipEntry.version = '4';
  return {
    cniVersion,
    interfaces: [host, container],
    ips: [ipEntry],
    routes: [{ dst: w.routeDst, gw: GATEWAY }],
    dns,
  };
}
