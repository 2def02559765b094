// SPDX-License-Identifier: Apache-2.0
// The compiler: datastore resources + this node's identity -> the exact BPF map contents and nftables
// inputs for this node. Pure and deterministic (input order never matters), so the reconciler can diff its
// output against the kernel and tests can pin every entry. It is the oracle of the incremental compiler: both
// turn each input into claims with the resolvers of resolve.ts; this one combines them in one pass.
import { NodeFlags, RouteFlags, RouteKind, ZERO_IP, type KnownNodeEntry, type RouteEntry } from '../maps/layout.js';
import { cidrContains, compareCidrText, compareIpText, networkOf, parseCidr, parseIp, type Cidr } from '../model/cidr.js';
import type { Node } from '../model/types.js';
import { matchesSelector } from '../selector/index.js';
import { workloadMtu } from './mtu.js';
import { compileSourceAllow } from './source-allow.js';
import {
  PRIORITY,
  blockOutcome,
  byName,
  cidrKey,
  compareCidrKeyed,
  compareDecisions,
  compareText,
  ignoredClaim,
  ignoredDecision,
  knownNodeEntry,
  learnedOutcome,
  localNodeWarnings,
  nodeAddress,
  overriddenClaim,
  placedDecision,
  poolContaining,
  poolOutcome,
  resolvePool,
  sharedAddressWarning,
  skipDecision,
  tunnelOutcomes,
  uniqueSortedEncaps,
  workloadOutcomes,
  type Outcome,
  type PoolInfo,
} from './resolve.js';
import type { CompileInput, DesiredState, RouteDecision } from './types.js';

export { encapName, nodeAddress, poolEncap } from './resolve.js';

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

/** Sorts by CIDR (network, then prefix) with each key computed once; ties by `tie`, then input order. */
function sortByCidr<T>(items: readonly T[], cidrOf: (t: T) => string, tie: (a: T, b: T) => number = () => 0): T[] {
  const keyed = items.map((item) => ({ item, text: cidrOf(item), key: cidrKey(cidrOf(item)) }));
  keyed.sort((a, b) => compareCidrKeyed(a.key, a.text, b.key, b.text) || tie(a.item, b.item));
  return keyed.map((k) => k.item);
}

export function checkUplinkMtu(uplinkMtu: number): void {
  if (!Number.isInteger(uplinkMtu) || uplinkMtu < 576 || uplinkMtu > 65535) {
    throw new RangeError(`uplinkMtu must be an integer between 576 and 65535, got ${uplinkMtu}`);
  }
}

/** Route claims in claim order; the first claim at a prefix holds it until one of higher priority comes. */
class RouteArbiter {
  readonly routes = new Map<string, { entry: RouteEntry; owner: string }>();
  readonly decisions: RouteDecision[] = [];
  readonly warnings: string[] = [];

  add(o: Outcome): void {
    if (!o.claim) {
      this.decisions.push(skipDecision(o));
      return;
    }
    const { entry, owner } = o.claim;
    const held = this.routes.get(entry.cidr);
    if (held && PRIORITY[held.entry.kind] >= PRIORITY[entry.kind]) {
      const reason = ignoredClaim(entry.cidr, held.owner, owner);
      this.warnings.push(reason);
      this.decisions.push(ignoredDecision(o, entry, reason));
      return;
    }
    if (held) this.warnings.push(overriddenClaim(entry.cidr, held.owner, owner));
    this.routes.set(entry.cidr, { entry, owner });
    this.decisions.push(placedDecision(o, entry));
  }
}

function poolsPass(input: CompileInput, warnings: string[]): PoolInfo[] {
  const pools: PoolInfo[] = [];
  for (const pool of [...input.pools].sort(byName)) {
    const { info, warning } = resolvePool(pool);
    if (warning) warnings.push(warning);
    if (info) pools.push(info);
  }
  return pools;
}

/** Every other node with an address, once per address (the first by name keeps it). */
function knownNodesPass(nodes: readonly Node[], localNode: string, warnings: string[]) {
  const allowFlags = NodeFlags.AllowIpip | NodeFlags.AllowVxlan;
  const knownNodes = new Map<string, KnownNodeEntry>();
  const knownOwner = new Map<string, string>();
  const clusterHosts = new Set<string>();
  for (const n of nodes) {
    const a = nodeAddress(n);
    if (!a) continue;
    clusterHosts.add(a.addr);
    if (n.metadata.name === localNode) continue;
    const owner = knownOwner.get(a.addr);
    if (owner !== undefined) {
      warnings.push(sharedAddressWarning(owner, n.metadata.name, a.addr));
      continue;
    }
    knownOwner.set(a.addr, n.metadata.name);
    knownNodes.set(a.addr, knownNodeEntry(n, a.addr, allowFlags));
  }
  return { knownNodes: [...knownNodes.values()].sort((a, b) => compareIpText(a.addr, b.addr)), clusterHosts: [...clusterHosts].sort(compareIpText) };
}

export function compile(input: CompileInput): DesiredState {
  checkUplinkMtu(input.uplinkMtu);
  const warnings: string[] = [];
  const pools = poolsPass(input, warnings);
  const poolOf = (c: Cidr): PoolInfo | undefined => poolContaining(pools, c);
  const flagsOf = (c: Cidr) => poolOf(c)?.flags ?? 0;

  const nodes = [...input.nodes].sort(byName);
  const nodeByName = new Map(nodes.map((n) => [n.metadata.name, n]));
  const local = nodeByName.get(input.localNode);
  const localAddr = nodeAddress(local);
  warnings.push(...localNodeWarnings(input.localNode, local, localAddr));
  const localLabels = local?.metadata.labels ?? {};
  const localEncaps = uniqueSortedEncaps(pools.filter((p) => p.selector !== null && matchesSelector(p.selector, localLabels)).map((p) => p.encap));
  const encapsInUse = uniqueSortedEncaps(pools.map((p) => p.encap));

  // Claim order: pools by name, blocks by CIDR then node, local workloads by name, tunnel addresses, learned routes.
  const routes = new RouteArbiter();
  for (const p of pools) routes.add(poolOutcome(p));
  const blockCtx = { localNode: input.localNode, localAddr, poolOf, nodeOf: (name: string) => nodeByName.get(name) };
  for (const ba of sortByCidr(input.blockAffinities, (b) => b.spec.cidr, (a, b) => compareText(a.spec.node, b.spec.node))) {
    routes.add(blockOutcome(ba, blockCtx));
  }
  for (const w of input.workloads.filter((w) => w.spec.node === input.localNode).sort(byName)) {
    for (const o of workloadOutcomes(w, input.localNode, flagsOf)) routes.add(o);
  }
  const tunnels = tunnelOutcomes(local, input.localNode, localEncaps, flagsOf);
  for (const { outcome } of tunnels.outcomes) routes.add(outcome);

  // Routes learned over BGP fill only what the datastore leaves open (the claims so far, pools aside).
  const claimed = [...routes.routes.values()].filter((r) => r.entry.kind !== RouteKind.Pool).map((r) => parseCidr(r.entry.cidr)!);
  const addressOfNode = new Map(nodes.flatMap((n) => (nodeAddress(n) ? [[nodeAddress(n)!.addr, n] as const] : [])));
  const learnedCtx = {
    localAddr,
    poolOf,
    nodeAt: (addr: string) => addressOfNode.get(addr),
    overlapsClaim: (c: Cidr) => claimed.some((x) => cidrContains(x, c) || cidrContains(c, x)),
  };
  for (const l of sortByCidr(input.learnedRoutes ?? [], (l) => l.cidr)) {
    const o = learnedOutcome(l, learnedCtx);
    if (o) routes.add(o);
  }
  warnings.push(...routes.warnings);

  // A known node may send either encapsulation, whatever the pools say right now: while a pool changes mode,
  // the nodes switch one after the other, and packets already in flight (or sent by a node whose agent has not
  // caught up) must still be accepted. The guard against injection is the sender being a cluster node.
  const { knownNodes, clusterHosts } = knownNodesPass(nodes, input.localNode, warnings);

  // to_uplink looks a destination up among the nodes only where one can be: a remote block holding no node's
  // address says so (a pool overlapping the underlay is the exception this guards).
  // clusterHosts is sorted by address: one binary search per route instead of a scan of every host.
  const hosts = clusterHosts.map((a) => Number(parseIp(a)!.value));
  for (const { entry } of routes.routes.values()) {
    if (entry.kind !== RouteKind.RemoteBlock) continue;
    const c = parseCidr(entry.cidr)!;
    const lo = Number(networkOf(c));
    let i = 0;
    for (let hi = hosts.length; i < hi; ) {
      const mid = (i + hi) >>> 1;
      if (hosts[mid] < lo) i = mid + 1;
      else hi = mid;
    }
    if (!(i < hosts.length && hosts[i] <= lo + 2 ** (32 - c.prefix) - 1)) entry.flags |= RouteFlags.NoClusterNode;
  }

  const sortedPools = [...pools].sort((a, b) => compareCidrText(a.cidr.network, b.cidr.network));
  const decisions = routes.decisions.map((d) => ({ d, k: cidrKey(d.cidr) }));
  decisions.sort((a, b) => compareDecisions(a.d, b.d, a.k, b.k));
  return {
    localNode: input.localNode,
    routes: sortByCidr([...routes.routes.values()].map((r) => r.entry), (r) => r.cidr),
    knownNodes,
    settings: { tunnelAddr: tunnels.tunnelAddr, uplinkMtu: input.uplinkMtu },
    sourceAllow: compileSourceAllow(input.workloads, input.localNode, (name) => nodeAddress(nodeByName.get(name))?.addr ?? null, warnings),
    natOutgoing: {
      natPools: sortedPools.filter((p) => p.pool.spec.natOutgoing).map((p) => p.cidr.network),
      allPools: sortedPools.map((p) => p.cidr.network),
      clusterHosts,
    },
    workloadMtu: workloadMtu(input.uplinkMtu, localEncaps, input.config.mtu),
    encapsInUse,
    localEncaps,
    localNodeAddress: localAddr?.addr ?? null,
    routeDecisions: decisions.map((x) => x.d),
    warnings,
  };
}
