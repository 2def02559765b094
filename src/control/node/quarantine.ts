// SPDX-License-Identifier: Apache-2.0
// Admission between the watch-fed cache and the compiler: a record that would make this node harm itself or
// others is held back (quarantined) instead of compiled, and everything else flows on. A quarantined record is
// released as soon as what made it bad goes away (the conflicting node is deleted, the endpoint is fixed).
//
//   Node              its address is this node's own; or another node claims it too and that node's agent
//                     registered later (the latest agent start keeps an address; with no agent start, all lose)
//   BlockAffinity     the block contains a node's address, or covers this node's underlay subnet
//   WorkloadEndpoint  hostInterface is not the CNI's veth name for its container, or an address of it is a
//                     node's underlay or tunnel address
import { hostVethName } from '../cni/names.js';
import type { CompilerEvent, CompilerKind, CompilerSnapshot } from '../compile/incremental.js';
import { parseCidr4, parseIp, type Cidr4 } from '../model/cidr.js';
import { SortedList } from '../compile/sorted-list.js';
import { AGENT_STARTED_ANNOTATION } from '../model/node-record.js';
import type { BlockAffinity, IPPool, Node, OverlayConfiguration, WorkloadEndpoint } from '../model/types.js';

type Resource = IPPool | Node | BlockAffinity | WorkloadEndpoint | OverlayConfiguration;

export interface QuarantineEntry {
  /** A datastore kind, or the map entry a full map left out. */
  kind: CompilerKind | 'RouteEntry' | 'KnownNodeEntry';
  name: string;
  reason: string;
}

export interface LocalIdentity {
  node: string;
  /** The uplink address with its prefix, A.B.C.D/N. */
  address: string;
}

interface NodeIp {
  ip: number;
  addr: string;
}

/** A block's CIDR as one number (network * 64 + prefix): a number per block, not an object (20,000 blocks). */
const packCidr = (c: Cidr4): number => c.base * 64 + c.prefix;

function unpackCidr(packed: number): Cidr4 {
  const prefix = packed % 64;
  return { base: (packed - prefix) / 64, prefix, size: 2 ** (32 - prefix) };
}

const keyOf = (kind: string, name: string) => `${kind}/${name}`;

/**
 * Records by keyOf key, held per kind under the record's own name string: a map keyed by the joined text
 * would hold one more string per record (25,000 at issue #12's scale).
 */
class Records {
  private readonly byKind = new Map<string, Map<string, Resource>>();

  get(key: string): Resource | undefined {
    const slash = key.indexOf('/');
    return this.byKind.get(key.slice(0, slash))?.get(key.slice(slash + 1));
  }

  set(r: Resource): void {
    let named = this.byKind.get(r.kind);
    if (!named) this.byKind.set(r.kind, (named = new Map()));
    named.set(r.metadata.name, r);
  }

  delete(r: Resource): void {
    this.byKind.get(r.kind)?.delete(r.metadata.name);
  }

  clear(): void {
    this.byKind.clear();
  }

  *values(): Iterable<Resource> {
    for (const named of this.byKind.values()) yield* named.values();
  }
}

function parseIPv4(text: string): number | undefined {
  const ip = parseIp(text);
  return ip?.family === 4 ? Number(ip.value) : undefined;
}

function nodeAddr(n: Node): string | undefined {
  return n.spec.bgp?.ipv4Address?.split('/')[0] || undefined;
}

function tunnelAddrs(n: Node): string[] {
  return [n.spec.bgp?.ipv4IPIPTunnelAddr, n.spec.ipv4VXLANTunnelAddr].filter((a): a is string => !!a);
}

export class Admission {
  private readonly raw = new Records();
  private readonly reasons = new Map<string, QuarantineEntry>();
  /** Node names by underlay address. */
  private readonly byAddr = new Map<string, Set<string>>();
  private readonly localAddr: string;
  private readonly localSubnet?: Cidr4;
  /** Node addresses in order, kept up to date as nodes come and go (a block's check is a binary search). */
  private nodeIps = new SortedList<NodeIp>((x, y) => x.ip - y.ip);
  private readonly nodeIpOf = new Map<string, NodeIp>();
  /** Parsed CIDR of every block, by name: a node's address change re-checks only the blocks that hold it. */
  private readonly blockCidrs = new Map<string, number>();
  /**
   * Block names by prefix length and base address: the blocks holding an address are a few lookups away. A base
   * almost always holds one block, kept as its bare name; a Set only where several share it.
   */
  private readonly blocksByPrefix = new Map<number, Map<number, string | Set<string>>>();
  /** Keys of the WorkloadEndpoints held (this node's few), re-checked whenever a node changes. */
  private readonly workloadKeys = new Set<string>();
  /** Tunnel addresses of the nodes held, with how many nodes record each. */
  private readonly tunnelAddrCount = new Map<string, number>();

  constructor(private readonly local: LocalIdentity) {
    this.localAddr = local.address.split('/')[0];
    const [, len] = local.address.split('/');
    const ip = parseIPv4(this.localAddr);
    if (ip !== undefined && len !== undefined) {
      const prefix = Number(len);
      const size = 2 ** (32 - prefix);
      this.localSubnet = { base: ip - (ip % size), prefix, size };
    }
  }

  /** Records held back, sorted by kind and name. */
  quarantined(): QuarantineEntry[] {
    return [...this.reasons.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  }

  /** Replaces every input (a full list) and returns the admitted subset as the compiler's snapshot. */
  reset(snapshot: CompilerSnapshot): CompilerSnapshot {
    this.raw.clear();
    this.reasons.clear();
    this.byAddr.clear();
    this.nodeIps = new SortedList<NodeIp>((x, y) => x.ip - y.ip);
    this.nodeIpOf.clear();
    this.blockCidrs.clear();
    this.blocksByPrefix.clear();
    this.workloadKeys.clear();
    this.tunnelAddrCount.clear();
    const all: Resource[] = [
      ...snapshot.pools,
      ...snapshot.nodes,
      ...snapshot.blockAffinities,
      ...snapshot.workloads,
      ...snapshot.configs,
    ];
    for (const r of all) this.hold(r);
    for (const r of all) this.decide(r.kind, r.metadata.name);
    const out: CompilerSnapshot = { pools: [], nodes: [], blockAffinities: [], workloads: [], configs: [] };
    const into = {
      IPPool: out.pools as IPPool[],
      Node: out.nodes as Node[],
      BlockAffinity: out.blockAffinities as BlockAffinity[],
      WorkloadEndpoint: out.workloads as WorkloadEndpoint[],
      OverlayConfiguration: out.configs as OverlayConfiguration[],
    };
    for (const r of this.raw.values()) if (!this.reasons.has(keyOf(r.kind, r.metadata.name))) (into[r.kind] as Resource[]).push(r);
    return out;
  }

  /** Applies raw deltas; returns what the compiler must see (records entering or leaving quarantine included). */
  apply(events: readonly CompilerEvent[]): CompilerEvent[] {
    const touched = new Set<string>();
    const touchedAddrs = new Set<string>();
    let nodesChanged = false;
    /** What the compiler held for each key an event names, before the batch changed raw. */
    const heldBefore = new Map<string, Resource | undefined>();
    for (const ev of events) {
      const key = keyOf(ev.kind, ev.name);
      if (!heldBefore.has(key)) heldBefore.set(key, this.admitted(key));
      const before = this.raw.get(key);
      if (before) this.release(before);
      if (ev.type === 'put') this.hold(ev.resource as Resource);
      touched.add(key);
      if (ev.kind === 'Node') {
        nodesChanged = true;
        for (const n of [before, ev.type === 'put' ? ev.resource : undefined] as (Node | undefined)[]) {
          if (!n) continue;
          const a = nodeAddr(n);
          if (a) touchedAddrs.add(a);
        }
      }
    }
    // Verdicts that depend on other records: nodes sharing a touched address, blocks that may contain it, and
    // this node's endpoints (few) whenever any node changed.
    for (const a of touchedAddrs) for (const n of this.byAddr.get(a) ?? []) touched.add(keyOf('Node', n));
    for (const a of touchedAddrs) {
      const ip = parseIPv4(a);
      if (ip === undefined) continue;
      for (const [prefix, byBase] of this.blocksByPrefix) {
        const size = 2 ** (32 - prefix);
        const held = byBase.get(ip - (ip % size));
        for (const name of typeof held === 'string' ? [held] : (held ?? [])) touched.add(keyOf('BlockAffinity', name));
      }
    }
    if (nodesChanged) for (const key of this.workloadKeys) touched.add(key);

    const out: CompilerEvent[] = [];
    for (const key of touched) {
      const slash = key.indexOf('/');
      const kind = key.slice(0, slash) as CompilerKind;
      const name = key.slice(slash + 1);
      const before = heldBefore.has(key) ? heldBefore.get(key) : this.admitted(key);
      const after = this.decide(kind, name);
      if (after === before) continue;
      out.push(after ? { type: 'put', kind, name, resource: after } : { type: 'delete', kind, name });
    }
    return out;
  }

  /**
   * What the compiler holds for `key`: the raw record unless quarantined. Derived rather than kept as a second
   * map of every record (25,000 at issue #12's scale).
   */
  private admitted(key: string): Resource | undefined {
    return this.reasons.has(key) ? undefined : this.raw.get(key);
  }

  private hold(r: Resource): void {
    const key = keyOf(r.kind, r.metadata.name);
    this.raw.set(r);
    if (r.kind === 'WorkloadEndpoint') this.workloadKeys.add(key);
    if (r.kind === 'BlockAffinity') {
      const c = parseCidr4(r.spec.cidr);
      if (c) {
        this.blockCidrs.set(r.metadata.name, packCidr(c));
        let byBase = this.blocksByPrefix.get(c.prefix);
        if (!byBase) this.blocksByPrefix.set(c.prefix, (byBase = new Map()));
        const names = byBase.get(c.base);
        if (names === undefined) byBase.set(c.base, r.metadata.name);
        else if (typeof names !== 'string') names.add(r.metadata.name);
        else if (names !== r.metadata.name) byBase.set(c.base, new Set([names, r.metadata.name]));
      }
    }
    if (r.kind === 'Node') {
      for (const t of tunnelAddrs(r)) this.tunnelAddrCount.set(t, (this.tunnelAddrCount.get(t) ?? 0) + 1);
      const a = nodeAddr(r);
      if (a) {
        let set = this.byAddr.get(a);
        if (!set) {
          this.byAddr.set(a, (set = new Set()));
          const ip = parseIPv4(a);
          if (ip !== undefined) {
            const entry = { ip, addr: a };
            this.nodeIpOf.set(a, entry);
            this.nodeIps.insert(entry);
          }
        }
        set.add(r.metadata.name);
      }
    }
  }

  private release(r: Resource): void {
    const key = keyOf(r.kind, r.metadata.name);
    this.raw.delete(r);
    this.workloadKeys.delete(key);
    const packed = r.kind === 'BlockAffinity' ? this.blockCidrs.get(r.metadata.name) : undefined;
    if (r.kind === 'BlockAffinity' && packed !== undefined) {
      const c = unpackCidr(packed);
      this.blockCidrs.delete(r.metadata.name);
      const byBase = this.blocksByPrefix.get(c.prefix)!;
      const names = byBase.get(c.base);
      if (typeof names !== 'string') {
        names?.delete(r.metadata.name);
        if (names?.size === 1) byBase.set(c.base, names.values().next().value!);
      } else if (names === r.metadata.name) byBase.delete(c.base);
      if (byBase.size === 0) this.blocksByPrefix.delete(c.prefix);
    }
    if (r.kind === 'Node') {
      for (const t of tunnelAddrs(r)) {
        const n = (this.tunnelAddrCount.get(t) ?? 0) - 1;
        if (n > 0) this.tunnelAddrCount.set(t, n);
        else this.tunnelAddrCount.delete(t);
      }
      const a = nodeAddr(r);
      const set = a ? this.byAddr.get(a) : undefined;
      set?.delete(r.metadata.name);
      if (a && set?.size === 0) {
        this.byAddr.delete(a);
        const entry = this.nodeIpOf.get(a);
        if (entry) this.nodeIps.remove(entry);
        this.nodeIpOf.delete(a);
      }
    }
  }

  /** Decides one record's fate and records it; returns what the compiler should hold for it. */
  private decide(kind: CompilerKind, name: string): Resource | undefined {
    const key = keyOf(kind, name);
    const r = this.raw.get(key);
    const reason = r ? this.problemOf(r) : undefined;
    if (r && reason === undefined) {
      this.reasons.delete(key);
      return r;
    }
    if (r && reason !== undefined) this.reasons.set(key, { kind, name, reason });
    else this.reasons.delete(key);
    return undefined;
  }

  private problemOf(r: Resource): string | undefined {
    switch (r.kind) {
      case 'Node':
        return this.nodeProblem(r);
      case 'BlockAffinity':
        return this.blockProblem(r);
      case 'WorkloadEndpoint':
        return r.spec.node === this.local.node ? this.workloadProblem(r) : undefined;
      default:
        return undefined;
    }
  }

  private nodeProblem(n: Node): string | undefined {
    if (n.metadata.name === this.local.node) return undefined;
    const a = nodeAddr(n);
    if (!a) return undefined;
    if (a === this.localAddr) return `address ${a} is this node's (${this.local.node}) own address`;
    const sharing = [...(this.byAddr.get(a) ?? [])].filter((m) => m !== n.metadata.name);
    if (sharing.includes(this.local.node)) return `address ${a} is this node's (${this.local.node}) own address`;
    if (sharing.length === 0) return undefined;
    const started = (name: string) =>
      (this.raw.get(keyOf('Node', name)) as Node | undefined)?.metadata.annotations?.[AGENT_STARTED_ANNOTATION] ?? '';
    const claimants = [n.metadata.name, ...sharing].sort((x, y) => started(y).localeCompare(started(x)) || x.localeCompare(y));
    const winner = claimants[0];
    if (started(winner) === '') return `address ${a} is also claimed by Node ${sharing.join(', ')} and no agent registered it`;
    if (winner === n.metadata.name && started(winner) !== started(claimants[1])) return undefined;
    if (winner === n.metadata.name) return `address ${a} is also claimed by Node ${sharing.join(', ')}, whose agent started at the same time`;
    return `address ${a} belongs to Node ${winner} (its agent registered it at ${started(winner)})`;
  }

  private blockProblem(b: BlockAffinity): string | undefined {
    const c = parseCidr4(b.spec.cidr);
    if (!c) return undefined; // the compiler reports what it cannot parse
    // A block covering the whole underlay subnet would take over the node's connected route; one inside it is
    // only harmful when it holds a node's address (below).
    const s = this.localSubnet;
    if (s && c.prefix <= s.prefix && c.base <= s.base && s.base < c.base + c.size) {
      return `block ${b.spec.cidr} covers this node's underlay subnet ${this.local.address}`;
    }
    // Node addresses sorted: the first one at or after the block's start tells whether the block holds any.
    const ips = this.nodeIps.values();
    let lo = 0;
    let hi = ips.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ips[mid].ip < c.base) lo = mid + 1;
      else hi = mid;
    }
    const hit = ips[lo];
    if (hit && hit.ip < c.base + c.size) {
      return `block ${b.spec.cidr} contains the address ${hit.addr} of Node ${[...(this.byAddr.get(hit.addr) ?? [])].join(', ')}`;
    }
    return undefined;
  }

  private workloadProblem(w: WorkloadEndpoint): string | undefined {
    const expected = hostVethName(w.spec.containerID ?? '', w.spec.interfaceName ?? '');
    if (w.spec.hostInterface !== expected) {
      return `hostInterface ${JSON.stringify(w.spec.hostInterface)} is not the CNI's veth name ${expected} for container ${w.spec.containerID} interface ${w.spec.interfaceName}`;
    }
    for (const net of w.spec.ipNetworks ?? []) {
      const ip = net.split('/')[0];
      if (ip === this.localAddr || this.byAddr.has(ip) || this.tunnelAddrCount.has(ip)) return `address ${ip} is a node's underlay or tunnel address`;
    }
    return undefined;
  }
}
