// SPDX-License-Identifier: Apache-2.0
// Next-hop MACs: what `ip` prints about neighbours, read into states; which states give a next_hop_map entry (and
// which make the programs fall back so the kernel re-verifies); the step writes only the nodes an event concerns.
import { describe, expect, it } from 'vitest';
import type { MapEntry, UpdateFlag } from '../../src/control/bpf/types.js';
import { parseNeighbourDump, parseNeighbourEvent, usableNeighbour, type Neighbour, type NeighbourEvent } from '../../src/control/host/neighbours.js';
import { decodeNextHopKey, decodeNextHopValue, NextHopFlags } from '../../src/control/maps/layout.js';
import type { SyncableMap } from '../../src/control/reconcile/map-sync.js';
import { nextHopEntry, NextHopSyncer } from '../../src/control/reconcile/next-hops.js';

const UPLINK = { ifindex: 3, mac: '52:54:00:00:00:01' };

class MemoryMap implements SyncableMap {
  readonly name = 'next_hop_map';
  readonly store = new Map<string, Buffer>();
  writes = 0;
  entries(): MapEntry[] {
    return [...this.store].map(([k, value]) => ({ key: Buffer.from(k, 'hex'), value }));
  }
  update(key: Buffer, value: Buffer, _flag?: UpdateFlag): void {
    this.writes++;
    this.store.set(key.toString('hex'), value);
  }
  delete(key: Buffer): boolean {
    return this.store.delete(key.toString('hex'));
  }
  batchUpdate(entries: MapEntry[]): void {
    for (const e of entries) this.update(e.key, e.value);
  }
  batchDelete(keys: Buffer[]): number {
    return keys.filter((k) => this.delete(k)).length;
  }
  /** node -> "dstMac flags" */
  contents(): Record<string, string> {
    return Object.fromEntries(
      [...this.store].map(([k, v]) => {
        const value = decodeNextHopValue(v);
        expect([value.srcMac, value.ifindex]).toEqual([UPLINK.mac, UPLINK.ifindex]);
        return [decodeNextHopKey(Buffer.from(k, 'hex')), `${value.dstMac} ${value.flags}`];
      }),
    );
  }
}

describe('neighbour table as ip prints it', () => {
  it('monitor lines: put with MAC and states, delete, and lines that name no IPv4 neighbour', () => {
    expect(parseNeighbourEvent('10.9.0.2 lladdr A6:C9:3a:b0:5d:49 REACHABLE ')).toEqual({
      type: 'put',
      neighbour: { addr: '10.9.0.2', mac: 'a6:c9:3a:b0:5d:49', states: ['REACHABLE'] },
    });
    expect(parseNeighbourEvent('10.9.0.1 dev eth0 lladdr 52:54:00:00:00:fe router probes 3 STALE proto zebra')).toEqual({
      type: 'put',
      neighbour: { addr: '10.9.0.1', mac: '52:54:00:00:00:fe', states: ['STALE'] },
    });
    expect(parseNeighbourEvent('10.9.0.7 FAILED')).toEqual({ type: 'put', neighbour: { addr: '10.9.0.7', states: ['FAILED'] } });
    expect(parseNeighbourEvent('10.9.0.7 INCOMPLETE')).toEqual({ type: 'put', neighbour: { addr: '10.9.0.7', states: ['INCOMPLETE'] } });
    expect(parseNeighbourEvent('Deleted 10.9.0.2 lladdr a6:c9:3a:b0:5d:49 STALE')).toEqual({ type: 'delete', addr: '10.9.0.2' });
    for (const line of ['', 'miss 10.9.0.3 INCOMPLETE', 'fe80::1 lladdr 52:54:00:00:00:fe router STALE', 'Deleted fe80::1 STALE']) {
      expect(parseNeighbourEvent(line), line).toBeUndefined();
    }
  });

  it('dump: IPv4 entries with MAC and states; a malformed MAC is no MAC', () => {
    const dump = JSON.stringify([
      { dst: '10.9.0.2', lladdr: '52:54:00:00:00:02', state: ['REACHABLE'] },
      { dst: '10.9.0.3', state: ['FAILED'] },
      { dst: '10.9.0.4', lladdr: 'zz', state: ['STALE'] },
      { dst: 'fe80::1', lladdr: '52:54:00:00:00:09', state: ['STALE'] },
    ]);
    expect(parseNeighbourDump(dump)).toEqual([
      { addr: '10.9.0.2', mac: '52:54:00:00:00:02', states: ['REACHABLE'] },
      { addr: '10.9.0.3', states: ['FAILED'] },
      { addr: '10.9.0.4', states: ['STALE'] },
    ]);
    expect(parseNeighbourDump('')).toEqual([]);
  });

  it('usable: REACHABLE, STALE, DELAY, PROBE, PERMANENT, NOARP with a MAC; never INCOMPLETE, FAILED, NONE or without a MAC', () => {
    const n = (states: Neighbour['states'], mac: string | null = '52:54:00:00:00:02'): Neighbour => ({ addr: '10.9.0.2', ...(mac ? { mac } : {}), states });
    for (const s of ['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP'] as const) expect(usableNeighbour(n([s])), s).toBe(true);
    for (const s of ['INCOMPLETE', 'FAILED', 'NONE'] as const) expect(usableNeighbour(n([s])), s).toBe(false);
    expect(usableNeighbour(n(['REACHABLE'], null))).toBe(false);
    expect(usableNeighbour(undefined)).toBe(false);
  });

  it('entry: the first hop MAC, the uplink as source; STALE asks the programs to let the kernel verify', () => {
    const hop = (states: Neighbour['states']): Neighbour => ({ addr: '10.9.0.1', mac: '52:54:00:00:00:fe', states });
    expect(nextHopEntry('10.8.0.5', hop(['REACHABLE']), UPLINK)).toEqual({ node: '10.8.0.5', dstMac: '52:54:00:00:00:fe', srcMac: UPLINK.mac, ifindex: 3, flags: 0 });
    expect(nextHopEntry('10.8.0.5', hop(['STALE']), UPLINK)?.flags).toBe(NextHopFlags.Verify);
    expect(nextHopEntry('10.8.0.5', hop(['DELAY']), UPLINK)?.flags).toBe(0);
    expect(nextHopEntry('10.8.0.5', hop(['FAILED']), UPLINK)).toBeUndefined();
  });
});

describe('next-hops step (the only writer of next_hop_map)', () => {
  // Two nodes on-link (their own first hop), two behind the gateway 10.9.0.1.
  const ONLINK = ['10.9.0.2', '10.9.0.3'];
  const ROUTED = ['10.8.0.5', '10.8.0.6'];
  const gatewayFor = (addr: string) => (addr.startsWith('10.8.') ? '10.9.0.1' : addr);
  const make = (nodes: string[], enabled = true) => {
    const map = new MemoryMap();
    const gens: number[] = [];
    const genMap = { update: (_k: Buffer, v: Buffer) => void gens.push(v.readUInt32LE(0)) };
    const step = new NextHopSyncer('next_hop_map', () => map, {
      nodes: () => new Set(nodes),
      gatewayFor: () => gatewayFor,
      uplink: UPLINK,
      enabled,
      generation: { mapRef: () => genMap, cachesSafe: true },
    });
    return { map, step, gens };
  };
  const put = (addr: string, mac: string | undefined, state: Neighbour['states'][number]): NeighbourEvent => ({
    type: 'put',
    neighbour: { addr, ...(mac ? { mac } : {}), states: [state] },
  });

  it('follows the neighbour table: usable states write, STALE flags, FAILED and delete remove; a gateway serves its nodes', () => {
    const { map, step } = make([...ONLINK, ...ROUTED]);
    step.replaceNeighbours([
      { addr: '10.9.0.2', mac: '52:54:00:00:00:02', states: ['REACHABLE'] },
      { addr: '10.9.0.3', states: ['INCOMPLETE'] },
      { addr: '10.9.0.1', mac: '52:54:00:00:00:fe', states: ['PERMANENT'] },
    ]);
    step.run();
    expect(map.contents()).toEqual({ '10.9.0.2': '52:54:00:00:00:02 0', '10.8.0.5': '52:54:00:00:00:fe 0', '10.8.0.6': '52:54:00:00:00:fe 0' });

    expect(step.applyEvent(put('10.9.0.3', '52:54:00:00:00:03', 'REACHABLE'))).toBe(true);
    expect(step.applyEvent(put('10.9.0.2', '52:54:00:00:00:02', 'STALE'))).toBe(true);
    step.run();
    expect(map.contents()).toMatchObject({ '10.9.0.2': `52:54:00:00:00:02 ${NextHopFlags.Verify}`, '10.9.0.3': '52:54:00:00:00:03 0' });

    // The peer's MAC changed (a gratuitous ARP updates the kernel's entry): the new MAC within the next pass.
    step.applyEvent(put('10.9.0.2', '52:54:00:00:00:22', 'DELAY'));
    step.run();
    expect(map.contents()['10.9.0.2']).toBe('52:54:00:00:00:22 0');

    step.applyEvent(put('10.9.0.2', undefined, 'FAILED'));
    step.applyEvent({ type: 'delete', addr: '10.9.0.1' });
    step.run();
    expect(map.contents()).toEqual({ '10.9.0.3': '52:54:00:00:00:03 0' });
  });

  it('an event for an address that is nobody\'s first hop writes nothing; an unchanged state rewrites nothing', () => {
    const { map, step } = make(ONLINK);
    step.replaceNeighbours([{ addr: '10.9.0.2', mac: '52:54:00:00:00:02', states: ['REACHABLE'] }]);
    step.run();
    const writes = map.writes;
    expect(step.applyEvent(put('10.9.0.99', '52:54:00:00:00:99', 'REACHABLE'))).toBe(false);
    expect(step.pending).toBe(false);
    expect(step.applyEvent(put('10.9.0.2', '52:54:00:00:00:02', 'PROBE'))).toBe(true);
    step.run();
    expect(map.writes).toBe(writes); // PROBE with the same MAC: the same entry
  });

  it('a node that appears is written from what the table already holds; one that goes is removed', () => {
    const nodes = ['10.9.0.2'];
    const { map, step } = make(nodes);
    step.replaceNeighbours([
      { addr: '10.9.0.2', mac: '52:54:00:00:00:02', states: ['REACHABLE'] },
      { addr: '10.9.0.3', mac: '52:54:00:00:00:03', states: ['REACHABLE'] },
    ]);
    step.run();
    nodes.push('10.9.0.3');
    step.mark(['10.9.0.3']);
    step.run();
    expect(Object.keys(map.contents()).sort()).toEqual(['10.9.0.2', '10.9.0.3']);
    nodes.shift();
    step.mark(['10.9.0.2']);
    step.run();
    expect(Object.keys(map.contents())).toEqual(['10.9.0.3']);
    // The moved node's events reach it through the rebuilt index.
    expect(step.applyEvent(put('10.9.0.3', '52:54:00:00:00:33', 'REACHABLE'))).toBe(true);
  });

  it("the uplink's own MAC changes: every entry is written again with the new source", () => {
    const { map, step } = make(ONLINK);
    step.replaceNeighbours([{ addr: '10.9.0.2', mac: '52:54:00:00:00:02', states: ['REACHABLE'] }]);
    step.run();
    step.setUplinkMac('02:aa:bb:cc:dd:ee');
    expect(step.pending).toBe(true);
    step.run();
    expect([...map.store.values()].map((v) => decodeNextHopValue(v).srcMac)).toEqual(['02:aa:bb:cc:dd:ee']);
  });

  it('clear (the agent stops): the map is emptied, the programs fall back to the kernel', () => {
    const { map, step } = make(ONLINK);
    step.replaceNeighbours([{ addr: '10.9.0.2', mac: '52:54:00:00:00:02', states: ['REACHABLE'] }]);
    step.run();
    expect(map.store.size).toBe(1);
    step.clear();
    expect(map.store.size).toBe(0);
  });

  it('cache generation: a new nonzero one after every run that wrote, none after a run that did not, 0 on clear', () => {
    const { step, gens } = make(ONLINK);
    step.run(); // the first run publishes one, written or not
    expect(gens).toHaveLength(1);
    expect(gens[0]).toBeGreaterThan(0);
    step.applyEvent(put('10.9.0.2', '52:54:00:00:00:02', 'REACHABLE'));
    step.run();
    expect(gens).toEqual([gens[0], (gens[0] + 1) >>> 0 || 1]);
    step.applyEvent(put('10.9.0.2', '52:54:00:00:00:02', 'PROBE')); // same entry: nothing written
    step.run();
    expect(gens).toHaveLength(2);
    expect(step.pending).toBe(false);
    step.clear();
    expect(gens.at(-1)).toBe(0);
  });

  it('disabled: the map is emptied and kept empty', () => {
    const { map, step } = make(ONLINK, false);
    map.update(Buffer.from([10, 9, 0, 2]), Buffer.alloc(20));
    step.replaceNeighbours([{ addr: '10.9.0.2', mac: '52:54:00:00:00:02', states: ['REACHABLE'] }]);
    step.run();
    expect(map.store.size).toBe(0);
    expect(step.applyEvent(put('10.9.0.2', '52:54:00:00:00:02', 'REACHABLE'))).toBe(false);
  });
});
