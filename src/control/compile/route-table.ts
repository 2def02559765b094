// SPDX-License-Identifier: Apache-2.0
// The routes of the incremental compiler: every input (a "source") states its outcomes; claims compete per
// CIDR exactly as compile() arbitrates them (priority, then claim order), so changing one source re-arbitrates
// only the prefixes it claimed or claims. Decisions and routes are kept sorted as compile() orders them.
import type { RouteEntry } from '../maps/layout.js';
import { parseCidr, type Cidr } from '../model/cidr.js';
import { BlockIndex } from './block-index.js';
import type { RouteDecision } from './types.js';
import {
  PRIORITY,
  cidrKey,
  compareCidrKeyed,
  compareDecisions,
  compareText,
  ignoredClaim,
  ignoredDecision,
  overriddenClaim,
  placedDecision,
  skipDecision,
  type Outcome,
} from './resolve.js';
import { SortedList } from './sorted-list.js';

/**
 * Where an outcome stands in compile()'s claim order: phase (pools, blocks, workloads, tunnel addresses),
 * then the phase's own sort (CIDR key and text, name, insertion sequence), then the index within the source.
 */
export interface ClaimOrder {
  phase: number;
  num: number;
  text: string;
  name: string;
  seq: number;
  sub: number;
}

export function compareClaimOrder(a: ClaimOrder, b: ClaimOrder): number {
  return a.phase - b.phase || compareCidrKeyed(a.num, a.text, b.num, b.text) || compareText(a.name, b.name) || a.seq - b.seq || a.sub - b.sub;
}

/** Claim phases, in compile()'s order. */
export const POOL_PHASE = 0;
export const BLOCK_PHASE = 1;
export const WORKLOAD_PHASE = 2;
export const TUNNEL_PHASE = 3;
export const LEARNED_PHASE = 4;

export interface SourceItem {
  order: ClaimOrder;
  outcome: Outcome;
}

interface DecisionItem {
  d: RouteDecision;
  key: number;
  order: ClaimOrder;
}

type Warning = { order: ClaimOrder; text: string };

/**
 * Everything kept about one prefix (one map entry per prefix rather than a map per aspect: at 20,000 blocks
 * each map of prefixes is about a megabyte of hash table).
 */
interface Prefix {
  /** Claims in claim order. */
  claims: SourceItem[];
  /** Decisions of the last arbitration. */
  decisions: DecisionItem[];
  warnings: readonly Warning[];
  /** The winner as last arbitrated (finalized). */
  route: RouteEntry | undefined;
  /** Claims from the datastore beside pools (blocks, workloads, tunnel addresses): learned routes avoid them. */
  datastoreClaims: number;
}

/** The warnings of an uncontested prefix (nearly all of them): one shared empty list, not one per prefix. */
const NO_WARNINGS: readonly Warning[] = Object.freeze([]);

export function sameRoute(a: RouteEntry | undefined, b: RouteEntry | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.cidr === b.cidr &&
    a.kind === b.kind &&
    a.encap === b.encap &&
    a.flags === b.flags &&
    a.ifindex === b.ifindex &&
    a.nextHop === b.nextHop &&
    a.dstMac === b.dstMac &&
    a.srcMac === b.srcMac
  );
}

function sameItem(a: SourceItem, b: SourceItem): boolean {
  const x = a.outcome;
  const y = b.outcome;
  return (
    compareClaimOrder(a.order, b.order) === 0 &&
    a.order.text === b.order.text &&
    x.cidr === y.cidr &&
    x.node === y.node &&
    x.reason === y.reason &&
    (x.claim === null ? y.claim === null : y.claim !== null && x.claim.owner === y.claim.owner && sameRoute(x.claim.entry, y.claim.entry))
  );
}

const compareDecisionItems = (a: DecisionItem, b: DecisionItem) => compareDecisions(a.d, b.d, a.key, b.key) || compareClaimOrder(a.order, b.order);
const compareRoutes = (a: RouteEntry, b: RouteEntry) => cidrKey(a.cidr) - cidrKey(b.cidr);

export interface RouteChanges {
  /** First value seen for each touched cidr in this batch (undefined: absent). */
  noteRoute(cidr: string, before: RouteEntry | undefined): void;
  noteWarnings(): void;
}

/** The kinds of input that state outcomes; a source is one input of a kind, by name. */
export type SourceGroup = 'pool' | 'ba' | 'wl' | 'tunnel' | 'learned';

/**
 * Per-source lists by group, then name: the name is the resource's own string, where a joined key ("ba:" +
 * name) would be one more string per block.
 */
class BySource<T> {
  private readonly groups = new Map<SourceGroup, Map<string, T[]>>();

  get(group: SourceGroup, name: string): T[] | undefined {
    return this.groups.get(group)?.get(name);
  }

  /** Holds `items` (none: forgets the source). */
  set(group: SourceGroup, name: string, items: T[]): void {
    let byName = this.groups.get(group);
    if (items.length === 0) {
      byName?.delete(name);
      return;
    }
    if (!byName) this.groups.set(group, (byName = new Map()));
    byName.set(name, items);
  }
}

export class RouteTable {
  private readonly sources = new BySource<SourceItem>();
  /** Prefixes with claims (and, until arbitrated, those that just lost their last one). */
  private readonly prefixes = new Map<string, Prefix>();
  private readonly skips = new BySource<DecisionItem>();
  private readonly contested = new Set<string>();
  private readonly routeList = new SortedList<RouteEntry>(compareRoutes);
  private readonly decisionList = new SortedList<DecisionItem>(compareDecisionItems);
  private decisionValues: RouteDecision[] | null = null;
  /** Prefixes with datastore claims (Prefix.datastoreClaims > 0), by network. */
  private readonly datastoreIndex = new BlockIndex();

  /** `finalize` turns a prefix's winning claim into its map entry (flags that read more than the claim). */
  constructor(
    private readonly changes: RouteChanges,
    private readonly finalize: (winner: RouteEntry) => RouteEntry = (w) => w,
  ) {}

  /** Re-arbitrates `cidr` if it holds claims (something its winner's finalization reads changed). */
  refresh(cidr: string): void {
    if ((this.prefixes.get(cidr)?.claims.length ?? 0) > 0) this.arbitrate(cidr);
  }

  /** What source `name` of `group` states now. */
  sourceItems(group: SourceGroup, name: string): readonly SourceItem[] | undefined {
    return this.sources.get(group, name);
  }

  route(cidr: string): RouteEntry | undefined {
    return this.prefixes.get(cidr)?.route;
  }

  /** Replaces what source `name` of `group` states; re-arbitrates the prefixes it claimed or claims. */
  setSource(group: SourceGroup, name: string, items: SourceItem[]): void {
    const old = this.sources.get(group, name) ?? [];
    if (old.length === items.length && old.every((o, i) => sameItem(o, items[i]))) return;
    this.sources.set(group, name, items);
    const dirty = new Set<string>();
    for (const it of old) {
      if (!it.outcome.claim) continue;
      const p = this.prefixes.get(it.outcome.cidr)!;
      this.countDatastoreClaim(p, it, -1);
      p.claims.splice(p.claims.indexOf(it), 1);
      dirty.add(it.outcome.cidr);
    }
    for (const d of this.skips.get(group, name) ?? []) this.listRemove(d);
    const skips: DecisionItem[] = [];
    for (const it of items) {
      const o = it.outcome;
      if (!o.claim) {
        const d = { d: skipDecision(o), key: cidrKey(o.cidr), order: it.order };
        skips.push(d);
        this.listInsert(d);
        continue;
      }
      let p = this.prefixes.get(o.cidr);
      if (!p) this.prefixes.set(o.cidr, (p = { claims: [], decisions: [], warnings: NO_WARNINGS, route: undefined, datastoreClaims: 0 }));
      this.countDatastoreClaim(p, it, 1);
      const list = p.claims;
      if (list.length === 0) p.claims = [it]; // a literal is allocated at its size
      else {
        let i = list.length;
        while (i > 0 && compareClaimOrder(list[i - 1].order, it.order) > 0) i--;
        list.splice(i, 0, it);
      }
      dirty.add(o.cidr);
    }
    this.skips.set(group, name, skips);
    for (const cidr of dirty) this.arbitrate(cidr);
  }

  private countDatastoreClaim(p: Prefix, it: SourceItem, delta: number): void {
    if (it.order.phase < BLOCK_PHASE || it.order.phase > TUNNEL_PHASE) return;
    const cidr = it.outcome.cidr;
    p.datastoreClaims += delta;
    if (p.datastoreClaims === 1 && delta > 0) this.datastoreIndex.set(cidr, parseCidr(cidr));
    if (p.datastoreClaims === 0) this.datastoreIndex.delete(cidr, parseCidr(cidr));
  }

  /** Whether a datastore claim (pools aside) contains `c` or lies inside it. */
  overlapsDatastoreClaim(c: Cidr): boolean {
    const base = Number(c.addr);
    for (let p = 0; p <= c.prefix; p++) {
      const net = p === 0 ? 0 : (base & (0xffffffff << (32 - p))) >>> 0;
      if ((this.prefixes.get(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${p}`)?.datastoreClaims ?? 0) > 0) return true;
    }
    return this.datastoreIndex.within(c).some((name) => parseCidr(name)!.prefix >= c.prefix);
  }

  private arbitrate(cidr: string): void {
    const p = this.prefixes.get(cidr);
    if (!p) return;
    for (const d of p.decisions) this.listRemove(d);
    const decisions: DecisionItem[] = [];
    const warnings: Warning[] = [];
    let held: { entry: RouteEntry; owner: string } | undefined;
    const key = cidrKey(cidr);
    for (const { order, outcome } of p.claims) {
      const claim = outcome.claim!;
      if (held && PRIORITY[held.entry.kind] >= PRIORITY[claim.entry.kind]) {
        const reason = ignoredClaim(cidr, held.owner, claim.owner);
        warnings.push({ order, text: reason });
        decisions.push({ d: ignoredDecision(outcome, claim.entry, reason), key, order });
        continue;
      }
      if (held) warnings.push({ order, text: overriddenClaim(cidr, held.owner, claim.owner) });
      held = claim;
      decisions.push({ d: placedDecision(outcome, claim.entry), key, order });
    }
    // Kept per prefix: trimmed to its length (push reserves room for 17 entries).
    p.decisions = decisions.slice();
    for (const d of p.decisions) this.listInsert(d);
    const winner = held ? this.finalize(held.entry) : undefined;
    const before = p.route;
    if (!sameRoute(before, winner)) {
      this.changes.noteRoute(cidr, before);
      if (before) this.routeList.remove(before);
      if (winner) this.routeList.insert(winner);
      p.route = winner;
    }
    const prevWarnings = p.warnings;
    if (prevWarnings.length !== warnings.length || prevWarnings.some((w, i) => w.text !== warnings[i].text || compareClaimOrder(w.order, warnings[i].order) !== 0)) {
      this.changes.noteWarnings();
    }
    p.warnings = warnings.length > 0 ? warnings : NO_WARNINGS;
    if (warnings.length > 0) this.contested.add(cidr);
    else this.contested.delete(cidr);
    if (p.claims.length === 0) this.prefixes.delete(cidr);
  }

  private listInsert(d: DecisionItem): void {
    this.decisionValues = null;
    this.decisionList.insert(d);
  }

  private listRemove(d: DecisionItem): void {
    this.decisionValues = null;
    this.decisionList.remove(d);
  }

  /** Conflict warnings in claim order (as compile() emits them while claiming). */
  conflictWarnings(): string[] {
    const all: Warning[] = [];
    for (const cidr of this.contested) all.push(...this.prefixes.get(cidr)!.warnings);
    return all.sort((a, b) => compareClaimOrder(a.order, b.order)).map((w) => w.text);
  }

  routeValues(): readonly RouteEntry[] {
    return this.routeList.values();
  }

  decisions(): readonly RouteDecision[] {
    this.decisionValues ??= this.decisionList.values().map((x) => x.d);
    return this.decisionValues;
  }
}
