// SPDX-License-Identifier: Apache-2.0
// Pure per-input resolvers shared by the full compiler (the oracle) and the incremental one: each turns one
// input (a pool, a block affinity, a workload, the local node's tunnel addresses, a node) into what it claims.
// Both compilers differ only in how they combine these claims, so the property test checks the combination.
import { Encap, RouteFlags, RouteKind, ZERO_IP, ZERO_MAC, type KnownNodeEntry, type RouteEntry } from '../maps/layout.js';
import { cidrContains, cidrContainsIp, compareCidrText, ipv4CidrSortKey, parseCidr, parseIp, type Cidr } from '../model/cidr.js';
import type { BlockAffinity, EncapMode, IPPool, Node, WorkloadEndpoint } from '../model/types.js';
import { vtepMacOf } from '../model/vtep.js';
import { parseSelector, type SelectorNode } from '../selector/index.js';
import type { RouteDecision } from './types.js';

export function encapName(e: Encap): string {
  return e === Encap.Ipip ? 'ipip' : e === Encap.Vxlan ? 'vxlan' : 'plain';
}

/** Calico's rule: VXLAN if vxlanMode is not Never, else IPIP if ipipMode is not Never, else none. */
export function poolEncap(pool: IPPool): { encap: Encap; mode: EncapMode } {
  if (pool.spec.vxlanMode !== 'Never') return { encap: Encap.Vxlan, mode: pool.spec.vxlanMode };
  if (pool.spec.ipipMode !== 'Never') return { encap: Encap.Ipip, mode: pool.spec.ipipMode };
  return { encap: Encap.None, mode: 'Never' };
}

export interface PoolInfo {
  pool: IPPool;
  cidr: Cidr;
  encap: Encap;
  mode: EncapMode;
  flags: number;
  selector: SelectorNode | null;
}

/** A pool as the compiler uses it (null when it is ignored) and the warning it raises, if any. */
export function resolvePool(pool: IPPool): { info: PoolInfo | null; warning: string | null } {
  const name = pool.metadata.name;
  const cidr = parseCidr(pool.spec.cidr);
  if (!cidr) return { info: null, warning: `IPPool ${name}: invalid cidr ${JSON.stringify(pool.spec.cidr)}, ignored` };
  if (cidr.family !== 4) return { info: null, warning: `IPPool ${name}: IPv6 pool ${pool.spec.cidr} ignored, the data plane is IPv4-only` };
  let selector: SelectorNode | null = null;
  let warning: string | null = null;
  try {
    selector = parseSelector(pool.spec.nodeSelector ?? '');
  } catch (e) {
    warning = `IPPool ${name}: ${(e as Error).message}; it selects no node`;
  }
  const { encap, mode } = poolEncap(pool);
  const flags = RouteFlags.InPool | (pool.spec.natOutgoing ? RouteFlags.NatOutgoing : 0);
  return { info: { pool, cidr, encap, mode, flags, selector }, warning };
}

/** The pool that owns `c`: the first (by name) whose CIDR contains it. `pools` is sorted by name. */
export function poolContaining(pools: readonly PoolInfo[], c: Cidr): PoolInfo | undefined {
  return pools.find((p) => cidrContains(p.cidr, c));
}

export interface NodeAddress {
  addr: string;
  /** The recorded subnet ("10.0.1.0/24"): the CrossSubnet test. */
  subnet: Cidr;
}

export function nodeAddress(node: Node | undefined): NodeAddress | null {
  const text = node?.spec.bgp?.ipv4Address;
  if (!text) return null;
  const subnet = parseCidr(text);
  if (!subnet || subnet.family !== 4) return null;
  return { addr: text.slice(0, text.indexOf('/')), subnet };
}

export function sameNodeAddress(a: NodeAddress | null, b: NodeAddress | null): boolean {
  return a === b || (a !== null && b !== null && a.addr === b.addr && a.subnet.network === b.subnet.network);
}

export function localNodeWarnings(localNode: string, local: Node | undefined, localAddr: NodeAddress | null): string[] {
  if (!local) return [`local node ${localNode} has no Node resource: no tunnel address, CrossSubnet always encapsulates`];
  if (!localAddr) return [`local node ${localNode} has no spec.bgp.ipv4Address: CrossSubnet always encapsulates`];
  return [];
}

// When two inputs claim the same prefix the more specific owner wins: a workload over the host's tunnel
// address over a block over a pool. Equal claims keep the first in sorted input order.
export const PRIORITY: Readonly<Record<RouteKind, number>> = {
  [RouteKind.LocalWorkload]: 5,
  [RouteKind.LocalHost]: 4,
  [RouteKind.LocalBlock]: 3,
  [RouteKind.RemoteBlock]: 2,
  [RouteKind.Pool]: 1,
};

export const ignoredClaim = (cidr: string, held: string, owner: string) => `conflict: ${cidr} already belongs to ${held}; ${owner} ignored`;
export const overriddenClaim = (cidr: string, held: string, owner: string) => `conflict: ${cidr} of ${held} overridden by ${owner}`;

/**
 * What one input asks for at one prefix: a route entry (claim) that competes with others at the same cidr, or
 * only a decision saying why there is none (claim null).
 */
export interface Outcome {
  cidr: string;
  node: string | null;
  claim: { entry: RouteEntry; owner: string } | null;
  reason: string;
}

export function skipDecision(o: Outcome): RouteDecision {
  return { cidr: o.cidr, kind: null, node: o.node, encap: Encap.None, nextHop: ZERO_IP, reason: o.reason };
}

export function placedDecision(o: Outcome, entry: RouteEntry): RouteDecision {
  return { cidr: entry.cidr, kind: entry.kind, encap: entry.encap, nextHop: entry.nextHop, node: o.node, reason: o.reason };
}

export function ignoredDecision(o: Outcome, entry: RouteEntry, reason: string): RouteDecision {
  return { cidr: entry.cidr, kind: null, node: o.node, encap: entry.encap, nextHop: entry.nextHop, reason };
}

/**
 * A text kept per block for as long as the block (an owner, a reason): joined into one flat string. A template
 * literal builds a tree of concatenation nodes, several per text; at 20,000 blocks those trees weigh megabytes.
 */
const flat = (...parts: string[]): string => parts.join('');

const BASE = { ifindex: 0, nextHop: ZERO_IP, dstMac: ZERO_MAC, srcMac: ZERO_MAC, encap: Encap.None };

export function poolOutcome(p: PoolInfo): Outcome {
  const name = p.pool.metadata.name;
  const state = p.pool.spec.disabled ? ', disabled' : '';
  return {
    cidr: p.cidr.network,
    node: null,
    claim: { entry: { ...BASE, cidr: p.cidr.network, kind: RouteKind.Pool, flags: p.flags }, owner: `IPPool ${name}` },
    reason: `IPPool ${name} (${encapName(p.encap)} ${p.mode}${p.pool.spec.natOutgoing ? ', natOutgoing' : ''}${state})`,
  };
}

export interface BlockContext {
  localNode: string;
  localAddr: NodeAddress | null;
  poolOf: (c: Cidr) => PoolInfo | undefined;
  nodeOf: (name: string) => Node | undefined;
}

export function blockOutcome(ba: BlockAffinity, ctx: BlockContext): Outcome {
  const nodeName = ba.spec.node;
  const skip = (cidr: string, reason: string): Outcome => ({ cidr, node: nodeName, claim: null, reason });
  const cidr = parseCidr(ba.spec.cidr);
  if (!cidr) return skip(ba.spec.cidr, 'invalid block CIDR');
  if (cidr.family !== 4) return skip(ba.spec.cidr, 'IPv6 block ignored: the data plane is IPv4-only');
  // The resource's own text when canonical: one string per block, shared by the outcome, entry and decision.
  const network = cidr.network === ba.spec.cidr ? ba.spec.cidr : cidr.network;
  if (ba.spec.deleted) return skip(network, 'block affinity is deleted');
  const pool = ctx.poolOf(cidr);
  if (!pool) return skip(network, 'no IPPool contains this block');
  const owner = flat('block ', network, ' of ', nodeName);
  if (nodeName === ctx.localNode) {
    return {
      cidr: network,
      node: nodeName,
      claim: { entry: { ...BASE, cidr: network, kind: RouteKind.LocalBlock, flags: pool.flags }, owner },
      reason: `block of this node (IPPool ${pool.pool.metadata.name})`,
    };
  }
  const remote = ctx.nodeOf(nodeName);
  const remoteAddr = nodeAddress(remote);
  if (!remoteAddr) return skip(network, remote ? `node ${nodeName} has no spec.bgp.ipv4Address` : `node ${nodeName} has no Node resource`);
  const { encap, reason } = resolveEncap(pool, ctx.localAddr, remoteAddr);
  const entry = remoteRoute(network, pool, encap, ctx.localAddr, remoteAddr.addr, remote);
  return { cidr: network, node: nodeName, claim: { entry, owner }, reason };
}

/** A route to a prefix behind another host: VXLAN needs the host's VTEP MAC (when it is a known node). */
function remoteRoute(cidr: string, pool: PoolInfo, encap: Encap, local: NodeAddress | null, nextHop: string, node: Node | undefined): RouteEntry {
  return {
    cidr,
    kind: RouteKind.RemoteBlock,
    encap,
    flags: pool.flags | viaFibFlag(encap, local, nextHop),
    ifindex: 0,
    nextHop,
    dstMac: encap === Encap.Vxlan && node ? vtepMacOf(node) : ZERO_MAC,
    srcMac: ZERO_MAC,
  };
}

/** A plain hop to an address outside our subnet cannot be resolved on-link: the data path asks the host FIB. */
export function viaFibFlag(encap: Encap, local: NodeAddress | null, nextHop: string): number {
  if (encap !== Encap.None) return 0;
  const ip = parseIp(nextHop);
  return local && ip && cidrContainsIp(local.subnet, ip.family, ip.value) ? 0 : RouteFlags.ViaFib;
}

export interface LearnedRoute {
  cidr: string;
  nextHop: string;
}

/**
 * A route BIRD learned over BGP, or null when it is not used: it fills only what the datastore leaves open, a
 * prefix inside a pool that no block, workload or tunnel address overlaps (`overlapsClaim`). `nodeAt` gives
 * the node holding the next hop's address, if any.
 */
export function learnedOutcome(
  l: LearnedRoute,
  ctx: Pick<BlockContext, 'localAddr' | 'poolOf'> & { nodeAt: (addr: string) => Node | undefined; overlapsClaim: (c: Cidr) => boolean },
): Outcome | null {
  const cidr = parseCidr(l.cidr);
  const pool = cidr && cidr.family === 4 ? ctx.poolOf(cidr) : undefined;
  if (!cidr || !pool || ctx.overlapsClaim(cidr)) return null;
  const viaNode = ctx.nodeAt(l.nextHop);
  const remoteAddr = viaNode ? nodeAddress(viaNode) : null;
  const { encap, reason } = remoteAddr ? resolveEncap(pool, ctx.localAddr, remoteAddr) : { encap: Encap.None, reason: 'next hop is no node -> plain' };
  const entry = remoteRoute(cidr.network, pool, encap, ctx.localAddr, l.nextHop, viaNode);
  return {
    cidr: cidr.network,
    node: viaNode?.metadata.name ?? null,
    claim: { entry, owner: `BGP route ${cidr.network} via ${l.nextHop}` },
    reason: `learned over BGP from ${l.nextHop}; ${reason}`,
  };
}

export function resolveEncap(pool: PoolInfo, local: NodeAddress | null, remote: NodeAddress): { encap: Encap; reason: string } {
  const name = encapName(pool.encap);
  if (pool.encap === Encap.None) return { encap: Encap.None, reason: 'ipipMode and vxlanMode Never -> plain' };
  if (pool.mode === 'Always') return { encap: pool.encap, reason: flat('Always -> ', name) };
  if (!local) return { encap: pool.encap, reason: `CrossSubnet: this node has no recorded address -> ${name}` };
  const subnet = local.subnet.network;
  const ip = parseIp(remote.addr)!;
  if (cidrContainsIp(local.subnet, ip.family, ip.value)) {
    return { encap: Encap.None, reason: flat('CrossSubnet: ', subnet, ' contains ', remote.addr, ' -> plain') };
  }
  const hint = local.subnet.prefix === 32 ? ' (a /32 node address makes CrossSubnet behave as Always)' : '';
  return { encap: pool.encap, reason: flat('CrossSubnet: ', subnet, ' does not contain ', remote.addr, ' -> ', name, hint) };
}

/** One outcome per address of a local workload, in sorted address order (its claim order). */
export function workloadOutcomes(w: WorkloadEndpoint, localNode: string, flagsOf: (c: Cidr) => number): Outcome[] {
  const who = w.spec.pod ? `${w.spec.namespace ?? 'default'}/${w.spec.pod}` : w.metadata.name;
  return [...w.spec.ipNetworks].sort(compareCidrText).map((net): Outcome => {
    const c = parseCidr(net);
    if (!c || c.family !== 4 || c.prefix !== 32) {
      return { cidr: net, node: localNode, claim: null, reason: `workload ${who}: only IPv4 /32 addresses are routed` };
    }
    const entry: RouteEntry = {
      cidr: c.network,
      kind: RouteKind.LocalWorkload,
      encap: Encap.None,
      flags: flagsOf(c),
      ifindex: w.spec.hostIfindex,
      nextHop: ZERO_IP,
      dstMac: w.spec.mac.toLowerCase(),
      srcMac: w.spec.hostMac.toLowerCase(),
    };
    return { cidr: c.network, node: localNode, claim: { entry, owner: `workload ${who}` }, reason: `workload ${who} on ${w.spec.hostInterface} (ifindex ${w.spec.hostIfindex})` };
  });
}

/**
 * The local node's tunnel addresses (VXLAN first, then IPIP), and the one the data path uses. Calico gives a
 * node a tunnel address only from an encapsulating pool that selects it; an address left on the Node after the
 * pools changed is not the host's any more and is not claimed.
 */
export function tunnelOutcomes(
  local: Node | undefined,
  localNode: string,
  localEncaps: readonly Encap[],
  flagsOf: (c: Cidr) => number,
): { outcomes: Array<{ slot: number; outcome: Outcome }>; tunnelAddr: string } {
  const candidates: Array<[Encap, string | undefined, string]> = [
    [Encap.Vxlan, local?.spec.ipv4VXLANTunnelAddr, 'VXLAN'],
    [Encap.Ipip, local?.spec.bgp?.ipv4IPIPTunnelAddr, 'IPIP'],
  ];
  const outcomes: Array<{ slot: number; outcome: Outcome }> = [];
  let tunnelAddr = ZERO_IP;
  candidates.forEach(([encap, addr, label], slot) => {
    if (!addr) return;
    const skip = (cidr: string, reason: string) => outcomes.push({ slot, outcome: { cidr, node: localNode, claim: null, reason } });
    const ip = parseIp(addr);
    if (!ip || ip.family !== 4) return skip(addr, `${label} tunnel address is not IPv4`);
    if (!localEncaps.includes(encap)) return skip(`${addr}/32`, `${label} tunnel address ignored: no ${label} pool selects this node`);
    const c = parseCidr(`${addr}/32`)!;
    const entry: RouteEntry = { ...BASE, cidr: c.network, kind: RouteKind.LocalHost, flags: flagsOf(c) };
    outcomes.push({ slot, outcome: { cidr: c.network, node: localNode, claim: { entry, owner: `${label} tunnel address of ${localNode}` }, reason: `${label} tunnel address of this node` } });
    if (tunnelAddr === ZERO_IP) tunnelAddr = addr;
  });
  return { outcomes, tunnelAddr };
}

export function knownNodeEntry(n: Node, addr: string, flags: number): KnownNodeEntry {
  return { addr, vtepMac: vtepMacOf(n), flags, tunnelAddr: n.spec.ipv4VXLANTunnelAddr || n.spec.bgp?.ipv4IPIPTunnelAddr || ZERO_IP };
}

export const sharedAddressWarning = (owner: string, node: string, addr: string) => `nodes ${owner} and ${node} share address ${addr}; ${node} ignored`;

export function uniqueSortedEncaps(encaps: Iterable<Encap>): Encap[] {
  return [...new Set(encaps)].filter((e) => e !== Encap.None).sort((a, b) => a - b);
}

/** The sort key of a CIDR text: network then prefix for IPv4, Infinity (then text order) for anything else. */
export function cidrKey(text: string): number {
  const key = ipv4CidrSortKey(text);
  return Number.isNaN(key) ? Infinity : key;
}

/** Orders CIDR texts by their keys; two non-IPv4 texts by compareCidrText. */
export function compareCidrKeyed(ka: number, ta: string, kb: number, tb: string): number {
  return ka !== kb ? ka - kb : ka === Infinity ? compareCidrText(ta, tb) : 0;
}

/** The order of routeDecisions before ties (which keep claim order). */
export function compareDecisions(a: RouteDecision, b: RouteDecision, ka = cidrKey(a.cidr), kb = cidrKey(b.cidr)): number {
  return (
    compareCidrKeyed(ka, a.cidr, kb, b.cidr) ||
    (a.node ?? '').localeCompare(b.node ?? '') ||
    (a.kind ?? 0) - (b.kind ?? 0) ||
    a.reason.localeCompare(b.reason)
  );
}

export const byName = <T extends { metadata: { name: string } }>(a: T, b: T) =>
  a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;

export const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
