// SPDX-License-Identifier: Apache-2.0
// What BGP should look like on one node, decided from the datastore alone (pure): is BGP on, which AS and
// router id, which sessions (mesh, global and node-specific BGPPeers, route-reflector clients) and which
// prefixes are advertised. The BIRD text is rendered from this plan, and `status` labels live sessions with it.
import { nodeAddress } from '../compile/compile.js';
import { cidrContains, compareCidrText, parseCidr, type Cidr } from '../model/cidr.js';
import {
  DEFAULT_BGP_PORT,
  effectiveBgpConfig,
  nodeBgpConfigName,
  parseAsNumber,
  parseDurationSeconds,
  parsePeerAddress,
  type LogSeverity,
} from '../model/bgp.js';
import type { BGPConfiguration, BGPPeer, BlockAffinity, IPPool, Node, WorkloadEndpoint } from '../model/types.js';
import { selects } from '../selector/index.js';

export interface BgpInputs {
  localNode: string;
  configs: readonly BGPConfiguration[];
  peers: readonly BGPPeer[];
  nodes: readonly Node[];
  pools: readonly IPPool[];
  blockAffinities: readonly BlockAffinity[];
  /** Workloads of every node; only the local node's addresses outside its blocks are advertised as /32s. */
  workloads: readonly WorkloadEndpoint[];
}

/** The PEER TYPE column of `calicoctl node status`. */
export type PeerType = 'node-to-node mesh' | 'global' | 'node specific';

export interface PeerPlan {
  /** BIRD protocol name, as Calico names them: Mesh_10_0_0_2, Global_10_0_0_1, Node_10_0_0_1_port_1790. */
  name: string;
  type: PeerType;
  ip: string;
  port?: number;
  asNumber: number;
  /** Our end of the TCP session (absent for sourceAddress: None). */
  sourceAddress?: string;
  /** Calico nodes let the one with the lexically greater address connect (both would collide otherwise). */
  passive: boolean;
  /** We are a route reflector and this iBGP peer is one of our clients. */
  rrClient: boolean;
  keepNextHop: boolean;
  /** Graceful-restart time in seconds (BGPPeer maxRestartTime). */
  restartTime?: number;
}

export interface BgpPlan {
  enabled: boolean;
  /** Why BGP is on or off, for logs and status. */
  reason: string;
  node: string;
  routerId: string | null;
  asNumber: number;
  listenPort: number;
  logSeverity: LogSeverity;
  routeReflectorClusterId?: string;
  peers: PeerPlan[];
  /** Prefixes this node originates: its blocks and the /32s it holds outside them (pools without disableBGPExport). */
  advertised: string[];
  /** This node's blocks kept to itself because their pool has disableBGPExport. */
  withheld: string[];
  /** IPv4 CIDRs of the pools whose routes may be reflected to route-reflector clients. */
  exportablePools: string[];
  warnings: string[];
}

const byName = <T extends { metadata: { name: string } }>(a: T, b: T) => a.metadata.name.localeCompare(b.metadata.name);

export function peerSelectsNode(peer: BGPPeer, node: Node): boolean {
  if (peer.spec.node) return peer.spec.node === node.metadata.name;
  if (peer.spec.nodeSelector) return selects(peer.spec.nodeSelector, node.metadata.labels ?? {});
  return true;
}

/** Calico runs BGP when configured for BGP; here: a BGPConfiguration for the node exists, or a BGPPeer selects it. */
export function bgpEnabledFor(node: Node, configs: readonly BGPConfiguration[], peers: readonly BGPPeer[]): string | null {
  const config = configs.find((c) => c.metadata.name === 'default' || c.metadata.name === nodeBgpConfigName(node.metadata.name));
  if (config) return `BGPConfiguration ${config.metadata.name}`;
  const peer = [...peers].sort(byName).find((p) => peerSelectsNode(p, node));
  return peer ? `BGPPeer ${peer.metadata.name} selects this node` : null;
}

const protocolName = (prefix: string, ip: string, port?: number) =>
  `${prefix}_${ip.replace(/\./g, '_')}${port ? `_port_${port}` : ''}`;

export function planBgp(input: BgpInputs): BgpPlan {
  const warnings: string[] = [];
  const config = effectiveBgpConfig(input.configs, input.localNode);
  const nodes = [...input.nodes].sort(byName);
  const self = nodes.find((n) => n.metadata.name === input.localNode);
  const selfAddr = nodeAddress(self)?.addr ?? null;
  const asOf = (n: Node) => parseAsNumber(n.spec.bgp?.asNumber) ?? config.asNumber;
  const base: BgpPlan = {
    enabled: false,
    reason: '',
    node: input.localNode,
    routerId: selfAddr,
    asNumber: self ? asOf(self) : config.asNumber,
    listenPort: config.listenPort,
    logSeverity: config.logSeverityScreen,
    peers: [],
    advertised: [],
    withheld: [],
    exportablePools: [],
    warnings,
  };
  if (!self) return { ...base, reason: `node ${input.localNode} has no Node resource` };
  const why = bgpEnabledFor(self, input.configs, input.peers);
  if (!why) return { ...base, reason: 'no BGPConfiguration and no BGPPeer selects this node' };
  if (!selfAddr) return { ...base, reason: `${why}, but the node has no spec.bgp.ipv4Address for a router id` };

  const clusterId = self.spec.bgp?.routeReflectorClusterID || undefined;
  const localAs = base.asNumber;
  const peers: PeerPlan[] = [];
  const taken = new Set<string>();
  const addPeer = (p: PeerPlan, owner: string) => {
    const key = `${p.ip}:${p.port ?? DEFAULT_BGP_PORT}`;
    if (p.ip === selfAddr) return;
    if (taken.has(key)) {
      warnings.push(`${owner}: a session with ${key} already exists; not added twice`);
      return;
    }
    taken.add(key);
    peers.push(p);
  };
  // Calico: the side with the lexically greater address waits for the other (string comparison, as confd does).
  const passiveTowards = (ip: string) => ip > selfAddr;
  const rrClientOf = (peerAs: number, peerCluster: string | undefined) =>
    clusterId !== undefined && peerAs === localAs && peerCluster !== clusterId;
  const nodeByAddress = new Map(nodes.flatMap((n) => (nodeAddress(n) ? [[nodeAddress(n)!.addr, n] as const] : [])));

  if (config.nodeToNodeMeshEnabled) {
    for (const n of nodes) {
      const addr = nodeAddress(n)?.addr;
      if (n === self || !addr || !bgpEnabledFor(n, input.configs, input.peers)) continue;
      const peerAs = asOf(n);
      const port = effectiveBgpConfig(input.configs, n.metadata.name).listenPort;
      addPeer(
        {
          name: protocolName('Mesh', addr),
          type: 'node-to-node mesh',
          ip: addr,
          port: port === DEFAULT_BGP_PORT ? undefined : port,
          asNumber: peerAs,
          sourceAddress: selfAddr,
          passive: passiveTowards(addr),
          rrClient: rrClientOf(peerAs, n.spec.bgp?.routeReflectorClusterID),
          keepNextHop: false,
        },
        `mesh peer ${n.metadata.name}`,
      );
    }
  }

  for (const peer of [...input.peers].sort(byName)) {
    if (!peerSelectsNode(peer, self)) continue;
    const s = peer.spec;
    const type: PeerType = s.node || s.nodeSelector ? 'node specific' : 'global';
    const prefix = type === 'global' ? 'Global' : 'Node';
    const common = {
      type,
      sourceAddress: s.sourceAddress === 'None' ? undefined : selfAddr,
      keepNextHop: s.keepOriginalNextHop === true,
      restartTime: s.maxRestartTime ? (parseDurationSeconds(s.maxRestartTime) ?? undefined) : undefined,
    };
    if (s.peerIP) {
      const target = parsePeerAddress(s.peerIP);
      const peerAs = parseAsNumber(s.asNumber);
      if (!target || peerAs === null) {
        warnings.push(`BGPPeer ${peer.metadata.name}: invalid peerIP or asNumber; ignored`);
        continue;
      }
      const calicoNode = nodeByAddress.get(target.ip);
      addPeer(
        {
          ...common,
          name: protocolName(prefix, target.ip, target.port),
          ip: target.ip,
          port: target.port,
          asNumber: peerAs,
          passive: calicoNode !== undefined && type === 'global' && passiveTowards(target.ip),
          rrClient: calicoNode !== undefined && rrClientOf(peerAs, calicoNode.spec.bgp?.routeReflectorClusterID),
        },
        `BGPPeer ${peer.metadata.name}`,
      );
    } else if (s.peerSelector) {
      for (const n of nodes) {
        const addr = nodeAddress(n)?.addr;
        if (n === self || !addr || !selects(s.peerSelector, n.metadata.labels ?? {})) continue;
        const peerAs = asOf(n);
        addPeer(
          {
            ...common,
            name: protocolName(prefix, addr),
            ip: addr,
            asNumber: peerAs,
            passive: type === 'global' && passiveTowards(addr),
            rrClient: rrClientOf(peerAs, n.spec.bgp?.routeReflectorClusterID),
          },
          `BGPPeer ${peer.metadata.name} (node ${n.metadata.name})`,
        );
      }
    }
  }

  const pools = input.pools
    .map((p) => ({ pool: p, cidr: parseCidr(p.spec.cidr) }))
    .filter((p): p is { pool: IPPool; cidr: Cidr } => p.cidr !== null && p.cidr.family === 4);
  const poolOf = (c: Cidr) => pools.find((p) => cidrContains(p.cidr, c));
  const advertised = new Set<string>();
  const withheld = new Set<string>();
  const localBlocks: Cidr[] = [];
  for (const ba of input.blockAffinities) {
    if (ba.spec.node !== input.localNode || ba.spec.deleted) continue;
    const cidr = parseCidr(ba.spec.cidr);
    const pool = cidr && cidr.family === 4 ? poolOf(cidr) : undefined;
    if (!cidr || !pool) continue;
    localBlocks.push(cidr);
    (pool.pool.spec.disableBGPExport ? withheld : advertised).add(cidr.network);
  }
  for (const w of input.workloads) {
    if (w.spec.node !== input.localNode) continue;
    for (const net of w.spec.ipNetworks) {
      const c = parseCidr(net);
      if (!c || c.family !== 4 || c.prefix !== 32 || localBlocks.some((b) => cidrContains(b, c))) continue;
      const pool = poolOf(c);
      if (pool) (pool.pool.spec.disableBGPExport ? withheld : advertised).add(c.network);
    }
  }

  return {
    ...base,
    enabled: true,
    reason: why,
    routeReflectorClusterId: clusterId,
    peers,
    advertised: [...advertised].sort(compareCidrText),
    withheld: [...withheld].sort(compareCidrText),
    exportablePools: pools.filter((p) => !p.pool.spec.disableBGPExport).map((p) => p.cidr.network).sort(compareCidrText),
  };
}
