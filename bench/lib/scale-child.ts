// SPDX-License-Identifier: Apache-2.0
// One backend of the issue #12 scale bench, run INSIDE the measured node's network namespace (bench/scale.ts
// puts it there), so that etcd, the byte-counting proxy, the agent and the CNI calls all talk over that
// namespace's loopback and nothing leaves it. Prints progress on stderr and one JSON result line on stdout.
// argv[2] = JSON of ScaleChildArgs.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg } from 'node:os';
import path from 'node:path';
import { PinLayout } from '../../src/control/node/pins.js';
import { openDatastore } from '../../src/control/datastore/index.js';
import type { Datastore } from '../../src/control/datastore/types.js';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import { decodeRouteValue, encodeKnownNodeKey, encodeRouteKey, RouteKind } from '../../src/control/maps/layout.js';
import type { BlockAffinity, Node } from '../../src/control/model/types.js';
import { startEtcd, type EtcdServer } from '../../test/harness/etcd.js';
import { CNI_SHIM } from '../../test/harness/cni.js';
import { run } from '../../test/harness/netns.js';
import { startByteProxy, type ByteProxy } from './byte-proxy.js';
import { syntheticBlocks } from './control-plane.js';
import { bytesRead, cpuMs, memoryMB } from './proc-stat.js';
import { AGENT_RUNTIME_ENV } from '../../src/control/agent/runtime-env.js';
import { LOCAL_NODE, SCALE, scaleNode, seedCluster, syntheticWorkload, type Seeded } from './scale-seed.js';

export interface ScaleChildArgs {
  backend: 'sqlite' | 'etcd';
  bpffs: string;
  /** Scratch directory of this run (SQLite file, etcd data). */
  dir: string;
  /** Every process this child starts is appended here, so the parent can kill them if the child dies. */
  pidFile: string;
  /** The node's uplink and its address with prefix (node-0's address in the seeded datastore). */
  uplink: string;
  address: string;
  /** Namespace-name prefix for the CNI pods (the parent deletes every namespace with it). */
  podPrefix: string;
  podEvents: number;
  changes: number;
  cniAdds: number;
  /** An ADD still running after this is killed and counted as failed (bounds the bench on a slow CNI). */
  cniTimeoutMs: number;
  /** Each measured phase stops taking samples after this long (an agent that re-lists takes seconds per event). */
  phaseBudgetMs: number;
  /** Skip the remote pod, block and node phases: seed, start the agent, run only the concurrent CNI ADDs. */
  cniOnly?: boolean;
}

export interface Latency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
}

/**
 * The agent's own share: from the change's watch delta reaching the agent to the map writes carrying it, from
 * its bpf_overlay_event_to_map_seconds histogram (sum and count read before and after each change).
 */
export interface AgentShare {
  eventToMap: Latency & {
    /** Changes after which the histogram had not exactly one new sample of the kind (their mean was taken). */
    changesNotOneSample: number;
    /** Every change's figure in milliseconds, in the order the changes were made. */
    valuesMs: number[];
  };
}

export interface ChangeCost {
  /** Bytes the agent read per change: through the etcd proxy (etcd only) and rchar of the agent process. */
  proxyBytesMedian: number | null;
  rcharBytesMedian: number;
}

/** What was measured once the agent was ready (absent when it never became ready). */
export interface ScaleMeasurements {
  startToReadyMs: number;
  rssAtReadyMB: number;
  rssSettledMB: number;
  peakRssMB: number;
  /** CPU of the agent to settle after start (everything up to idle). */
  startCpuMs: number;
  remotePod: {
    events: number;
    /** Agent CPU per remote pod create or delete, idle CPU subtracted (10 ms tick resolution over all events). */
    cpuMsPerEvent: number;
    proxyBytesPerEvent: number | null;
    rcharBytesPerEvent: number;
    /** Whether the agent read at least half the size of the WorkloadEndpoint table per event (a full list). */
    listedDatastore: boolean;
  };
  remoteBlockAdd: Latency & ChangeCost & AgentShare;
  remoteBlockDelete: Latency & ChangeCost & AgentShare;
  remoteNodeAddressChange: Latency & ChangeCost & AgentShare;
  cniAdd: (Latency & { concurrency: number; failures: number; timedOut: number; firstError?: string }) | null;
  /** 1-minute load average of the machine before and after the remote block and node phases. */
  loadAverage: [number, number];
}

export interface ScaleBackendResult {
  backend: 'sqlite' | 'etcd';
  seeded: Seeded;
  /** null: the agent was not ready within readyTimeoutMs. */
  measured: ScaleMeasurements | null;
  readyTimeoutMs: number;
  /** Distinct errors the agent logged (the first few), e.g. why it never became ready. */
  agentErrors: string[];
}

const args = JSON.parse(process.argv[2]) as ScaleChildArgs;
const READY_TIMEOUT_MS = 240_000;
const log = (m: string) => process.stderr.write(`[scale ${args.backend}] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

function track(child: ChildProcess): ChildProcess {
  if (child.pid) appendFileSync(args.pidFile, `${child.pid}\n`);
  return child;
}

function latency(xs: number[]): Latency {
  if (xs.length === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0, samples: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: s[s.length - 1], samples: s.length };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function httpText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 2 s`)));
  });
}

/** Sum (seconds) and count of the agent's bpf_overlay_event_to_map_seconds for one resource kind. */
async function eventToMapTotals(metricsUrl: string, kind: string): Promise<{ sum: number; count: number }> {
  const totals = { sum: 0, count: 0 };
  for (const line of (await httpText(metricsUrl)).split('\n')) {
    const m = /^bpf_overlay_event_to_map_seconds_(sum|count)\{(.*)\} (\S+)$/.exec(line);
    if (m && m[2].includes(`kind="${kind}"`)) totals[m[1] as 'sum' | 'count'] = Number(m[3]);
  }
  return totals;
}

/** Waits until the agent's CPU time stops growing for `quietMs` (bounded by `maxMs`). */
async function waitIdle(pid: number, quietMs: number, maxMs: number): Promise<void> {
  const deadline = now() + maxMs;
  let last = cpuMs(pid);
  let since = now();
  while (now() < deadline) {
    await sleep(50);
    const c = cpuMs(pid);
    if (c !== last) {
      last = c;
      since = now();
    } else if (now() - since >= quietMs) return;
  }
}

/** Polls `test` every millisecond or so until it holds; returns the time it took (bounded). */
async function until(test: () => boolean, maxMs: number, what: string): Promise<number> {
  const t0 = now();
  while (!test()) {
    if (now() - t0 > maxMs) throw new Error(`${what}: not seen within ${maxMs} ms`);
    await new Promise((r) => setImmediate(r));
  }
  return now() - t0;
}

async function startDatastore(): Promise<{ ds: Datastore; agentUrl: string; proxy: ByteProxy | null; etcd: EtcdServer | null }> {
  if (args.backend === 'sqlite') {
    const url = `sqlite://${path.join(args.dir, 'store.db')}`;
    return { ds: await openDatastore(url), agentUrl: url, proxy: null, etcd: null };
  }
  const etcd = await startEtcd({ dataDir: path.join(args.dir, 'etcd') });
  track(etcd.process);
  const port = Number(new URL(etcd.clientUrl).port);
  const proxy = await startByteProxy({ host: '127.0.0.1', port });
  return { ds: await openDatastore(etcd.url), agentUrl: `etcd://127.0.0.1:${proxy.port}`, proxy, etcd };
}

async function main(): Promise<ScaleBackendResult> {
  mkdirSync(args.dir, { recursive: true });
  const { ds, agentUrl, proxy, etcd } = await startDatastore();
  let agent: ChildProcess | undefined;
  try {
    log('seeding');
    // etcd allows 128 operations per transaction; a WorkloadEndpoint takes two (the resource and its node index).
    const seeded = await seedCluster(ds, args.backend === 'etcd' ? 60 : 5000, args.backend === 'etcd' ? 8 : 1, log);
    log(`seeded ${seeded.records} records (${(seeded.bytes / 2 ** 20).toFixed(0)} MB of JSON) in ${seeded.seconds.toFixed(1)} s`);

    const healthPort = 19000 + Math.floor(Math.random() * 1000);
    const cli = path.join(import.meta.dirname, '..', '..', 'dist', 'cli.js');
    const t0 = now();
    agent = track(
      spawn(process.execPath, [cli, 'load', '--node', LOCAL_NODE, '--bpffs', args.bpffs, '--datastore', agentUrl, '--uplink', args.uplink,
        '--address', args.address, '--health-addr', `127.0.0.1:${healthPort}`, '--metrics-addr', `127.0.0.1:${healthPort + 1}`, '--log-level', 'warn'],
      // As deployed (systemd unit, DaemonSet): the same V8 and malloc settings.
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...AGENT_RUNTIME_ENV } }),
    );
    let agentLog = '';
    const agentErrors = new Set<string>();
    agent.stderr!.on('data', (d: Buffer) => {
      agentLog = (agentLog + d.toString()).slice(-4000);
      for (const m of d.toString().matchAll(/"err":"((?:[^"\\]|\\.)*)"/g)) if (agentErrors.size < 5) agentErrors.add(m[1]);
    });
    const pid = agent.pid!;
    let ready = false;
    while (!ready && now() - t0 < READY_TIMEOUT_MS && agent.exitCode === null) {
      ready = (await httpStatus(`http://127.0.0.1:${healthPort}/readyz`)) === 200;
      if (!ready) await sleep(20);
    }
    const outcome = { backend: args.backend, seeded, readyTimeoutMs: READY_TIMEOUT_MS };
    if (!ready) {
      // An agent that exits during start says why on its last stderr line.
      if (agent.exitCode !== null) agentErrors.add(`exited ${agent.exitCode}: ${agentLog.trim().split('\n').pop()}`);
      log(`agent not ready within ${READY_TIMEOUT_MS / 1000} s; errors: ${[...agentErrors].join(' | ') || 'none logged'}`);
      return { ...outcome, measured: null, agentErrors: [...agentErrors] };
    }
    const startToReadyMs = now() - t0;
    const rssAtReadyMB = memoryMB(pid).rssMB;
    log(`ready in ${startToReadyMs.toFixed(0)} ms, RSS ${rssAtReadyMB.toFixed(0)} MB`);
    await waitIdle(pid, 1500, 120_000);
    const startCpuMs = cpuMs(pid);
    const rssSettledMB = memoryMB(pid).rssMB;

    const counters = () => ({ cpu: cpuMs(pid), proxy: proxy?.counts().toClient ?? 0, rchar: bytesRead(pid), at: now() });
    // Idle cost over a quiet period: subtracted from the per-event figures.
    const idle0 = counters();
    await sleep(3000);
    const idle1 = counters();
    const idleCpuPerMs = (idle1.cpu - idle0.cpu) / (idle1.at - idle0.at);
    const idleRcharPerMs = (idle1.rchar - idle0.rchar) / (idle1.at - idle0.at);
    const idleProxyPerMs = (idle1.proxy - idle0.proxy) / (idle1.at - idle0.at);

    const podEventCount = args.cniOnly ? 0 : args.podEvents;
    log(`${podEventCount} remote pod creates and deletes`);
    const poolOf = (cidr: string) => `pool-${Math.floor(Number(cidr.split('.')[1]) / 8)}`;
    const p0 = counters();
    let podEvents = 0;
    for (let k = 0; k < podEventCount && (k < 2 || now() - p0.at < args.phaseBudgetMs); k++, podEvents++) {
      const w = syntheticWorkload(1 + (k % 100), 40 + k, poolOf);
      if (k % 2 === 0) await ds.put(w);
      else await ds.delete('WorkloadEndpoint', syntheticWorkload(1 + ((k - 1) % 100), 40 + k - 1, poolOf).metadata.name);
      await waitIdle(pid, 300, 30_000);
    }
    const p1 = counters();
    const span = p1.at - p0.at;
    const perEvent = (x: number) => (podEvents === 0 ? 0 : Math.max(0, x) / podEvents);
    const podCpu = perEvent(p1.cpu - p0.cpu - idleCpuPerMs * span);
    const podRchar = perEvent(p1.rchar - p0.rchar - idleRcharPerMs * span);
    const podProxy = proxy ? perEvent(p1.proxy - p0.proxy - idleProxyPerMs * span) : null;
    log(`remote pod event: ${podCpu.toFixed(1)} ms CPU, ${(podRchar / 1024).toFixed(0)} KiB read`);

    const pins = new PinLayout(args.bpffs, LOCAL_NODE);
    const routes = openPinnedMap(pins.map('routes_map'));
    const known = openPinnedMap(pins.map('known_nodes_map'));
    const metricsUrl = `http://127.0.0.1:${healthPort + 1}/metrics`;
    const measure = async (n: number, kind: string, change: (r: number) => Promise<() => boolean>, what: string) => {
      const lat: number[] = [];
      const agentLat: number[] = [];
      let notOneSample = 0;
      const proxyBytes: number[] = [];
      const rchar: number[] = [];
      if (args.cniOnly) return { ...latency([]), proxyBytesMedian: null, rcharBytesMedian: 0, eventToMap: { ...latency([]), changesNotOneSample: 0, valuesMs: [] } };
      const started = now();
      for (let r = 0; r < n && (r < 3 || now() - started < args.phaseBudgetMs); r++) {
        // Scraped outside the counted span, so the scrape's own reads are not charged to the change.
        const e0 = await eventToMapTotals(metricsUrl, kind);
        const c0 = counters();
        const seen = await change(r);
        lat.push(await until(seen, 30_000, `${what} ${r}`));
        await waitIdle(pid, 200, 30_000);
        const c1 = counters();
        proxyBytes.push(c1.proxy - c0.proxy - idleProxyPerMs * (c1.at - c0.at));
        rchar.push(c1.rchar - c0.rchar - idleRcharPerMs * (c1.at - c0.at));
        const e1 = await eventToMapTotals(metricsUrl, kind);
        const added = e1.count - e0.count;
        if (added !== 1) notOneSample++;
        if (added > 0) agentLat.push(((e1.sum - e0.sum) / added) * 1000);
      }
      const l = latency(lat);
      const a = latency(agentLat);
      log(`${what}: p50 ${l.p50Ms.toFixed(1)} ms, p99 ${l.p99Ms.toFixed(1)} ms after the write returned; ` +
        `p50 ${a.p50Ms.toFixed(2)} ms, p99 ${a.p99Ms.toFixed(2)} ms after the event reached the agent (n=${a.samples}, ${notOneSample} changes not one sample)`);
      return { ...l, proxyBytesMedian: proxy ? median(proxyBytes) : null, rcharBytesMedian: median(rchar), eventToMap: { ...a, changesNotOneSample: notOneSample, valuesMs: agentLat.map((x) => Math.round(x * 1000) / 1000) } };
    };
    // A new block of an existing remote node, at a CIDR no node holds yet; then its removal.
    const extraBlock = (r: number): BlockAffinity => {
      const b = syntheticBlocks(SCALE.nodes + r)[0];
      const node = `node-${1 + r}`;
      return { ...b, metadata: { name: `${node}-extra-${r}` }, spec: { ...b.spec, node } };
    };
    // The routes map is an LPM trie: a lookup of the block finds the pool's route until the block's own is in.
    const hasRoute = (cidr: string) => {
      const v = routes.lookup(encodeRouteKey(cidr));
      return v !== undefined && decodeRouteValue(v).kind === RouteKind.RemoteBlock;
    };
    const loadBefore = loadavg()[0];
    const remoteBlockAdd = await measure(args.changes, 'BlockAffinity', async (r) => {
      const b = extraBlock(r);
      await ds.put(b);
      return () => hasRoute(b.spec.cidr);
    }, 'remote block add');
    // Only the blocks the add phase wrote (it may have stopped early on its time budget).
    const remoteBlockDelete = await measure(remoteBlockAdd.samples, 'BlockAffinity', async (r) => {
      const b = extraBlock(r);
      await ds.delete('BlockAffinity', b.metadata.name);
      return () => !hasRoute(b.spec.cidr);
    }, 'remote block delete');
    const remoteNodeAddressChange = await measure(args.changes, 'Node', async (r) => {
      const node = scaleNode(1 + r);
      const addr = `172.20.${Math.floor(r / 250)}.${1 + (r % 250)}`;
      const moved: Node = { ...node, spec: { ...node.spec, bgp: { ipv4Address: `${addr}/22` } } };
      await ds.put(moved);
      return () => known.lookup(encodeKnownNodeKey(addr)) !== undefined;
    }, 'remote node address change');
    const loadAfter = loadavg()[0];
    routes.close();
    known.close();

    const cniAdd = args.cniAdds > 0 ? await cniAdds(agentUrl) : null;
    const measured: ScaleMeasurements = {
      startToReadyMs,
      rssAtReadyMB,
      rssSettledMB,
      peakRssMB: memoryMB(pid).peakMB,
      startCpuMs,
      remotePod: {
        events: podEvents,
        cpuMsPerEvent: podCpu,
        proxyBytesPerEvent: podProxy,
        rcharBytesPerEvent: podRchar,
        listedDatastore: (podProxy ?? podRchar) >= seeded.workloadBytes / 2,
      },
      remoteBlockAdd,
      remoteBlockDelete,
      remoteNodeAddressChange,
      cniAdd,
      loadAverage: [loadBefore, loadAfter],
    };
    return { ...outcome, measured, agentErrors: [...agentErrors] };
  } finally {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await Promise.race([new Promise((r) => agent!.once('exit', r)), sleep(10_000)]);
      if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
    }
    await ds.close();
    await proxy?.close();
    await etcd?.stop();
  }
}

/** `cniAdds` ADDs on this node at once, each into its own new pod namespace. */
async function cniAdds(datastore: string) {
  const names = Array.from({ length: args.cniAdds }, (_, i) => `${args.podPrefix}-p${i}`);
  const config = JSON.stringify({ cniVersion: '1.0.0', name: 'bo-scale', type: 'bpf-overlay', datastore, nodeName: LOCAL_NODE, bpffs: args.bpffs });
  // Each plugin reads its config from a file: through a pipe, this process (busy starting the other plugins, fifty
  // in a row) would close stdin only after the last one started, and every plugin would wait for that end of file.
  // A runtime writes and closes each plugin's stdin as soon as it starts it.
  const configFile = path.join(args.dir, 'cni-add-config.json');
  writeFileSync(configFile, config);
  const call = (command: 'ADD', name: string, i: number) =>
    new Promise<{ ms: number; code: number | null; out: string }>((resolve) => {
      const t0 = now();
      const stdin = openSync(configFile, 'r');
      const child = track(
        spawn(CNI_SHIM, [], {
          env: {
            PATH: process.env.PATH,
            CNI_COMMAND: command,
            CNI_PATH: path.dirname(CNI_SHIM),
            CNI_CONTAINERID: `${args.podPrefix}-c${i}`,
            CNI_NETNS: `/run/netns/${name}`,
            CNI_IFNAME: 'eth0',
            CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=scale-${i}`,
          },
          stdio: [stdin, 'pipe', 'pipe'],
        }),
      );
      closeSync(stdin);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), args.cniTimeoutMs);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ ms: now() - t0, code, out });
      });
    });
  try {
    for (const n of names) run('ip', ['netns', 'add', n]);
    log(`${args.cniAdds} concurrent CNI ADDs`);
    // Started back to back, with a turn of the event loop after each start: a plugin that finishes while the others
    // are still being started is timed when it exits, not when the last one has been started.
    const started: ReturnType<typeof call>[] = [];
    for (const [i, n] of names.entries()) {
      started.push(call('ADD', n, i));
      await new Promise((r) => setImmediate(r));
    }
    const adds = await Promise.all(started);
    const failures = adds.filter((a) => a.code !== 0);
    const l = latency(adds.map((a) => a.ms));
    log(`CNI ADD p50 ${l.p50Ms.toFixed(0)} ms, p99 ${l.p99Ms.toFixed(0)} ms, ${failures.length} failed`);
    // No DEL: the node namespace, its pins and the datastore are thrown away with everything the ADDs made.
    const timedOut = adds.filter((a) => a.ms >= args.cniTimeoutMs).length;
    return { ...l, concurrency: args.cniAdds, failures: failures.length, timedOut, ...(failures[0] ? { firstError: failures[0].out.slice(0, 500) } : {}) };
  } finally {
    for (const n of names) {
      try {
        run('ip', ['netns', 'del', n]);
      } catch {
        // not created
      }
    }
  }
}

try {
  console.log(JSON.stringify(await main()));
} catch (err) {
  console.error(err);
  process.exitCode = 1;
}
