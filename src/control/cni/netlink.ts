// SPDX-License-Identifier: Apache-2.0
// The kernel-side plumbing of one workload: veth pair, addresses, routes, neighbour, sysctls. Host-side work runs
// in the plugin's own namespace (the node's); container-side work runs through `nsenter --net=CNI_NETNS`, which,
// unlike `ip netns exec`, leaves /sys and the bpffs pins alone.
import { readFileSync, writeFileSync } from 'node:fs';
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

function toLinkInfo(l: IpLinkJson): LinkInfo {
  return { ifname: l.ifname, ifindex: l.ifindex, mac: l.address, mtu: l.mtu, up: l.flags.includes('UP') };
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
  return toLinkInfo(l);
}

/**
 * Whether an interface of that name exists in this process's network namespace, from /proc/self/net/dev (which,
 * unlike /sys/class/net, follows the reader's namespace): ADD checks for its host veth without an `ip` process.
 */
export function linkExists(ifname: string): boolean {
  return readFileSync('/proc/self/net/dev', 'utf8')
    .split('\n')
    .some((line) => line.trimStart().startsWith(`${ifname}:`));
}

/** Names of every interface in the namespace. */
export function linkNames(netns?: string): string[] {
  return (JSON.parse(ip(netns, ['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname);
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
 * With the workload's address, also the host's route to it, in the same `ip -batch`, which ends with the link as
 * it is then (one process where three ran: fifty pods at once pay for each one fifty times).
 */
export function configureHostSide(hostIfname: string, address: string): LinkInfo | undefined {
  sysctl(`net/ipv4/conf/${hostIfname}/proxy_arp`, '1');
  sysctl(`net/ipv4/neigh/${hostIfname}/proxy_delay`, '0');
  sysctl(`net/ipv4/conf/${hostIfname}/forwarding`, '1');
  const out = ip(undefined, ['-j', '-batch', '-'], [
    `link set dev ${hostIfname} up`,
    // Host -> local workload: /32 via the veth, tagged so that it is recognisably ours.
    `route replace ${address}/32 dev ${hostIfname} scope link proto ${CNI_ROUTE_PROTO}`,
    `link show dev ${hostIfname}`,
  ].join('\n') + '\n');
  const l = (JSON.parse(out.trim().split('\n').pop() ?? '[]') as IpLinkJson[])[0];
  return l && toLinkInfo(l);
}

/**
 * How the workload reaches the overlay through this interface. The first attachment owns the default route;
 * a further one (a second bpf-overlay network, or bpf-overlay beside another plugin's eth0) only routes its own
 * pool, so the container keeps the default route it already has. `metric` keeps two attachments of one pool
 * from colliding on the same prefix.
 */
export type ContainerRoute = { kind: 'default' } | { kind: 'pool'; cidr: string; metric: number };

/** Priority of the per-address source rules: before the main table (32766). */
const SOURCE_RULE_PRIORITY = 100;

/** The routing table of one attachment's source rule, named after the container-side interface. */
export function sourceTable(containerIfindex: number): number {
  return 1000 + containerIfindex;
}

/**
 * Container end: address/32 and the gateway pinned to the host MAC; then either a scope-link route to the
 * gateway and the default route via it, or (a further attachment) only its pool via the gateway `onlink`, with
 * the interface's own address as source. Every attachment also gets a source rule: whatever leaves with its
 * address leaves through it (a table with only a default route via its gateway). With several attachments a
 * reply from eth0's address to a peer of eth1's pool would otherwise go out eth1, and the data path drops a
 * workload's packet whose source is not that veth's own.
 */
export function configureContainerSide(
  netns: string,
  ifname: string,
  containerIfindex: number,
  address: string,
  hostMac: string,
  route: ContainerRoute,
  staleRulePriorities: readonly number[],
): void {
  const table = sourceTable(containerIfindex);
  const routing =
    route.kind === 'default'
      ? [`route add ${GATEWAY} dev ${ifname} scope link`, `route add default via ${GATEWAY} dev ${ifname}`]
      : [`route add ${route.cidr} via ${GATEWAY} dev ${ifname} onlink src ${address} metric ${route.metric}`];
  ipBatch(netns, [
    // Rules left by an earlier attachment of the same address (its interface, and its table's route, are gone).
    ...staleRulePriorities.map((priority) => `rule del from ${address}/32 priority ${priority}`),
    `link set dev ${ifname} up`,
    `addr add ${address}/32 dev ${ifname}`,
    ...routing,
    `route add default via ${GATEWAY} dev ${ifname} onlink table ${table}`,
    `rule add from ${address}/32 lookup ${table} priority ${SOURCE_RULE_PRIORITY}`,
    `neigh replace ${GATEWAY} lladdr ${hostMac} dev ${ifname} nud permanent`,
  ]);
}

interface RuleJson {
  priority: number;
  src?: string;
  table?: string;
}

/** The source rules of an address in the container, as `ip rule` lists them. */
export function sourceRules(netns: string, address: string): RuleJson[] {
  return (JSON.parse(ip(netns, ['-4', '-j', 'rule', 'show', 'from', `${address}/32`])) as RuleJson[]).filter(
    (r) => r.src === address,
  );
}

/** Removes the address's source rules (the netns itself goes with the container; this is for reuse within it). */
export function removeSourceRules(netns: string, address: string): void {
  for (const r of sourceRules(netns, address)) {
    ip(netns, ['rule', 'del', 'from', `${address}/32`, 'priority', String(r.priority)]);
  }
}

/** A further attachment's route: its pool, at the lowest metric no other route to that pool uses. */
function routeBeside(poolCidr: string, poolRoutes: RouteJson[]): ContainerRoute {
  const used = new Set(poolRoutes.map((r) => r.metric ?? 0));
  let metric = 0;
  while (used.has(metric)) metric++;
  return { kind: 'pool', cidr: poolCidr, metric };
}

/** What ADD reads in the container before configuring it. */
export interface ContainerView {
  link: LinkInfo;
  route: ContainerRoute;
  /** Priorities of source rules for the address that an earlier attachment left behind. */
  staleRulePriorities: number[];
}

/**
 * The container interface, where the new attachment's route goes (the default route when the container has none
 * yet, else routeBeside) and the address's leftover source rules, read by one `ip -batch` in the namespace (one JSON
 * array per line): a runtime starting fifty pods at once pays for every process this plugin starts fifty times.
 */
export function inspectContainer(netns: string, ifname: string, address: string, poolCidr: string): ContainerView {
  const out = ip(netns, ['-4', '-j', '-batch', '-'], [
    `link show dev ${ifname}`,
    'route show default',
    `route show exact ${poolCidr}`,
    `rule show from ${address}/32`,
  ].join('\n') + '\n');
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 4) throw new Error(`ip -batch in ${netns} printed ${lines.length} results for 4 commands: ${out.slice(0, 200)}`);
  const [links, defaults, poolRoutes, rules] = lines.map((l) => JSON.parse(l) as unknown[]);
  const l = (links as IpLinkJson[])[0];
  if (!l) throw new Error(`${ifname} in ${netns} vanished right after it was created`);
  return {
    link: toLinkInfo(l),
    route: defaults.length === 0 ? { kind: 'default' } : routeBeside(poolCidr, poolRoutes as RouteJson[]),
    staleRulePriorities: (rules as RuleJson[]).filter((r) => r.src === address).map((r) => r.priority),
  };
}

export interface RouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
  metric?: number;
  prefsrc?: string;
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
