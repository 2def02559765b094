// SPDX-License-Identifier: Apache-2.0
// Runs `bpf-overlay load` the way an operator would, inside a test's network namespace, and waits for it to
// be ready. The built CLI (dist/) is used: tests exercise exactly what ships.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import { sumPerCpu } from '../../src/control/maps/layout.js';
import { run, Topology, type Netns } from './netns.js';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'cli.js');

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build (scripts/test.sh does)`);
}

export interface AgentProcess {
  node: string;
  child: ChildProcess;
  log: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartAgentOptions {
  ns: Netns;
  node: string;
  datastore: string;
  bpffs: string;
  uplink?: string;
  address?: string;
  xdp?: boolean;
  /** --force-xdp: XDP decap even on a veth uplink (which the agent otherwise declines). */
  forceXdp?: boolean;
  healthPort?: number;
  metricsPort?: number;
  extraArgs?: string[];
  /** Added to this process's environment (e.g. BPF_OVERLAY_BPF_DIR to load another build). */
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

/** GET inside a namespace (its loopback is not ours): curl through nsenter, bounded by a timeout. */
export function httpGetIn(ns: Netns, url: string): { status: number; body: string } {
  const out = run('nsenter', [`--net=${ns.path}`, '--', 'curl', '-s', '-m', '2', '-w', '\n%{http_code}', url], {
    timeoutMs: 5000,
  });
  const idx = out.lastIndexOf('\n');
  return { status: Number(out.slice(idx + 1)), body: out.slice(0, idx) };
}

export async function startAgent(opts: StartAgentOptions): Promise<AgentProcess> {
  requireBuiltCli();
  const healthPort = opts.healthPort ?? 9099;
  const args = [
    `--net=${opts.ns.path}`,
    '--',
    process.execPath,
    CLI,
    'load',
    '--node',
    opts.node,
    '--bpffs',
    opts.bpffs,
    '--datastore',
    opts.datastore,
    '--health-addr',
    `127.0.0.1:${healthPort}`,
    '--metrics-addr',
    `127.0.0.1:${opts.metricsPort ?? 9091}`,
    '--log-level',
    'debug',
  ];
  if (opts.uplink) args.push('--uplink', opts.uplink);
  if (opts.address) args.push('--address', opts.address);
  if (opts.xdp) args.push('--xdp');
  if (opts.forceXdp) args.push('--force-xdp');
  args.push(...(opts.extraArgs ?? []));
  const child = spawn('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const agent: AgentProcess = {
    node: opts.node,
    child,
    log: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`agent ${opts.node} exited ${child.exitCode}:\n${output}`);
    try {
      if (httpGetIn(opts.ns, `http://127.0.0.1:${healthPort}/readyz`).status === 200) return agent;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await agent.stop('SIGKILL');
  throw new Error(`agent ${opts.node} not ready within ${opts.readyTimeoutMs ?? 20_000} ms:\n${output}`);
}

export function cli(args: string[], opts: { ns?: Netns; input?: string } = {}): string {
  requireBuiltCli();
  const cmd = opts.ns ? ['nsenter', [`--net=${opts.ns.path}`, '--', process.execPath, CLI, ...args]] : [process.execPath, [CLI, ...args]];
  return run(cmd[0] as string, cmd[1] as string[], { input: opts.input });
}

/**
 * Teardown of a test that ran agents in its own namespaces: kill them, unload each node (best effort: a
 * namespace may be gone), delete the namespaces, the bpffs directory and temporary directories.
 */
export async function tearDownNodes(opts: {
  agents: AgentProcess[];
  nodes: { name: string; ns: Netns }[];
  bpffs: string;
  topo: { destroy(): void };
  dirs?: string[];
}): Promise<void> {
  for (const a of opts.agents) await a.stop('SIGKILL');
  for (const node of opts.nodes) {
    try {
      cli(['unload', '--node', node.name, '--bpffs', opts.bpffs], { ns: node.ns });
    } catch {
      // best effort: the namespace may be gone
    }
  }
  opts.topo.destroy();
  rmSync(opts.bpffs, { recursive: true, force: true });
  for (const dir of opts.dirs ?? []) rmSync(dir, { recursive: true, force: true });
}

/**
 * Two nodes on one machine for agent tests: namespaces n1 and n2 joined by one veth (eth0 on both, addresses
 * SUBNET.1/24 and SUBNET.2/24), an SQLite datastore in a temp dir and a private bpffs directory.
 */
export function twoNodeLab(tag: string, subnet: string) {
  const topo = new Topology(tag);
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`));
  const bpffs = `/sys/fs/bpf/${topo.prefix}`;
  const names = [`${topo.prefix}-n1`, `${topo.prefix}-n2`];
  const namespaces: Netns[] = [];
  const agents: AgentProcess[] = [];
  return {
    topo,
    dir,
    datastore: `sqlite://${join(dir, 'store.db')}`,
    bpffs,
    names,
    /** Filled by wire(). */
    namespaces,
    agents,
    wire(): void {
      namespaces.push(topo.addNamespace('n1'), topo.addNamespace('n2'));
      topo.veth(namespaces[0], 'eth0', namespaces[1], 'eth0');
      namespaces.forEach((ns, i) => ns.ip('addr', 'add', `${subnet}.${i + 1}/24`, 'dev', 'eth0'));
    },
    /** Every packet the node's data path has counted, summed over slots and CPUs. */
    totalPackets(node: string): bigint {
      const m = openPinnedMap(`${bpffs}/bpf-overlay/${node}/counters_map`);
      try {
        let total = 0n;
        for (const k of m.keys()) total += sumPerCpu(m.lookupPerCpu(k) ?? []).packets;
        return total;
      } finally {
        m.close();
      }
    },
    tearDown(): Promise<void> {
      return tearDownNodes({ agents, nodes: names.map((name, i) => ({ name, ns: namespaces[i] })), bpffs, topo, dirs: [dir] });
    },
  };
}
