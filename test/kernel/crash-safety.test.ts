// SPDX-License-Identifier: Apache-2.0
// Crash safety of the reconcile: a node with 2,000 remote nodes (one block each) is killed with SIGKILL at
// seeded random points of its sync, 50 times, while the datastore flips the pool between IPIP and VXLAN every
// few rounds. After every kill each pinned map entry must be either the old or the new compiled value (per-entry
// atomic updates, no torn or foreign entries); every few rounds, and at the end, a restarted agent must reach
// the compiled state exactly (`status` inSync, no pending changes). Then SIGTERM in the middle of a big
// reconcile: exit code 0, maps consistent, and the next agent completes the sync.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compileForNode } from '../../src/control/node/inputs.js';
import { openDatastore, type Datastore } from '../../src/control/datastore/index.js';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import type { MapEntry } from '../../src/control/bpf/types.js';
import { MAP_NAMES } from '../../src/control/maps/layout.js';
import { API_VERSION, type BlockAffinity, type IPPool, type Node } from '../../src/control/model/types.js';
import { knownNodeEntries, routeEntries } from '../../src/control/reconcile/encode.js';
import { CLI, cli, startAgent } from '../harness/agent.js';
import { Topology, type Netns } from '../harness/netns.js';
import { kernelDescribe } from '../harness/privileges.js';
import { seededRandom } from '../harness/random.js';

const REMOTE_NODES = 2000;
const ROUNDS = 50;
const FULL_CHECK_EVERY = 10;
const SEED = Number(process.env.BO_CRASH_SEED ?? 20251126);


const pool = (mode: 'ipip' | 'vxlan'): IPPool => ({
  apiVersion: API_VERSION,
  kind: 'IPPool',
  metadata: { name: 'crash-pool' },
  spec: {
    cidr: '10.240.0.0/12',
    blockSize: 26,
    ipipMode: mode === 'ipip' ? 'Always' : 'Never',
    vxlanMode: mode === 'vxlan' ? 'Always' : 'Never',
    natOutgoing: false,
    disabled: false,
    nodeSelector: 'all()',
  },
} as IPPool);

/** Remote node i: underlay 172.29.X.Y in the uplink's /16, block 10.240.0.0 + 64*(i+1). */
function remoteFleet(prefix: string): (Node | BlockAffinity)[] {
  const out: (Node | BlockAffinity)[] = [];
  for (let i = 0; i < REMOTE_NODES; i++) {
    const name = `${prefix}-r${i}`;
    const base = ((10 << 24) | (240 << 16)) + (i + 1) * 64;
    const cidr = `${[24, 16, 8, 0].map((s) => (base >>> s) & 0xff).join('.')}/26`;
    out.push({
      apiVersion: API_VERSION,
      kind: 'Node',
      metadata: { name },
      spec: { bgp: { ipv4Address: `172.29.${10 + Math.floor(i / 250)}.${(i % 250) + 2}/16` } },
    } as Node);
    out.push({
      apiVersion: API_VERSION,
      kind: 'BlockAffinity',
      metadata: { name: `${name}-${cidr.replace(/[./]/g, '-')}` },
      spec: { node: name, cidr, state: 'confirmed', deleted: false },
    } as BlockAffinity);
  }
  return out;
}

const asMap = (entries: MapEntry[]) => new Map(entries.map((e) => [e.key.toString('hex'), e.value.toString('hex')]));

kernelDescribe('crash safety: SIGKILL and SIGTERM during a 2,000-node sync', () => {
  const topo = new Topology('bocr');
  const dir = mkdtempSync(join(tmpdir(), 'bo-crash-'));
  const dbFile = join(dir, 'store.db');
  const datastore = `sqlite://${dbFile}`;
  const bpffs = `/sys/fs/bpf/${topo.prefix}`;
  const node = `${topo.prefix}-local`;
  let ns: Netns;
  let ds: Datastore;
  let fullSyncMs = 0;

  const desired = async () => {
    const { state } = await compileForNode(ds, node);
    return { routes: asMap(routeEntries(state.routes)), knownNodes: asMap(knownNodeEntries(state.knownNodes)) };
  };
  const pinned = (name: string) => {
    const m = openPinnedMap(`${bpffs}/bpf-overlay/${node}/${name}`);
    try {
      return asMap(m.entries());
    } finally {
      m.close();
    }
  };
  /**
   * Entries that are neither an old nor a new compiled value (must be none), and how many are each. `older` and
   * `newer` are the states around this round; `history` holds, per key, every value compiled since the map was
   * last known to be fully in sync: a kill can leave any of them in place (a delete of an entry that an earlier
   * killed agent never got to, for instance), and the agent itself writes the datastore (a mode switch moves its
   * tunnel address), so the state it compiled may be newer than the test's.
   */
  const classify = (actual: Map<string, string>, older: Map<string, string>, newer: Map<string, string>, history?: Map<string, Set<string>>) => {
    let asOld = 0;
    let asNew = 0;
    const foreign: string[] = [];
    for (const [k, v] of actual) {
      if (newer.get(k) === v) asNew++;
      else if (older.get(k) === v) asOld++;
      else if (!history?.get(k)?.has(v)) foreign.push(k);
    }
    return { asOld, asNew, foreign };
  };
  const remember = (history: Map<string, Set<string>>, state: Map<string, string>) => {
    for (const [k, v] of state) {
      if (!history.has(k)) history.set(k, new Set());
      history.get(k)!.add(v);
    }
  };
  const status = () =>
    JSON.parse(cli(['--datastore', datastore, 'status', '--node', node, '--bpffs', bpffs, '-o', 'json'], { ns }).toString()) as {
      inSync: boolean;
      pendingMapChanges: number;
      routes: number;
    };
  const ready = () => startAgent({ ns, node, datastore, bpffs, uplink: 'eth0', readyTimeoutMs: 60_000 });

  beforeAll(async () => {
    ns = topo.addNamespace('local');
    const peer = topo.addNamespace('peer');
    topo.veth(ns, 'eth0', peer, 'eth0');
    ns.ip('addr', 'add', '172.29.0.1/16', 'dev', 'eth0');
    ds = await openDatastore(datastore);
    const fleet = remoteFleet(topo.prefix);
    for (let i = 0; i < fleet.length; i += 500) await ds.applyAll(fleet.slice(i, i + 500));
    await ds.applyAll([pool('ipip')]);
    // One clean start registers the node and allocates its tunnel address, so that later rounds only race the
    // map sync itself; its duration scales the random kill points.
    const started = Date.now();
    const agent = await ready();
    fullSyncMs = Date.now() - started;
    expect(await agent.stop('SIGTERM')).toBe(0);
    const s = status();
    console.log(`initial sync of ${s.routes} routes: ${fullSyncMs} ms to ready`);
    expect(s.inSync).toBe(true);
  }, 180_000);

  afterAll(async () => {
    await ds?.close();
    try {
      cli(['unload', '--node', node, '--bpffs', bpffs], { ns });
    } catch {
      // best effort: the namespace may be gone
    }
    topo.destroy();
    rmSync(bpffs, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL at 50 random points of the sync leaves every entry old or new, and a restart converges', async () => {
    const random = seededRandom(SEED);
    const began = Date.now();
    let mode: 'ipip' | 'vxlan' = 'ipip';
    let older = await desired();
    let newer = older;
    // Per map: every value compiled since the last converged restart (see classify).
    const history = { routes: new Map<string, Set<string>>(), knownNodes: new Map<string, Set<string>>() };
    remember(history.routes, older.routes);
    remember(history.knownNodes, older.knownNodes);
    let mixedRounds = 0;
    let fullChecks = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      if (round % 5 === 1) {
        // A new desired state, so that kills land between old and new values, not only on repeats.
        mode = mode === 'ipip' ? 'vxlan' : 'ipip';
        await ds.applyAll([pool(mode)]);
        older = newer;
        newer = await desired();
        remember(history.routes, newer.routes);
        remember(history.knownNodes, newer.knownNodes);
      }
      const delay = Math.floor(random() * fullSyncMs);
      const child = topo.track(
        spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, CLI, 'load', '--node', node, '--bpffs', bpffs,
          '--datastore', datastore, '--uplink', 'eth0', '--health-addr', '127.0.0.1:9099', '--metrics-addr', '127.0.0.1:9091'],
        { stdio: 'ignore' }),
      );
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;

      const now = await desired();
      remember(history.routes, now.routes);
      remember(history.knownNodes, now.knownNodes);
      for (const [name, want] of [
        [MAP_NAMES.routes, 'routes'],
        [MAP_NAMES.knownNodes, 'knownNodes'],
      ] as const) {
        const c = classify(pinned(name), older[want], newer[want], history[want]);
        expect(c.foreign, `round ${round} (kill after ${delay} ms): ${name} entries neither old nor new`).toEqual([]);
        if (name === MAP_NAMES.routes && c.asOld > 0 && c.asNew > 0) mixedRounds++;
      }
      newer = now;
      if (round % FULL_CHECK_EVERY === 0) {
        const agent = await ready();
        expect(await agent.stop('SIGTERM')).toBe(0);
        const s = status();
        expect(s.inSync, `round ${round}: restarted agent in sync`).toBe(true);
        expect(s.pendingMapChanges).toBe(0);
        // Converged: from here on only this state and later ones are acceptable.
        const converged = await desired();
        older = newer = converged;
        history.routes.clear();
        history.knownNodes.clear();
        remember(history.routes, converged.routes);
        remember(history.knownNodes, converged.knownNodes);
        fullChecks++;
      }
    }
    const elapsed = Date.now() - began;
    console.log(
      `crash rounds: ${ROUNDS} SIGKILLs (seed ${SEED}, delays 0..${fullSyncMs} ms) in ${elapsed} ms; ` +
        `${mixedRounds} left the routes map half old, half new (all entries valid); ${fullChecks} restarts converged`,
    );
    // Three minutes at the reference sync time (4 s to ready on an idle 2-core machine); the kill delays scale
    // with the measured sync time, so the budget does too.
    expect(elapsed).toBeLessThan(180_000 * Math.max(1, fullSyncMs / 4000));
  }, 600_000);

  it('SIGTERM during a big reconcile exits 0 with consistent maps; the next agent completes the sync', async () => {
    const agent = await ready();
    const older = await desired();
    const current = (await ds.get('IPPool', 'crash-pool'))!;
    const next = current.spec.ipipMode === 'Always' ? 'vxlan' : 'ipip';
    await ds.applyAll([pool(next)]);
    const newer = await desired();
    // Signal the moment the agent has begun rewriting the routes (some new, some still old), so that SIGTERM
    // lands inside the reconcile rather than before or after it.
    const routes = openPinnedMap(`${bpffs}/bpf-overlay/${node}/${MAP_NAMES.routes}`);
    let seenMidway = false;
    try {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const c = classify(asMap(routes.entries()), older.routes, newer.routes);
        if (c.asNew > 0) {
          seenMidway = c.asOld > 0;
          break;
        }
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      routes.close();
    }
    const started = Date.now();
    const code = await agent.stop('SIGTERM');
    const stopMs = Date.now() - started;
    const now = await desired();
    const seen = (...states: Map<string, string>[]) => {
      const h = new Map<string, Set<string>>();
      for (const st of states) remember(h, st);
      return h;
    };
    const c = classify(pinned(MAP_NAMES.routes), older.routes, newer.routes, seen(now.routes));
    const log = agent.log();
    const landedMidReconcile = log.lastIndexOf('"msg":"reconciled"') > log.indexOf('"msg":"stopping"');
    console.log(
      `SIGTERM mid-reconcile: signalled with the routes map ${seenMidway ? 'half rewritten' : 'already rewritten'}; exit ${code} after ${stopMs} ms ` +
        `(${landedMidReconcile ? 'the reconcile finished after the signal: stop() waited for it' : 'no reconcile finished after the signal'}); ` +
        `routes old ${c.asOld}, new ${c.asNew}, foreign ${c.foreign.length}`,
    );
    expect(code).toBe(0);
    expect(agent.log()).toMatch(/agent stopped; data path left in place/);
    expect(c.foreign).toEqual([]);
    expect(classify(pinned(MAP_NAMES.knownNodes), older.knownNodes, newer.knownNodes, seen(now.knownNodes)).foreign).toEqual([]);

    const again = await ready();
    expect(await again.stop('SIGTERM')).toBe(0);
    const s = status();
    expect(s.inSync).toBe(true);
    expect(s.pendingMapChanges).toBe(0);
    expect(s.routes).toBeGreaterThan(REMOTE_NODES);
  }, 120_000);
});
