// SPDX-License-Identifier: Apache-2.0
// Known nodes and cluster hosts of the incremental compiler, indexed by underlay address: a node change
// recomputes only the addresses it had and has (owner = first node by name, the others warned about).
import { NodeFlags, type KnownNodeEntry } from '../maps/layout.js';
import { compareIpText } from '../model/cidr.js';
import type { Node } from '../model/types.js';
import { compareText, knownNodeEntry, nodeAddress, sharedAddressWarning, type NodeAddress } from './resolve.js';
import { SortedList } from './sorted-list.js';

const ALLOW_FLAGS = NodeFlags.AllowIpip | NodeFlags.AllowVxlan;

export interface NodeChanges {
  noteKnownNode(addr: string, before: KnownNodeEntry | undefined): void;
  noteClusterHost(addr: string, wasPresent: boolean): void;
  noteWarnings(): void;
}

export function sameKnownNode(a: KnownNodeEntry | undefined, b: KnownNodeEntry | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return a.addr === b.addr && a.vtepMac === b.vtepMac && a.flags === b.flags && a.tunnelAddr === b.tunnelAddr;
}

export class NodeTable {
  private readonly addrOf = new Map<string, NodeAddress>();
  /** Node names per address, sorted; the local node included (it is a cluster host, never a known node). */
  private readonly byAddr = new Map<string, string[]>();
  private readonly known = new Map<string, KnownNodeEntry>();
  private readonly shared = new Map<string, Array<{ name: string; text: string }>>();
  private readonly knownList = new SortedList<KnownNodeEntry>((a, b) => compareIpText(a.addr, b.addr));
  private readonly hostList = new SortedList<string>(compareIpText);
  private readonly hosts = new Set<string>();

  constructor(
    private readonly localNode: string,
    private readonly nodeOf: (name: string) => Node | undefined,
    private readonly changes: NodeChanges,
    /** Called when an address becomes or stops being a cluster host. */
    private readonly onHost: (addr: string, present: boolean) => void = () => {},
  ) {}

  address(name: string): NodeAddress | null {
    return this.addrOf.get(name) ?? null;
  }

  /** The last node by name at `addr` (the local node included): the one compile() maps the address to. */
  lastNodeAt(addr: string): string | undefined {
    const names = this.byAddr.get(addr);
    return names?.[names.length - 1];
  }

  knownNode(addr: string): KnownNodeEntry | undefined {
    return this.known.get(addr);
  }

  /** The Node `name` was put (node given) or deleted; its address and entries follow. */
  update(name: string, node: Node | undefined): void {
    const before = this.addrOf.get(name);
    const after = nodeAddress(node);
    if (after) this.addrOf.set(name, after);
    else this.addrOf.delete(name);
    if (before && before.addr !== after?.addr) {
      const names = this.byAddr.get(before.addr)!;
      names.splice(names.indexOf(name), 1);
      this.refresh(before.addr);
    }
    if (after) {
      const names = this.byAddr.get(after.addr) ?? [];
      if (!names.includes(name)) {
        let i = names.length;
        while (i > 0 && names[i - 1] > name) i--;
        names.splice(i, 0, name);
        this.byAddr.set(after.addr, names);
      }
      this.refresh(after.addr);
    }
  }

  private refresh(addr: string): void {
    const names = this.byAddr.get(addr) ?? [];
    if (names.length === 0) this.byAddr.delete(addr);
    const present = names.length > 0;
    if (present !== this.hosts.has(addr)) {
      this.changes.noteClusterHost(addr, !present);
      if (present) this.hosts.add(addr);
      else this.hosts.delete(addr);
      if (present) this.hostList.insert(addr);
      else this.hostList.remove(addr);
      this.onHost(addr, present);
    }
    const others = names.filter((n) => n !== this.localNode);
    const owner = others[0];
    const entry = owner === undefined ? undefined : knownNodeEntry(this.nodeOf(owner)!, addr, ALLOW_FLAGS);
    const before = this.known.get(addr);
    if (!sameKnownNode(before, entry)) {
      this.changes.noteKnownNode(addr, before);
      if (before) this.knownList.remove(before);
      if (entry) {
        this.known.set(addr, entry);
        this.knownList.insert(entry);
      } else this.known.delete(addr);
    }
    const warnings = others.slice(1).map((n) => ({ name: n, text: sharedAddressWarning(owner, n, addr) }));
    const prev = this.shared.get(addr) ?? [];
    if (prev.length !== warnings.length || prev.some((w, i) => w.text !== warnings[i].text)) this.changes.noteWarnings();
    if (warnings.length > 0) this.shared.set(addr, warnings);
    else this.shared.delete(addr);
  }

  /** Shared-address warnings in node-name order (as compile() walks the nodes). */
  sharedWarnings(): string[] {
    const all: Array<{ name: string; text: string }> = [];
    for (const w of this.shared.values()) all.push(...w);
    return all.sort((a, b) => compareText(a.name, b.name)).map((w) => w.text);
  }

  hasClusterHost(addr: string): boolean {
    return this.hosts.has(addr);
  }

  knownValues(): readonly KnownNodeEntry[] {
    return this.knownList.values();
  }

  clusterHosts(): readonly string[] {
    return this.hostList.values();
  }
}
