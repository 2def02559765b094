// The kernel-side plumbing of one workload: veth pair, addresses, routes, neighbour, sysctls. Host-side work runs
// in the plugin's own namespace (the node's); container-side work runs through `nsenter --net=CNI_NETNS`, which,
// unlike `ip netns exec`, leaves /sys and the bpffs pins alone.
import { writeFileSync } from 'node:fs';
import { CommandError, runTool } from '../host/run.js';
import { CniCode, CniError } from './errors.js';

/** Calico's link-local gateway: every workload routes through it; the host answers for it via the veth MAC. */
export const GATEWAY = '169.254.1.1';

/** Routing protocol tag of the host's /32 routes toward local workloads (the agent's remote-block routes use 201). */
export const CNI_ROUTE_PROTO = 202;

export interface LinkInfo {
  ifname: string;
  ifindex: number;
  mac: string;
  mtu: number;
  up: boolean;
}

interface IpLinkJson {
  ifname: string;
  ifindex: number;
  address: string;
  mtu: number;
  flags: string[];
}

export function dataplaneError(what: string, err: unknown): CniError {
  const detail = err instanceof CommandError ? err.message : String((err as Error)?.message ?? err);
  return new CniError(CniCode.DataplaneFailure, `${what}: ${detail}`);
}

function ip(netns: string | undefined, args: string[], input?: string): string {
  return netns ? runTool('nsenter', [`--net=${netns}`, '--', 'ip', ...args], input) : runTool('ip', args, input);
}

/** Runs several ip commands in one process; ip stops at the first failing line and names it. */
function ipBatch(netns: string | undefined, lines: string[]): void {
  ip(netns, ['-batch', '-'], lines.join('\n') + '\n');
}

/** The link, or undefined when no such interface exists in that namespace. */
export function linkInfo(ifname: string, netns?: string): LinkInfo | undefined {
  let out: string;
  try {
    out = ip(netns, ['-j', 'link', 'show', 'dev', ifname]);
  } catch (err) {
    if (err instanceof CommandError && /does not exist|Cannot find device/i.test(err.stderr)) return undefined;
    throw err;
  }
  const l = (JSON.parse(out) as IpLinkJson[])[0];
  if (!l) return undefined;
  return { ifname: l.ifname, ifindex: l.ifindex, mac: l.address, mtu: l.mtu, up: l.flags.includes('UP') };
}

/** Creates the pair with the container end already inside the netns under its final name: one atomic step. */
export function createVeth(hostIfname: string, netns: string, containerIfname: string, mtu: number): void {
  ip(undefined, [
    'link', 'add', hostIfname, 'mtu', String(mtu), 'type', 'veth',
    'peer', 'name', containerIfname, 'mtu', String(mtu), 'netns', netns,
  ]);
}

export function deleteLink(ifname: string, netns?: string): boolean {
  try {
    ip(netns, ['link', 'del', 'dev', ifname]);
    return true;
  } catch (err) {
    if (err instanceof CommandError && /does not exist|Cannot find device/i.test(err.stderr)) return false;
    throw err;
  }
}

function sysctl(path: string, value: string): void {
  writeFileSync(`/proc/sys/${path}`, value);
}

/**
 * Host end: up, answers ARP for any address (proxy_arp, without the default 0.8 s delay) so that a workload that
 * lost its static neighbour entry still reaches the gateway, and forwards. No address: the host end is a pure L3 hop.
 */
export function configureHostSide(hostIfname: string): void {
  sysctl(`net/ipv4/conf/${hostIfname}/proxy_arp`, '1');
  sysctl(`net/ipv4/neigh/${hostIfname}/proxy_delay`, '0');
  sysctl(`net/ipv4/conf/${hostIfname}/forwarding`, '1');
  ip(undefined, ['link', 'set', 'dev', hostIfname, 'up']);
}

/** Container end: address/32, a scope-link route to the gateway, default via it, gateway pinned to the host MAC. */
export function configureContainerSide(netns: string, ifname: string, address: string, hostMac: string): void {
  ipBatch(netns, [
    `link set dev ${ifname} up`,
    `addr add ${address}/32 dev ${ifname}`,
    `route add ${GATEWAY} dev ${ifname} scope link`,
    `route add default via ${GATEWAY} dev ${ifname}`,
    `neigh replace ${GATEWAY} lladdr ${hostMac} dev ${ifname} nud permanent`,
  ]);
}

/** Host -> local workload: /32 via the veth, tagged so that it is recognisably ours. */
export function addHostRoute(address: string, hostIfname: string): void {
  ip(undefined, ['route', 'replace', `${address}/32`, 'dev', hostIfname, 'scope', 'link', 'proto', String(CNI_ROUTE_PROTO)]);
}

export interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
}

export function routes(netns: string | undefined, args: string[] = []): RouteJson[] {
  return JSON.parse(ip(netns, ['-j', 'route', 'show', ...args])) as RouteJson[];
}

export function ipv4Addresses(ifname: string, netns?: string): string[] {
  const out = JSON.parse(ip(netns, ['-j', '-4', 'addr', 'show', 'dev', ifname])) as {
    addr_info?: { local: string; prefixlen: number }[];
  }[];
  return (out[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

export function permanentNeighbour(netns: string, ifname: string, address: string): string | undefined {
  const out = JSON.parse(ip(netns, ['-j', 'neigh', 'show', address, 'dev', ifname])) as {
    lladdr?: string;
    state?: string[];
  }[];
  const n = out.find((e) => e.state?.includes('PERMANENT'));
  return n?.lladdr;
}
