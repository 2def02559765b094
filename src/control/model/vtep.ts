// SPDX-License-Identifier: Apache-2.0
// A node's VXLAN VTEP MAC. Felix (felix/calc/vxlan_resolver.go, vtepMACForHost) uses the Node's
// vxlanTunnelMACAddr when set, else derives one from the node name: the byte 'f' (0x66, a locally
// administered unicast prefix) followed by the first five bytes of SHA-1(node name). Computing it the same way
// lets bpf-overlay and a Calico node agree on a node's MAC without writing it to the datastore.
import { createHash } from 'node:crypto';
import type { Node } from './types.js';

// The compiler asks for every remote block's node: hash each name once (bounded for long-lived agents).
const derived = new Map<string, string>();

export function derivedVtepMac(nodeName: string): string {
  let mac = derived.get(nodeName);
  if (mac === undefined) {
    const sha = createHash('sha1').update(nodeName, 'utf8').digest();
    mac = [0x66, ...sha.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    if (derived.size >= 100_000) derived.clear();
    derived.set(nodeName, mac);
  }
  return mac;
}

export function vtepMacOf(node: Pick<Node, 'metadata' | 'spec'>): string {
  const configured = node.spec.vxlanTunnelMACAddr;
  return configured ? configured.toLowerCase().replace(/-/g, ':') : derivedVtepMac(node.metadata.name);
}
