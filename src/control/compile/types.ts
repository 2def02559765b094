// SPDX-License-Identifier: Apache-2.0
import type { Encap, KnownNodeEntry, RouteEntry, RouteKind, SettingsEntry, SourceAllowEntry } from '../maps/layout.js';
import type { BlockAffinity, IPPool, Node, OverlayConfigurationSpec, WorkloadEndpoint } from '../model/types.js';

export interface CompileInput {
  pools: readonly IPPool[];
  nodes: readonly Node[];
  blockAffinities: readonly BlockAffinity[];
  /** Workloads of every node; only those of `localNode` become routes. */
  workloads: readonly WorkloadEndpoint[];
  localNode: string;
  /** Effective OverlayConfiguration (see overlayConfigWithDefaults). */
  config: Required<OverlayConfigurationSpec>;
  /** MTU of the uplink that carries the node address, as detected on this host. */
  uplinkMtu: number;
  /** Routes BIRD learned from BGP peers (absent without BGP); used only where the datastore has no route. */
  learnedRoutes?: readonly { cidr: string; nextHop: string }[];
}

/** Why a route exists (or why one does not), for `get routes` and for logs. */
export interface RouteDecision {
  cidr: string;
  /** null when no entry was produced for this input. */
  kind: RouteKind | null;
  node: string | null;
  encap: Encap;
  nextHop: string;
  reason: string;
}

export interface NatOutgoingState {
  /** IPv4 CIDRs of pools with natOutgoing: sources that are masqueraded. */
  natPools: string[];
  /** IPv4 CIDRs of every pool: destinations that are never masqueraded. */
  allPools: string[];
  /** Underlay addresses of every other node, for the optional host exclusion. */
  clusterHosts: string[];
}

export interface DesiredState {
  localNode: string;
  /** Sorted by network address then prefix length; unique by cidr. */
  routes: RouteEntry[];
  /** Sorted by address; unique by addr. */
  knownNodes: KnownNodeEntry[];
  settings: SettingsEntry;
  /** source_allow_map: endpoints' allowSpoofedSourcePrefixes, per local veth and per other node (see source-allow.ts). */
  sourceAllow: SourceAllowEntry[];
  natOutgoing: NatOutgoingState;
  workloadMtu: number;
  /** Encapsulations any pool can use (Ipip before Vxlan): decides which hooks and devices are needed. */
  encapsInUse: Encap[];
  /** Encapsulations of the pools that select the local node: decides tunnel address and MTU. */
  localEncaps: Encap[];
  localNodeAddress: string | null;
  /** Sorted by cidr then node. */
  routeDecisions: RouteDecision[];
  /** Inputs the compiler had to skip or resolve (conflicts, unparsable selectors, missing local node). */
  warnings: string[];
}
