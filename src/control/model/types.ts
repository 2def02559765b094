// SPDX-License-Identifier: Apache-2.0
// The resources bpf-overlay understands. IPPool, Node and BlockAffinity keep Calico's projectcalico.org/v3
// shape so that users apply Calico's own manifests unchanged.

export const API_VERSION = 'projectcalico.org/v3';

export type EncapMode = 'Never' | 'Always' | 'CrossSubnet';

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Set by the datastore: opaque, changes on every write. */
  resourceVersion?: string;
  creationTimestamp?: string;
}

export interface IPPoolSpec {
  cidr: string;
  ipipMode: EncapMode;
  vxlanMode: EncapMode;
  natOutgoing: boolean;
  disabled: boolean;
  blockSize: number;
  nodeSelector: string;
  disableBGPExport?: boolean;
  allowedUses?: string[];
  assignmentMode?: string;
  /**
   * Which pods may take addresses from the pool, matched against the labels of the pod's namespace that the
   * CNI knows without the Kubernetes API (see src/control/selector/namespace.ts). Absent: every namespace.
   */
  namespaceSelector?: string;
}

export interface IPPool {
  apiVersion: typeof API_VERSION;
  kind: 'IPPool';
  metadata: ObjectMeta;
  spec: IPPoolSpec;
}

export interface NodeSpec {
  bgp?: {
    /** Address with prefix length ("172.31.0.1/24"); the prefix is the node's subnet for CrossSubnet. */
    ipv4Address?: string;
    ipv4IPIPTunnelAddr?: string;
    /** This node's AS, overriding BGPConfiguration's asNumber (a number, or Calico's dotted "A.B" text). */
    asNumber?: number | string;
    /** Makes the node a route reflector for this cluster ID (an IPv4 address). */
    routeReflectorClusterID?: string;
  };
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
}

export interface Node {
  apiVersion: typeof API_VERSION;
  kind: 'Node';
  metadata: ObjectMeta;
  spec: NodeSpec;
}

export interface BlockAffinitySpec {
  node: string;
  cidr: string;
  state?: 'confirmed' | 'pending' | 'pendingDeletion';
  deleted?: boolean;
}

export interface BlockAffinity {
  apiVersion: typeof API_VERSION;
  kind: 'BlockAffinity';
  metadata: ObjectMeta;
  spec: BlockAffinitySpec;
}

/** Node-wide overlay settings (FelixConfiguration-like); the one named "default" applies to every node. */
export interface OverlayConfigurationSpec {
  vxlanPort?: number; // default 4789
  vxlanVNI?: number; // default 4096
  /** Workload MTU override; absent or 0 means derive from the uplink MTU minus the encapsulation overhead. */
  mtu?: number;
  /** Where tunnel packets are decapsulated. */
  decapHook?: 'tc' | 'xdp';
}

export interface OverlayConfiguration {
  apiVersion: typeof API_VERSION;
  kind: 'OverlayConfiguration';
  metadata: ObjectMeta;
  spec: OverlayConfigurationSpec;
}

/** A workload attached on a node (written by the CNI plugin on that node; host-local fields are valid there). */
export interface WorkloadEndpointSpec {
  node: string;
  containerID: string;
  /** Interface name inside the workload (CNI_IFNAME). */
  interfaceName: string;
  /** Host-side veth. */
  hostInterface: string;
  hostIfindex: number;
  hostMac: string;
  mac: string;
  /** "192.168.1.5/32" */
  ipNetworks: string[];
  pool: string;
  pod?: string;
  namespace?: string;
  netns?: string;
  /** Calico's field: source prefixes the workload may send from besides its own addresses (it routes for others). */
  allowSpoofedSourcePrefixes?: string[];
}

export interface WorkloadEndpoint {
  apiVersion: typeof API_VERSION;
  kind: 'WorkloadEndpoint';
  metadata: ObjectMeta;
  spec: WorkloadEndpointSpec;
}

export interface ServiceIPBlock {
  cidr: string;
}

/** Calico's BGP settings: "default" applies to every node, "node.NAME" overrides listenPort/logSeverityScreen. */
export interface BGPConfigurationSpec {
  asNumber?: number | string;
  nodeToNodeMeshEnabled?: boolean;
  listenPort?: number;
  logSeverityScreen?: string;
  /** Accepted and kept, not advertised (see docs/bgp.md). */
  serviceClusterIPs?: ServiceIPBlock[];
  serviceExternalIPs?: ServiceIPBlock[];
  serviceLoadBalancerIPs?: ServiceIPBlock[];
}

export interface BGPConfiguration {
  apiVersion: typeof API_VERSION;
  kind: 'BGPConfiguration';
  metadata: ObjectMeta;
  spec: BGPConfigurationSpec;
}

/** A BGP peering: which nodes (node / nodeSelector / all) peer with whom (peerIP / peerSelector). */
export interface BGPPeerSpec {
  node?: string;
  nodeSelector?: string;
  /** "10.0.0.1" or "10.0.0.1:1790". */
  peerIP?: string;
  asNumber?: number | string;
  peerSelector?: string;
  sourceAddress?: 'UseNodeIP' | 'None';
  keepOriginalNextHop?: boolean;
  /** Graceful restart time, a duration such as "120s" or "2m". */
  maxRestartTime?: string;
}

export interface BGPPeer {
  apiVersion: typeof API_VERSION;
  kind: 'BGPPeer';
  metadata: ObjectMeta;
  spec: BGPPeerSpec;
}

export type Resource = IPPool | Node | BlockAffinity | OverlayConfiguration | WorkloadEndpoint | BGPConfiguration | BGPPeer;
export type ResourceKind = Resource['kind'];
export const RESOURCE_KINDS: readonly ResourceKind[] = [
  'IPPool',
  'Node',
  'BlockAffinity',
  'OverlayConfiguration',
  'WorkloadEndpoint',
  'BGPConfiguration',
  'BGPPeer',
];

export type ResourceOf<K extends ResourceKind> = Extract<Resource, { kind: K }>;
