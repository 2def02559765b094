// SPDX-License-Identifier: Apache-2.0
// The compiler: datastore resources + this node's identity -> the exact BPF map contents and nftables
// inputs for this node. Pure and deterministic (input order never matters), so the reconciler can diff its
// output against the kernel and tests can pin every entry.
import {
  Encap,
  NodeFlags,
  RouteFlags,
  RouteKind,
  ZERO_IP,
  ZERO_MAC,
  type KnownNodeEntry,
  type RouteEntry,
} from '../maps/layout.js';
import {
  cidrContains,
  cidrContainsIp,
  compareCidrText,
  compareIpText,
  ipv4CidrSortKey,
  parseCidr,
  parseIp,
  type Cidr,
} from '../model/cidr.js';
import type { EncapMode, IPPool, Node } from '../model/types.js';
import { vtepMacOf } from '../model/vtep.js';
import { matchesSelector, parseSelector, type SelectorNode } from '../selector/index.js';
import { workloadMtu } from './mtu.js';
import { compileSourceAllow } from './source-allow.js';
import type { CompileInput, DesiredState, RouteDecision } from './types.js';

export function encapName(e: Encap): string {
  return e === Encap.Ipip ? 'ipip' : e === Encap.Vxlan ? 'vxlan' : 'plain';
}

export function routeKindName(k: RouteKind): string {
  switch (k) {
    case RouteKind.LocalWorkload:
      return 'local-workload';
    case RouteKind.LocalBlock:
      return 'local-block';
    case RouteKind.RemoteBlock:
      return 'remote-block';
    case RouteKind.Pool:
      return 'pool';
    case RouteKind.LocalHost:
      return 'local-host';
  }
}

/** Calico's rule: VXLAN if vxlanMode is not Never, else IPIP if ipipMode is not Never, else none. */
export function poolEncap(pool: IPPool): { encap: Encap; mode: EncapMode } {
  if (pool.spec.vxlanMode !== 'Never') return { encap: Encap.Vxlan, mode: pool.spec.vxlanMode };
  if (pool.spec.ipipMode !== 'Never') return { encap: Encap.Ipip, mode: pool.spec.ipipMode };
  return { encap: Encap.None, mode: 'Never' };
}

interface PoolInfo {
  pool: IPPool;
  cidr: Cidr;
  encap: Encap;
  mode: EncapMode;
  flags: number;
  selector: SelectorNode | null;
}

interface NodeAddress {
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

// When two inputs claim the same prefix the more specific owner wins: a workload over the host's tunnel
// address over a block over a pool. Equal claims keep the first in sorted input order.
const PRIORITY: Readonly<Record<RouteKind, number>> = {
  [RouteKind.LocalWorkload]: 5,
  [RouteKind.LocalHost]: 4,
  [RouteKind.LocalBlock]: 3,
  [RouteKind.RemoteBlock]: 2,
  [RouteKind.Pool]: 1,
};

/** Sorts by CIDR (network, then prefix) with each key computed once; ties by `tie`. Non-IPv4 texts sort last. */
function sortByCidr<T>(items: T[], cidrOf: (t: T) => string, tie: (a: T, b: T) => number = () => 0): T[] {
  const keyed = items.map((item) => {
    const text = cidrOf(item);
    const key = ipv4CidrSortKey(text);
    return { item, text, key: Number.isNaN(key) ? Infinity : key };
  });
  keyed.sort((a, b) =>
    a.key !== b.key ? a.key - b.key : a.key === Infinity ? compareCidrText(a.text, b.text) || tie(a.item, b.item) : tie(a.item, b.item),
  );
  return keyed.map((k) => k.item);
}

const byName = <T extends { metadata: { name: string } }>(a: T, b: T) =>
  a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;

function uniqueSorted(encaps: Iterable<Encap>): Encap[] {
  return [...new Set(encaps)].filter((e) => e !== Encap.None).sort((a, b) => a - b);
}

export function compile(input: CompileInput): DesiredState {
  if (!Number.isInteger(input.uplinkMtu) || input.uplinkMtu < 576 || input.uplinkMtu > 65535) {
    throw new RangeError(`uplinkMtu must be an integer between 576 and 65535, got ${input.uplinkMtu}`);
  }
  const warnings: string[] = [];
  const decisions: RouteDecision[] = [];
  const routes = new Map<string, { entry: RouteEntry; owner: string }>();

  const pools: PoolInfo[] = [];
  for (const pool of [...input.pools].sort(byName)) {
    const cidr = parseCidr(pool.spec.cidr);
    if (!cidr) {
      warnings.push(`IPPool ${pool.metadata.name}: invalid cidr ${JSON.stringify(pool.spec.cidr)}, ignored`);
      continue;
    }
    if (cidr.family !== 4) {
      warnings.push(`IPPool ${pool.metadata.name}: IPv6 pool ${pool.spec.cidr} ignored, the data plane is IPv4-only`);
      continue;
    }
    let selector: SelectorNode | null = null;
    try {
      selector = parseSelector(pool.spec.nodeSelector ?? '');
    } catch (e) {
      warnings.push(`IPPool ${pool.metadata.name}: ${(e as Error).message}; it selects no node`);
    }
    const { encap, mode } = poolEncap(pool);
    const flags = RouteFlags.InPool | (pool.spec.natOutgoing ? RouteFlags.NatOutgoing : 0);
    pools.push({ pool, cidr, encap, mode, flags, selector });
  }
  const poolOf = (c: Cidr): PoolInfo | undefined => pools.find((p) => cidrContains(p.cidr, c));
  const flagsOf = (c: Cidr) => poolOf(c)?.flags ?? 0;

  const nodes = [...input.nodes].sort(byName);
  const nodeByName = new Map(nodes.map((n) => [n.metadata.name, n]));
  const local = nodeByName.get(input.localNode);
  if (!local) warnings.push(`local node ${input.localNode} has no Node resource: no tunnel address, CrossSubnet always encapsulates`);
  const localAddr = nodeAddress(local);
  if (local && !localAddr) warnings.push(`local node ${input.localNode} has no spec.bgp.ipv4Address: CrossSubnet always encapsulates`);
  const localLabels = local?.metadata.labels ?? {};
  const localPools = pools.filter((p) => p.selector !== null && matchesSelector(p.selector, localLabels));
  const localEncaps = uniqueSorted(localPools.map((p) => p.encap));
  const encapsInUse = uniqueSorted(pools.map((p) => p.encap));

  const put = (entry: RouteEntry, owner: string, decision: Omit<RouteDecision, 'cidr' | 'kind' | 'encap' | 'nextHop'>) => {
    const held = routes.get(entry.cidr);
    if (held && PRIORITY[held.entry.kind] >= PRIORITY[entry.kind]) {
      const reason = `conflict: ${entry.cidr} already belongs to ${held.owner}; ${owner} ignored`;
      warnings.push(reason);
      decisions.push({ cidr: entry.cidr, kind: null, node: decision.node, encap: entry.encap, nextHop: entry.nextHop, reason });
      return;
    }
    if (held) warnings.push(`conflict: ${entry.cidr} of ${held.owner} overridden by ${owner}`);
    routes.set(entry.cidr, { entry, owner });
    decisions.push({ cidr: entry.cidr, kind: entry.kind, encap: entry.encap, nextHop: entry.nextHop, ...decision });
  };
  const skip = (cidr: string, node: string | null, reason: string) =>
    decisions.push({ cidr, kind: null, node, encap: Encap.None, nextHop: ZERO_IP, reason });
  const base = { ifindex: 0, nextHop: ZERO_IP, dstMac: ZERO_MAC, srcMac: ZERO_MAC, encap: Encap.None };

  for (const p of pools) {
    const state = p.pool.spec.disabled ? ', disabled' : '';
    put({ ...base, cidr: p.cidr.network, kind: RouteKind.Pool, flags: p.flags }, `IPPool ${p.pool.metadata.name}`, {
      node: null,
      reason: `IPPool ${p.pool.metadata.name} (${encapName(p.encap)} ${p.mode}${p.pool.spec.natOutgoing ? ', natOutgoing' : ''}${state})`,
    });
  }

  const affinities = sortByCidr([...input.blockAffinities], (b) => b.spec.cidr, (a, b) =>
    a.spec.node < b.spec.node ? -1 : a.spec.node > b.spec.node ? 1 : 0,
  );
  for (const ba of affinities) {
    const cidr = parseCidr(ba.spec.cidr);
    const nodeName = ba.spec.node;
    if (!cidr) {
      skip(ba.spec.cidr, nodeName, 'invalid block CIDR');
      continue;
    }
    if (cidr.family !== 4) {
      skip(ba.spec.cidr, nodeName, 'IPv6 block ignored: the data plane is IPv4-only');
      continue;
    }
    if (ba.spec.deleted) {
      skip(cidr.network, nodeName, 'block affinity is deleted');
      continue;
    }
    const pool = poolOf(cidr);
    if (!pool) {
      skip(cidr.network, nodeName, 'no IPPool contains this block');
      continue;
    }
    const owner = `block ${cidr.network} of ${nodeName}`;
    if (nodeName === input.localNode) {
      put({ ...base, cidr: cidr.network, kind: RouteKind.LocalBlock, flags: pool.flags }, owner, {
        node: nodeName,
        reason: `block of this node (IPPool ${pool.pool.metadata.name})`,
      });
      continue;
    }
    const remote = nodeByName.get(nodeName);
    const remoteAddr = nodeAddress(remote);
    if (!remoteAddr) {
      skip(cidr.network, nodeName, remote ? `node ${nodeName} has no spec.bgp.ipv4Address` : `node ${nodeName} has no Node resource`);
      continue;
    }
    const { encap, reason } = resolveEncap(pool, localAddr, remoteAddr);
    put(
      {
        cidr: cidr.network,
        kind: RouteKind.RemoteBlock,
        encap,
        flags: pool.flags | viaFibFlag(encap, localAddr, remoteAddr.addr),
        ifindex: 0,
        nextHop: remoteAddr.addr,
        dstMac: encap === Encap.Vxlan ? vtepMacOf(remote!) : ZERO_MAC,
        srcMac: ZERO_MAC,
      },
      owner,
      { node: nodeName, reason },
    );
  }

  const workloads = input.workloads.filter((w) => w.spec.node === input.localNode).sort(byName);
  for (const w of workloads) {
    const who = w.spec.pod ? `${w.spec.namespace ?? 'default'}/${w.spec.pod}` : w.metadata.name;
    for (const net of [...w.spec.ipNetworks].sort(compareCidrText)) {
      const c = parseCidr(net);
      if (!c || c.family !== 4 || c.prefix !== 32) {
        skip(net, input.localNode, `workload ${who}: only IPv4 /32 addresses are routed`);
        continue;
      }
      put(
        {
          cidr: c.network,
          kind: RouteKind.LocalWorkload,
          encap: Encap.None,
          flags: flagsOf(c),
          ifindex: w.spec.hostIfindex,
          nextHop: ZERO_IP,
          dstMac: w.spec.mac.toLowerCase(),
          srcMac: w.spec.hostMac.toLowerCase(),
        },
        `workload ${who}`,
        { node: input.localNode, reason: `workload ${who} on ${w.spec.hostInterface} (ifindex ${w.spec.hostIfindex})` },
      );
    }
  }

  // Calico gives a node a tunnel address only from an encapsulating pool that selects it; an address left on
  // the Node after the pools changed is not the host's any more and is not claimed.
  const tunnelCandidates: Array<[Encap, string | undefined, string]> = [
    [Encap.Vxlan, local?.spec.ipv4VXLANTunnelAddr, 'VXLAN'],
    [Encap.Ipip, local?.spec.bgp?.ipv4IPIPTunnelAddr, 'IPIP'],
  ];
  let settingsTunnelAddr = ZERO_IP;
  for (const [encap, addr, label] of tunnelCandidates) {
    if (!addr) continue;
    const ip = parseIp(addr);
    if (!ip || ip.family !== 4) {
      skip(addr, input.localNode, `${label} tunnel address is not IPv4`);
      continue;
    }
    if (!localEncaps.includes(encap)) {
      skip(`${addr}/32`, input.localNode, `${label} tunnel address ignored: no ${label} pool selects this node`);
      continue;
    }
    const c = parseCidr(`${addr}/32`)!;
    put({ ...base, cidr: c.network, kind: RouteKind.LocalHost, flags: flagsOf(c) }, `${label} tunnel address of ${input.localNode}`, {
      node: input.localNode,
      reason: `${label} tunnel address of this node`,
    });
    if (settingsTunnelAddr === ZERO_IP) settingsTunnelAddr = addr;
  }

  // Routes learned over BGP fill only what the datastore leaves open: a prefix inside a pool that no block,
  // workload or tunnel address of the datastore overlaps (e.g. the blocks of a Calico node in the mesh).
  const learned = sortByCidr([...(input.learnedRoutes ?? [])], (l) => l.cidr);
  const addressOfNode = new Map(nodes.flatMap((n) => (nodeAddress(n) ? [[nodeAddress(n)!.addr, n] as const] : [])));
  const claimed = [...routes.values()].filter((r) => r.entry.kind !== RouteKind.Pool).map((r) => parseCidr(r.entry.cidr)!);
  for (const l of learned) {
    const cidr = parseCidr(l.cidr);
    const pool = cidr && cidr.family === 4 ? poolOf(cidr) : undefined;
    if (!cidr || !pool || claimed.some((c) => cidrContains(c, cidr) || cidrContains(cidr, c))) continue;
    const viaNode = addressOfNode.get(l.nextHop);
    const remoteAddr = viaNode ? nodeAddress(viaNode) : null;
    const { encap, reason } = remoteAddr ? resolveEncap(pool, localAddr, remoteAddr) : { encap: Encap.None, reason: 'next hop is no node -> plain' };
    put(
      {
        cidr: cidr.network,
        kind: RouteKind.RemoteBlock,
        encap,
        flags: pool.flags | viaFibFlag(encap, localAddr, l.nextHop),
        ifindex: 0,
        nextHop: l.nextHop,
        dstMac: encap === Encap.Vxlan && viaNode ? vtepMacOf(viaNode) : ZERO_MAC,
        srcMac: ZERO_MAC,
      },
      `BGP route ${cidr.network} via ${l.nextHop}`,
      { node: viaNode?.metadata.name ?? null, reason: `learned over BGP from ${l.nextHop}; ${reason}` },
    );
  }

  // A known node may send either encapsulation, whatever the pools say right now: while a pool changes mode,
  // the nodes switch one after the other, and packets already in flight (or sent by a node whose agent has not
  // caught up) must still be accepted. The guard against injection is the sender being a cluster node.
  const allowFlags = NodeFlags.AllowIpip | NodeFlags.AllowVxlan;
  const knownNodes = new Map<string, KnownNodeEntry>();
  const knownOwner = new Map<string, string>();
  const clusterHosts = new Set<string>();
  for (const n of nodes) {
    const a = nodeAddress(n);
    if (!a) continue;
    clusterHosts.add(a.addr);
    if (n.metadata.name === input.localNode) continue;
    if (knownNodes.has(a.addr)) {
      warnings.push(`nodes ${knownOwner.get(a.addr)} and ${n.metadata.name} share address ${a.addr}; ${n.metadata.name} ignored`);
      continue;
    }
    knownOwner.set(a.addr, n.metadata.name);
    knownNodes.set(a.addr, {
      addr: a.addr,
      vtepMac: vtepMacOf(n),
      flags: allowFlags,
      tunnelAddr: n.spec.ipv4VXLANTunnelAddr || n.spec.bgp?.ipv4IPIPTunnelAddr || ZERO_IP,
    });
  }

  // to_uplink looks a destination up among the nodes only where one can be: a remote block holding no node's
  // address says so (a pool overlapping the underlay is the exception this guards).
  const hostIps = [...clusterHosts].map((a) => parseIp(a)!);
  for (const { entry } of routes.values()) {
    if (entry.kind !== RouteKind.RemoteBlock) continue;
    const c = parseCidr(entry.cidr)!;
    if (!hostIps.some((ip) => cidrContainsIp(c, ip.family, ip.value))) entry.flags |= RouteFlags.NoClusterNode;
  }

  const sortedPools = [...pools].sort((a, b) => compareCidrText(a.cidr.network, b.cidr.network));
  return {
    localNode: input.localNode,
    routes: sortByCidr([...routes.values()].map((r) => r.entry), (r) => r.cidr),
    knownNodes: [...knownNodes.values()].sort((a, b) => compareIpText(a.addr, b.addr)),
    settings: { tunnelAddr: settingsTunnelAddr, uplinkMtu: input.uplinkMtu },
    sourceAllow: compileSourceAllow(input.workloads, input.localNode, (name) => nodeAddress(nodeByName.get(name))?.addr ?? null, warnings),
    natOutgoing: {
      natPools: sortedPools.filter((p) => p.pool.spec.natOutgoing).map((p) => p.cidr.network),
      allPools: sortedPools.map((p) => p.cidr.network),
      clusterHosts: [...clusterHosts].sort(compareIpText),
    },
    workloadMtu: workloadMtu(input.uplinkMtu, localEncaps, input.config.mtu),
    encapsInUse,
    localEncaps,
    localNodeAddress: localAddr?.addr ?? null,
    routeDecisions: sortByCidr(decisions, (d) => d.cidr, (a, b) =>
        (a.node ?? '').localeCompare(b.node ?? '') ||
        (a.kind ?? 0) - (b.kind ?? 0) ||
        a.reason.localeCompare(b.reason),
    ),
    warnings,
  };
}

/** A plain hop to an address outside our subnet cannot be resolved on-link: the data path asks the host FIB. */
function viaFibFlag(encap: Encap, local: NodeAddress | null, nextHop: string): number {
  if (encap !== Encap.None) return 0;
  const ip = parseIp(nextHop);
  return local && ip && cidrContainsIp(local.subnet, ip.family, ip.value) ? 0 : RouteFlags.ViaFib;
}

function resolveEncap(pool: PoolInfo, local: NodeAddress | null, remote: NodeAddress): { encap: Encap; reason: string } {
  const name = encapName(pool.encap);
  if (pool.encap === Encap.None) return { encap: Encap.None, reason: 'ipipMode and vxlanMode Never -> plain' };
  if (pool.mode === 'Always') return { encap: pool.encap, reason: `Always -> ${name}` };
  if (!local) return { encap: pool.encap, reason: `CrossSubnet: this node has no recorded address -> ${name}` };
  const subnet = local.subnet.network;
  const ip = parseIp(remote.addr)!;
  if (cidrContainsIp(local.subnet, ip.family, ip.value)) {
    return { encap: Encap.None, reason: `CrossSubnet: ${subnet} contains ${remote.addr} -> plain` };
  }
  const hint = local.subnet.prefix === 32 ? ' (a /32 node address makes CrossSubnet behave as Always)' : '';
  return { encap: pool.encap, reason: `CrossSubnet: ${subnet} does not contain ${remote.addr} -> ${name}${hint}` };
}
