// SPDX-License-Identifier: Apache-2.0
// Whether XDP decapsulation helps on an uplink. On a veth, attaching any XDP program makes the peer drop its
// GSO features (the kernel's veth_xdp_set), so every TCP segment crosses the link alone: measured on this
// repository's bench, XDP decap on a veth uplink ran at 0.13x the throughput of tc decap. Virtual devices
// without native XDP (bridge, vlan, macvlan, ...) only run generic XDP, which costs more than the tc hook it
// replaces. On those uplinks XDP decap is declined (tc decap does the work) unless forced.
import { runTool } from '../host/run.js';

export interface UplinkLinkFacts {
  ifname: string;
  /** rtnetlink link kind ("veth", "bridge", ...; "loopback" for lo); undefined for a physical device. */
  kind?: string;
  /** The driver, for a physical device (ethtool -i), when known. */
  driver?: string;
}

export interface XdpDecapDecision {
  /** Attach the XDP decap program. */
  xdp: boolean;
  /** Set when XDP was asked for and is declined or forced against advice. */
  warning?: string;
}

/** Virtual link kinds whose driver has no native XDP (ndo_bpf): XDP there is generic, run on an skb. */
const GENERIC_XDP_ONLY_KINDS = new Set(['loopback', 'bridge', 'vlan', 'macvlan', 'macvtap', 'ipvlan', 'ipvtap', 'vxlan', 'geneve', 'dummy', 'team', 'vrf', 'gre', 'gretap', 'ipip', 'sit']);

/** Why XDP decap does not help on this link, or undefined when it does (a physical NIC, tun, bond). */
export function xdpUnhelpfulReason(facts: UplinkLinkFacts): string | undefined {
  if (facts.kind === 'veth') {
    return `uplink '${facts.ifname}' is a veth: an XDP program on it makes its peer drop GSO, which divides TCP throughput (0.13x of tc decap on the bench)`;
  }
  if (facts.kind !== undefined && GENERIC_XDP_ONLY_KINDS.has(facts.kind)) {
    return `uplink '${facts.ifname}' is a ${facts.kind} device without native XDP: generic XDP runs on an skb and costs more than the tc decap it replaces`;
  }
  return undefined;
}

/** The decision for an agent: XDP only when asked for, and on an uplink where it helps unless forced. */
export function decideXdpDecap(facts: UplinkLinkFacts, opts: { requested: boolean; force: boolean }): XdpDecapDecision {
  if (!opts.requested) return { xdp: false };
  const reason = xdpUnhelpfulReason(facts);
  if (reason === undefined) return { xdp: true };
  if (opts.force) return { xdp: true, warning: `XDP decap forced (--force-xdp) although ${reason}` };
  return { xdp: false, warning: `XDP decap declined, tc decap instead: ${reason}; --force-xdp attaches it anyway` };
}

interface IpLinkJson {
  ifname: string;
  link_type?: string;
  linkinfo?: { info_kind?: string };
}

/**
 * The link kind of ifname in this network namespace, from `ip -d link show`, and a physical device's driver from
 * `ethtool -i` when ethtool is there (not sysfs: under nsenter it shows another namespace's devices).
 */
export function readUplinkLinkFacts(ifname: string): UplinkLinkFacts {
  const [link] = JSON.parse(runTool('ip', ['-j', '-d', 'link', 'show', 'dev', ifname])) as IpLinkJson[];
  const kind = link?.linkinfo?.info_kind ?? (link?.link_type === 'loopback' ? 'loopback' : undefined);
  if (kind !== undefined) return { ifname, kind };
  try {
    const driver = /^driver:\s*(\S+)/m.exec(runTool('ethtool', ['-i', ifname]))?.[1];
    return { ifname, driver };
  } catch {
    return { ifname };
  }
}

/**
 * The agent's gate: facts read once (an uplink does not change kind), each changed decision logged once, so a
 * reconcile loop can ask on every pass.
 */
export class XdpDecapGate {
  private facts?: UplinkLinkFacts;
  private lastWarning?: string;

  constructor(
    private readonly ifname: string,
    private readonly force: boolean,
    private readonly warn: (message: string) => void,
    private readonly readFacts: (ifname: string) => UplinkLinkFacts = readUplinkLinkFacts,
  ) {}

  allow(requested: boolean): boolean {
    if (requested) this.facts ??= this.readFacts(this.ifname);
    const decision = decideXdpDecap(this.facts ?? { ifname: this.ifname }, { requested, force: this.force });
    if (decision.warning !== undefined && decision.warning !== this.lastWarning) this.warn(decision.warning);
    this.lastWarning = decision.warning;
    return decision.xdp;
  }
}
