// SPDX-License-Identifier: Apache-2.0
// The namespace-cluster lab, shared by the e2e tests (test/e2e), the benchmarks (bench/) and the demo
// (scripts/demo.ts): one place builds it, so all three measure and show the same network.
//
//   subnet A 10.X.1.0/24: node1 .2, node2 .3 ─ bridge brA ─┐
//                                                           router (.1 on each subnet, ip_forward, NO pool routes)
//   subnet B 10.X.2.0/24: node3 .2 ────────────────────────┤
//   ext      10.X.3.0/24: ext .2 (outside every pool) ─────┘
//
// One agent per node (`bpf-overlay load` inside the node's namespace), one shared datastore (SQLite file, or etcd
// served from the router namespace on the router's subnet-A address), workloads attached through the real CNI
// plugin, plus traffic helpers (ping, checksummed TCP transfer) and capture/dissection with tcpdump + tshark.
// Everything it creates (namespaces, agents, pins, temp files) is removed by destroy(), and on process exit.
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PinLayout } from '../../src/control/node/pins.js';
import { BirdPaths, killBirdNow } from '../../src/control/bgp/index.js';
import type { IPPoolSpec, Resource } from '../../src/control/model/types.js';
import { cli, startAgent, type AgentProcess } from '../harness/agent.js';
import { buildDist, cniOk, invokeCni, repoRoot, type CniReply } from '../harness/cni.js';
import { ETCD_BINARY } from '../harness/etcd.js';
import { testPool } from '../harness/resources.js';
import { run, Topology, type Netns } from '../harness/netns.js';

export const CNI_NETWORK = 'bo-e2e';
const SCRIPTS = path.join(repoRoot, 'test', 'lab', 'scripts');

export interface ClusterOptions {
  /** Namespace name tag (a random suffix is added). Default "boe". */
  tag?: string;
  /** Second octet of every underlay subnet: 10.X.1.0/24, 10.X.2.0/24, 10.X.3.0/24. Default 100. */
  underlayOctet?: number;
  /** Underlay MTU of every link. Default 1500. */
  underlayMtu?: number;
  /** Default "sqlite" (a file in a temp dir). "etcd" runs etcd in the router namespace. */
  datastore?: 'sqlite' | 'etcd';
  /** Start one agent per node. Default true. */
  agents?: boolean;
  /** Pass --xdp --force-xdp to every agent: the underlay is veths, where the agent declines XDP unless forced. */
  xdp?: boolean;
  /** Resources applied before the agents start. Default: one VXLAN Always pool 10.244.0.0/16, /26 blocks. */
  resources?: Resource[];
  /** Turn off TX checksum offload on the underlay veths so captures show final checksums. Default false. */
  disableChecksumOffload?: boolean;
  bpffs?: string;
  agentReadyTimeoutMs?: number;
}

export interface ClusterNode {
  /** Node name, unique per run (also the pin directory name under bpffs). */
  name: string;
  ns: Netns;
  /** Underlay interface inside the node namespace. */
  uplink: string;
  /** "10.X.1.2/24" */
  cidr: string;
  /** "10.X.1.2" */
  address: string;
  subnet: 'A' | 'B';
  healthPort: number;
  metricsPort: number;
  agent?: AgentProcess;
}

export interface Workload {
  name: string;
  ns: Netns;
  node: ClusterNode;
  containerId: string;
  ifname: string;
  /** Pool address, no prefix. */
  address: string;
  result: Record<string, unknown>;
}

export interface AddWorkloadOptions {
  ifname?: string;
  /** CNI config ipPool. */
  pool?: string;
  /** CNI config mtu. */
  mtu?: number;
  /** Extra CNI config fields. */
  config?: Record<string, unknown>;
  podNamespace?: string;
}

export interface PingOptions {
  count?: number;
  /** ICMP payload size (ping -s). */
  size?: number;
  /** Set DF and forbid fragmentation (ping -M do). */
  dontFragment?: boolean;
  intervalS?: number;
  /** Whole-run deadline in seconds (ping -w). Default count + 2. */
  deadlineS?: number;
}

export interface PingResult {
  ok: boolean;
  transmitted: number;
  received: number;
  output: string;
}

export interface TransferResult {
  ok: boolean;
  bytes: number;
  receivedBytes: number;
  sentSha256: string;
  receivedSha256: string;
  ms: number;
  error?: string;
}

export type Encapsulation = 'plain' | 'ipip' | 'vxlan' | 'other';

export interface DissectedPacket {
  frame: number;
  encap: Encapsulation;
  /** Outermost IPv4 source and destination. */
  src?: string;
  dst?: string;
  /** Innermost IPv4 source and destination (equal to the outer ones for plain packets). */
  innerSrc?: string;
  innerDst?: string;
  /** IP protocol numbers, outermost first. */
  protos: number[];
  udpDstPorts: number[];
  vni?: number;
  expert: string[];
  /** Capture timestamp, seconds since the epoch (same clock as Date.now() / 1000). */
  time: number;
  /** Innermost TCP ports, when the packet carries TCP. */
  tcpSrcPort?: number;
  tcpDstPort?: number;
  /** For ARP frames: the address asked for. */
  arpTarget?: string;
}

export interface CaptureSummary {
  file: string;
  frames: number;
  counts: Record<Encapsulation, number>;
  vnis: number[];
  malformed: number;
  checksumErrors: number;
  packets: DissectedPacket[];
}

export interface Capture {
  file: string;
  /** Stops tcpdump and dissects what it wrote; `tcpdump` is its closing report (packets captured, dropped). */
  stop(): Promise<CaptureSummary & { tcpdump: string }>;
}

/** An IPPool resource with Calico's defaults for everything not given. */
export function ippool(name: string, cidr: string, spec: Partial<IPPoolSpec> = {}): Resource {
  return testPool(name, cidr, { vxlanMode: 'Never', ...spec });
}

// Last resort when the test process dies without destroy(): agents are separate processes, pins live on bpffs.
const liveAgents = new Set<ChildProcess>();
const livePinDirs = new Set<string>();
const liveNodeNames = new Set<string>();
process.on('exit', () => {
  for (const child of liveAgents) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of livePinDirs) rmSync(dir, { recursive: true, force: true });
  // An agent killed above leaves its BIRD behind (BGP tests): stop it too.
  for (const node of liveNodeNames) killBirdNow(new BirdPaths(node));
});

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class Cluster {
  readonly topo: Topology;
  readonly router: Netns;
  readonly ext: Netns;
  readonly extAddress: string;
  readonly nodes: ClusterNode[];
  readonly workloads: Workload[] = [];
  readonly tmp: string;
  readonly bpffs: string;
  datastoreUrl = '';
  private etcd?: NamespacedEtcd;
  private workloadSeq = 0;
  private captures: ChildProcess[] = [];
  private destroyed = false;

  private constructor(readonly opts: ClusterOptions) {
    this.topo = new Topology(opts.tag ?? 'boe');
    this.tmp = mkdtempSync(path.join(os.tmpdir(), `${this.topo.prefix}-`));
    this.bpffs = opts.bpffs ?? '/sys/fs/bpf';
    const x = opts.underlayOctet ?? 100;
    const mtu = opts.underlayMtu ?? 1500;
    const t = this.topo;

    this.router = t.addNamespace('rt');
    this.router.exec('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    this.router.ip('link', 'add', 'brA', 'mtu', String(mtu), 'type', 'bridge');
    this.router.ip('addr', 'add', `10.${x}.1.1/24`, 'dev', 'brA');
    this.router.ip('link', 'set', 'brA', 'up');

    const spec = [
      { n: 1, subnet: 'A', address: `10.${x}.1.2` },
      { n: 2, subnet: 'A', address: `10.${x}.1.3` },
      { n: 3, subnet: 'B', address: `10.${x}.2.2` },
    ] as const;
    this.nodes = spec.map(({ n, subnet, address }) => {
      const ns = t.addNamespace(`n${n}`);
      t.veth(ns, 'eth0', this.router, `n${n}`, { mtu });
      if (subnet === 'A') {
        this.router.ip('link', 'set', `n${n}`, 'master', 'brA');
        ns.ip('addr', 'add', `${address}/24`, 'dev', 'eth0');
        ns.ip('route', 'add', 'default', 'via', `10.${x}.1.1`);
      } else {
        this.router.ip('addr', 'add', `10.${x}.2.1/24`, 'dev', `n${n}`);
        ns.ip('addr', 'add', `${address}/24`, 'dev', 'eth0');
        ns.ip('route', 'add', 'default', 'via', `10.${x}.2.1`);
      }
      return {
        name: `${t.prefix}-n${n}`,
        ns,
        uplink: 'eth0',
        cidr: `${address}/24`,
        address,
        subnet,
        healthPort: 19090 + n * 2,
        metricsPort: 19091 + n * 2,
      } satisfies ClusterNode;
    });
    for (const node of this.nodes) livePinDirs.add(new PinLayout(this.bpffs, node.name).root);
    for (const node of this.nodes) liveNodeNames.add(node.name);

    this.ext = t.addNamespace('ext');
    t.veth(this.ext, 'eth0', this.router, 'ext', { mtu });
    this.router.ip('addr', 'add', `10.${x}.3.1/24`, 'dev', 'ext');
    this.extAddress = `10.${x}.3.2`;
    this.ext.ip('addr', 'add', `${this.extAddress}/24`, 'dev', 'eth0');
    this.ext.ip('route', 'add', 'default', 'via', `10.${x}.3.1`);

    if (opts.disableChecksumOffload) {
      for (const node of this.nodes) node.ns.exec('ethtool', ['-K', 'eth0', 'tx', 'off']);
      this.ext.exec('ethtool', ['-K', 'eth0', 'tx', 'off']);
    }
  }

  /** Builds the cluster; on any failure everything made so far is removed before the error propagates. */
  static async create(opts: ClusterOptions = {}): Promise<Cluster> {
    buildDist();
    const cluster = new Cluster(opts);
    try {
      await cluster.startDatastore();
      cluster.apply(opts.resources ?? [ippool('default-pool', '10.244.0.0/16', { vxlanMode: 'Always' })]);
      if (opts.agents ?? true) await cluster.startAgents();
      return cluster;
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
  }

  private async startDatastore(): Promise<void> {
    if (this.opts.datastore === 'etcd') {
      // On the router's subnet-A address: agents and CNI reach it over the underlay, as in a real cluster.
      this.etcd = await startEtcdIn(this.router, this.routerAddress('A'), path.join(this.tmp, 'etcd'));
      this.datastoreUrl = this.etcd.url;
    } else {
      this.datastoreUrl = `sqlite://${this.tmp}/store.db`;
    }
  }

  routerAddress(subnet: 'A' | 'B' | 'ext'): string {
    const x = this.opts.underlayOctet ?? 100;
    return `10.${x}.${subnet === 'A' ? 1 : subnet === 'B' ? 2 : 3}.1`;
  }

  node(nameOrIndex: string | number): ClusterNode {
    const n = typeof nameOrIndex === 'number' ? this.nodes[nameOrIndex] : this.nodes.find((x) => x.name === nameOrIndex);
    if (!n) throw new Error(`no node ${nameOrIndex} in this cluster`);
    return n;
  }

  pins(node: ClusterNode): PinLayout {
    return new PinLayout(this.bpffs, node.name);
  }

  /** `bpf-overlay ARGS --datastore URL`, run in the router namespace (which reaches the datastore either way). */
  cli(args: string[], input?: string): string {
    return cli([...args, '--datastore', this.datastoreUrl], { ns: this.router, input });
  }

  /** Creates or updates resources through `bpf-overlay apply -f -`. */
  apply(resources: Resource[]): void {
    if (resources.length === 0) return;
    this.cli(['apply', '-f', '-'], resources.map((r) => JSON.stringify(r)).join('\n---\n') + '\n');
  }

  /** `bpf-overlay get KIND -o json`, parsed. */
  get(kind: 'ippools' | 'nodes' | 'blockaffinities' | 'workloadendpoints' | 'overlayconfigurations'): Resource[] {
    return (JSON.parse(this.cli(['get', kind, '-o', 'json'])) as { items: Resource[] }).items;
  }

  async startAgent(node: ClusterNode): Promise<AgentProcess> {
    if (node.agent) return node.agent;
    const agent = await startAgent({
      ns: node.ns,
      node: node.name,
      datastore: this.datastoreUrl,
      bpffs: this.bpffs,
      uplink: node.uplink,
      address: node.cidr,
      xdp: this.opts.xdp,
      forceXdp: this.opts.xdp,
      healthPort: node.healthPort,
      metricsPort: node.metricsPort,
      readyTimeoutMs: this.opts.agentReadyTimeoutMs ?? 30_000,
    });
    liveAgents.add(agent.child);
    node.agent = agent;
    return agent;
  }

  async startAgents(): Promise<void> {
    // One after another: the first start creates the SQLite schema, and failures name a single node.
    for (const node of this.nodes) await this.startAgent(node);
  }

  /** SIGTERM (then SIGKILL after 10 s); pins stay until unload, like a real agent restart. */
  async stopAgent(node: ClusterNode): Promise<number | null> {
    const agent = node.agent;
    if (!agent) return null;
    node.agent = undefined;
    const code = await agent.stop();
    liveAgents.delete(agent.child);
    return code;
  }

  /** `bpf-overlay unload --node NAME` in the node's namespace. */
  unload(node: ClusterNode): string {
    return cli(['unload', '--node', node.name, '--bpffs', this.bpffs], { ns: node.ns });
  }

  /** CNI call on a node, exactly as a runtime would do it. */
  cni(node: ClusterNode, command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', opts: {
    containerId?: string;
    netns?: string;
    ifname?: string;
    args?: Record<string, string>;
    config?: Record<string, unknown>;
  } = {}): CniReply {
    return invokeCni({
      command,
      containerId: opts.containerId,
      netns: opts.netns,
      ifname: opts.ifname,
      args: opts.args,
      hostNetns: node.ns.path,
      config: this.cniConfig(node, opts.config),
    });
  }

  cniConfig(node: ClusterNode, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      cniVersion: '1.0.0',
      name: CNI_NETWORK,
      type: 'bpf-overlay',
      datastore: this.datastoreUrl,
      nodeName: node.name,
      bpffs: this.bpffs,
      ...extra,
    };
  }

  /** A new namespace attached to the node through CNI ADD; throws with the plugin's error object on failure. */
  addWorkload(node: ClusterNode | number, opts: AddWorkloadOptions = {}): Workload {
    const n = typeof node === 'number' ? this.nodes[node] : node;
    const seq = ++this.workloadSeq;
    const name = `w${seq}`;
    const ns = this.topo.addNamespace(name);
    const containerId = `${this.topo.prefix}-${name}`;
    const ifname = opts.ifname ?? 'eth0';
    const config: Record<string, unknown> = { ...opts.config };
    if (opts.pool) config.ipPool = opts.pool;
    if (opts.mtu) config.mtu = opts.mtu;
    const reply = cniOk({
      command: 'ADD',
      containerId,
      netns: ns.path,
      ifname,
      args: { K8S_POD_NAMESPACE: opts.podNamespace ?? 'default', K8S_POD_NAME: name },
      hostNetns: n.ns.path,
      config: this.cniConfig(n, config),
    });
    const result = reply.json as Record<string, unknown>;
    const ips = result.ips as { address: string }[];
    const w: Workload = { name, ns, node: n, containerId, ifname, address: ips[0].address.split('/')[0], result };
    this.workloads.push(w);
    return w;
  }

  /** CNI DEL of the workload (its namespace stays until destroy). */
  removeWorkload(w: Workload): CniReply {
    const reply = this.cni(w.node, 'DEL', { containerId: w.containerId, netns: w.ns.path, ifname: w.ifname });
    const i = this.workloads.indexOf(w);
    if (i >= 0) this.workloads.splice(i, 1);
    return reply;
  }

  /** ping from a namespace; never throws on loss, reports it. */
  ping(from: Netns | Workload, to: string, opts: PingOptions = {}): PingResult {
    const ns = 'ns' in from ? from.ns : from;
    const count = opts.count ?? 3;
    const args = ['-n', '-c', String(count), '-i', String(opts.intervalS ?? 0.2), '-W', '1', '-w', String(opts.deadlineS ?? count + 2)];
    if (opts.size !== undefined) args.push('-s', String(opts.size));
    if (opts.dontFragment) args.push('-M', 'do');
    const res = spawnSync('nsenter', [`--net=${ns.path}`, '--', 'ping', ...args, to], {
      encoding: 'utf8',
      timeout: ((opts.deadlineS ?? count + 2) + 5) * 1000,
    });
    const output = `${res.stdout ?? ''}${res.stderr ?? ''}`;
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
    const transmitted = m ? Number(m[1]) : 0;
    const received = m ? Number(m[2]) : 0;
    // With a deadline (-w), ping keeps sending until it has count replies: more may be sent than count.
    return { ok: res.status === 0 && received >= count, transmitted, received, output };
  }

  /**
   * Sends `bytes` random bytes over TCP from one namespace to a listener in another and compares the sha256 of
   * what was sent with what arrived.
   */
  async tcpTransfer(
    from: Netns | Workload,
    to: Netns | Workload,
    opts: { bytes: number; toAddress?: string; port?: number; timeoutMs?: number },
  ): Promise<TransferResult> {
    const src = 'ns' in from ? from.ns : from;
    const dst = 'ns' in to ? to.ns : to;
    const address = opts.toAddress ?? ('address' in to ? to.address : undefined);
    if (!address) throw new Error('tcpTransfer: toAddress is required when the target is a bare namespace');
    const port = opts.port ?? 15001;
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const sink = dst.spawn(process.execPath, [path.join(SCRIPTS, 'tcp-sink.mjs'), address, String(port), String(timeoutMs)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.topo.track(sink);
    let sinkOut = '';
    sink.stdout!.on('data', (d: Buffer) => (sinkOut += d.toString()));
    sink.stderr!.on('data', (d: Buffer) => (sinkOut += d.toString()));
    const sinkExit = new Promise<void>((resolve) => sink.once('exit', () => resolve()));
    try {
      await waitFor(`TCP sink on ${address}:${port}`, 10_000, () => {
        if (sink.exitCode !== null) throw new Error(`TCP sink exited: ${sinkOut}`);
        return sinkOut.includes('listening') ? true : undefined;
      });
      const source = await new Promise<string>((resolve) => {
        const c = src.spawn(process.execPath, [path.join(SCRIPTS, 'tcp-source.mjs'), address, String(port), String(opts.bytes), String(timeoutMs)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        this.topo.track(c);
        let out = '';
        c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs + 5_000);
        c.once('exit', () => {
          clearTimeout(timer);
          resolve(out);
        });
      });
      const timer = setTimeout(() => sink.kill('SIGKILL'), 10_000);
      await sinkExit;
      clearTimeout(timer);
      const sent = lastJson(source);
      const got = lastJson(sinkOut.replace('listening\n', ''));
      const error = (sent.error ?? got.error) as string | undefined;
      const result: TransferResult = {
        bytes: Number(sent.bytes ?? 0),
        receivedBytes: Number(got.bytes ?? 0),
        sentSha256: String(sent.sha256 ?? ''),
        receivedSha256: String(got.sha256 ?? ''),
        ms: Number(got.ms ?? sent.ms ?? 0),
        ok: false,
      };
      if (error) result.error = error;
      result.ok = !error && result.bytes === opts.bytes && result.receivedBytes === opts.bytes && result.sentSha256 === result.receivedSha256;
      return result;
    } finally {
      if (sink.exitCode === null && sink.signalCode === null) sink.kill('SIGKILL');
    }
  }

  /** Starts tcpdump on an interface of a namespace (e.g. a node's uplink); stop() dissects the capture. */
  async capture(ns: Netns, ifname: string, opts: { filter?: string[]; snaplen?: number; maxPackets?: number } = {}): Promise<Capture> {
    const file = path.join(this.tmp, `${ns.name}-${ifname}-${Date.now()}.pcap`);
    // -Z root: tcpdump otherwise drops to its own user, which cannot write into our 0700 temp dir.
    const child = ns.spawn('tcpdump', ['-Z', 'root', '--immediate-mode', '-i', ifname, '-n', '-U', '-s', String(opts.snaplen ?? 0), ...(opts.maxPackets ? ['-c', String(opts.maxPackets)] : []), '-w', file, ...(opts.filter ?? [])], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.captures.push(child);
    this.topo.track(child);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await waitFor(`tcpdump on ${ns.name}/${ifname}`, 10_000, () => {
      if (child.exitCode !== null) throw new Error(`tcpdump exited: ${err}`);
      return err.includes('listening on') ? true : undefined;
    });
    return {
      file,
      stop: async () => {
        // SIGINT discards what tcpdump has not read yet: give the last packets a moment to reach the file.
        await new Promise((r) => setTimeout(r, 300));
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
        if (!existsSync(file)) throw new Error(`tcpdump on ${ns.name}/${ifname} wrote no file: ${err}`);
        return { ...dissect(file), tcpdump: err.trim() };
      },
    };
  }

  /** Stops agents, unloads every node, removes namespaces, pins, etcd and temp files. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const problems: string[] = [];
    for (const node of this.nodes) {
      try {
        await this.stopAgent(node);
      } catch (err) {
        problems.push(`stop agent ${node.name}: ${(err as Error).message}`);
      }
      try {
        this.unload(node);
      } catch (err) {
        problems.push(`unload ${node.name}: ${(err as Error).message}`);
      }
    }
    for (const c of this.captures) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await this.etcd?.stop();
    this.topo.destroy();
    for (const node of this.nodes) {
      const root = this.pins(node).root;
      rmSync(root, { recursive: true, force: true });
      livePinDirs.delete(root);
      liveNodeNames.delete(node.name);
    }
    rmSync(this.tmp, { recursive: true, force: true });
    if (problems.length > 0) console.warn(`[cluster ${this.topo.prefix}] teardown: ${problems.join('; ')}`);
  }
}

function lastJson(text: string): Record<string, unknown> {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) return { error: text.trim() || 'no output' };
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

const TSHARK_FIELDS = [
  'frame.number', 'ip.src', 'ip.dst', 'ip.proto', 'udp.dstport', 'vxlan.vni', '_ws.expert.message', '_ws.malformed',
  'frame.time_epoch', 'tcp.srcport', 'tcp.dstport', 'arp.dst.proto_ipv4',
];

/** Classifies each captured frame (plain / IPIP / VXLAN) and counts malformed frames and bad checksums. */
export function dissect(file: string): CaptureSummary {
  const out = execFileSync(
    'tshark',
    [
      '-r', file, '-n',
      // The standard VXLAN port is decoded by default; checksums are only verified when asked.
      '-o', 'ip.check_checksum:TRUE',
      '-o', 'udp.check_checksum:TRUE',
      '-o', 'tcp.check_checksum:TRUE',
      '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|',
      ...TSHARK_FIELDS.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024, timeout: 120_000 },
  );
  const packets: DissectedPacket[] = [];
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    const [frame, src, dst, proto, udpPorts, vni, expert, malformed, time, tcpSrc, tcpDst, arpTarget] = line.split('\t');
    const list = (s: string | undefined) => (s ? s.split('|').filter((x) => x !== '') : []);
    const srcs = list(src);
    const dsts = list(dst);
    const protos = list(proto).map(Number);
    const vnis = list(vni).map(Number);
    let encap: Encapsulation = 'other';
    if (vnis.length > 0) encap = 'vxlan';
    else if (protos[0] === 4) encap = 'ipip';
    else if (protos.length > 0) encap = 'plain';
    const messages = list(expert);
    if (malformed) messages.push('malformed');
    const last = (s: string | undefined) => {
      const l = list(s);
      return l.length > 0 ? Number(l[l.length - 1]) : undefined;
    };
    packets.push({
      frame: Number(frame),
      time: Number(time),
      tcpSrcPort: last(tcpSrc),
      tcpDstPort: last(tcpDst),
      arpTarget: arpTarget || undefined,
      encap,
      src: srcs[0],
      dst: dsts[0],
      innerSrc: srcs[srcs.length - 1],
      innerDst: dsts[dsts.length - 1],
      protos,
      udpDstPorts: list(udpPorts).map(Number),
      vni: vnis[0],
      expert: messages,
    });
  }
  const counts: Record<Encapsulation, number> = { plain: 0, ipip: 0, vxlan: 0, other: 0 };
  for (const p of packets) counts[p.encap]++;
  return {
    file,
    frames: packets.length,
    counts,
    vnis: [...new Set(packets.flatMap((p) => (p.vni === undefined ? [] : [p.vni])))],
    malformed: packets.filter((p) => p.expert.some((m) => /malformed/i.test(m))).length,
    checksumErrors: packets.filter((p) => p.expert.some((m) => /checksum/i.test(m) && /bad|incorrect/i.test(m))).length,
    packets,
  };
}

/** ip route get from a namespace: the chosen route, or the kernel's refusal ("Network is unreachable"). */
export function routeGet(ns: Netns, address: string): { ok: boolean; output: string } {
  try {
    return { ok: true, output: run('nsenter', [`--net=${ns.path}`, '--', 'ip', 'route', 'get', address]) };
  } catch (err) {
    return { ok: false, output: (err as Error).message };
  }
}


export interface NamespacedEtcd {
  url: string;
  stop(): Promise<void>;
}

/**
 * etcd inside a namespace, listening on an address there. test/harness/etcd.ts probes health from the test's own
 * namespace, which cannot reach this address, so health is probed with curl inside the namespace instead.
 */
export async function startEtcdIn(ns: Netns, address: string, dataDir: string): Promise<NamespacedEtcd> {
  const clientUrl = `http://${address}:2379`;
  const peerUrl = `http://${address}:2380`;
  const child = ns.spawn(ETCD_BINARY, [
    '--name', 'e2e',
    '--data-dir', dataDir,
    '--listen-client-urls', `${clientUrl},http://127.0.0.1:2379`,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `e2e=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(`etcd at ${clientUrl}`, 20_000, () => {
      if (child.exitCode !== null) throw new Error(`etcd exited during startup: ${stderr}`);
      const res = spawnSync('nsenter', [`--net=${ns.path}`, '--', 'curl', '-s', '-m', '1', `${clientUrl}/health`], { encoding: 'utf8', timeout: 3_000 });
      return /"health":\s*"true"/.test(res.stdout ?? '') ? true : undefined;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `etcd://${address}:2379`, stop };
}
