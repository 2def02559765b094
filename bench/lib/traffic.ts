// SPDX-License-Identifier: Apache-2.0
// Traffic tools run between two pod namespaces: iperf3 (TCP throughput, UDP small-packet rate, CPU) and sockperf
// (TCP ping-pong latency). Servers run for the whole bench inside the server pod; every client run is bounded.
// Every client runs on CLIENT_CPU and every server on SERVER_CPU (taskset), the same CPUs for every path: on 2
// cores the scheduler would otherwise place client and server together or apart run by run, which alone moves
// a 1-stream figure by tens of percent. The softirq work a send triggers (veth netif_rx + backlog) runs on the
// sender's CPU, so each path's forwarding/encap/decap work lands on the same CPU as every other path's.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Netns } from '../../test/harness/netns.js';
import type { BenchPath } from './paths.js';
import { cpuMs } from './proc-stat.js';
import { ksoftirqdCpuSeconds } from './transfer-cpu.js';

export const IPERF_PORT = 5201;
export const SOCKPERF_PORT = 11111;
export const UDP_PAYLOAD = 64;
export const PINGPONG_MSG = 64;
export const CLIENT_CPU = 0;
export const SERVER_CPU = 1;

export interface TcpResult {
  bitsPerSecond: number;
  bytes: number;
  seconds: number;
  /** iperf3's own CPU accounting (user+system of the iperf3 processes, which includes softirq work done in them). */
  iperfCpuSeconds: number;
  /** iperfCpuSeconds + the ksoftirqd threads' CPU over the run (transfer-cpu.ts): what the transfer cost. */
  transferCpuSeconds: number;
  /** Whole machine, from /proc/stat busy jiffies (includes everything else running on the host). */
  procStatCpuSeconds: number;
  retransmits: number;
}

export interface UdpResult {
  deliveredPps: number;
  sentPps: number;
  lostPercent: number;
  /** Transfer CPU (both iperf3 processes + ksoftirqd) per delivered datagram, microseconds. */
  cpuUsPerPacket: number;
}

export interface LatencyResult {
  p50us: number;
  p99us: number;
  avgus: number;
  observations: number;
  /** Ping-pong transactions of the whole run (warm-up included), as sockperf's [Total Run] counts them. */
  transactions: number;
  /** CPU of both sockperf processes + ksoftirqd per transaction, microseconds: the latency path's cost, which
   * unlike the latency itself does not depend on how busy the host is. */
  cpuUsPerTransaction: number;
}

/** The sockperf server of each path: its CPU time is read around every ping-pong run. */
const sockperfServers = new WeakMap<BenchPath, number>();

function busyJiffies(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice: guest time is already inside user/nice.
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return user + nice + system + irq + softirq + steal;
}

const CLK_TCK = 100;

function runIn(ns: Netns, cmd: string, args: string[], timeoutMs: number): string {
  const res = spawnSync('nsenter', [`--net=${ns.path}`, '--', 'taskset', '-c', String(CLIENT_CPU), cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw new Error(`${cmd} ${args.join(' ')}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${res.status}: ${(res.stderr || res.stdout).slice(-800)}`);
  return res.stdout;
}

/** Starts iperf3 and sockperf servers in the server pod; returns the processes (the caller tracks them). */
export function startServers(path: BenchPath): ChildProcess[] {
  const s = path.server;
  // taskset execs the tool: the pid the caller tracks is the server's own.
  const pin = ['-c', String(SERVER_CPU)];
  const iperf = s.ns.spawn('taskset', [...pin, 'iperf3', '-s', '-B', s.address, '-p', String(IPERF_PORT)], { stdio: 'ignore' });
  const sock = s.ns.spawn('taskset', [...pin, 'sockperf', 'sr', '--tcp', '-i', s.address, '-p', String(SOCKPERF_PORT)], { stdio: 'ignore' });
  if (sock.pid) sockperfServers.set(path, sock.pid);
  return [iperf, sock];
}

/** Waits until both servers accept connections (a 1-byte probe each), bounded. */
export async function waitForServers(path: BenchPath): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = spawnSync('nsenter', [`--net=${path.client.ns.path}`, '--', 'bash', '-c',
      `exec 3<>/dev/tcp/${path.server.address}/${IPERF_PORT} && exec 4<>/dev/tcp/${path.server.address}/${SOCKPERF_PORT}`], { timeout: 3_000 });
    if (probe.status === 0) return;
    if (Date.now() > deadline) throw new Error(`${path.name}: servers in ${path.server.ns.name} not listening`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface IperfJson {
  error?: string;
  end: {
    sum_sent?: { bytes: number; seconds: number; bits_per_second: number; retransmits?: number };
    sum_received?: { bytes: number; seconds: number; bits_per_second: number };
    sum?: { packets?: number; lost_packets?: number; lost_percent?: number; seconds: number; bytes: number };
    cpu_utilization_percent?: { host_total: number; remote_total: number };
  };
}

function iperf(path: BenchPath, args: string[], seconds: number): IperfJson & { softirqdCpuSeconds: number } {
  const k0 = ksoftirqdCpuSeconds();
  // iperf3 can wait on a server that is still busy with the previous test: bounded by our own timeout.
  const out = runIn(path.client.ns, 'iperf3', ['-c', path.server.address, '-p', String(IPERF_PORT), '-t', String(seconds), '-J', ...args], (seconds + 20) * 1000);
  const softirqdCpuSeconds = ksoftirqdCpuSeconds() - k0;
  const json = JSON.parse(out) as IperfJson;
  if (json.error) throw new Error(`${path.name}: iperf3 ${args.join(' ')}: ${json.error}`);
  return { ...json, softirqdCpuSeconds };
}

/** User+system CPU seconds of both iperf3 processes over the test (iperf3's own getrusage accounting). */
function iperfCpuSeconds(json: IperfJson, seconds: number): number {
  const cpu = json.end.cpu_utilization_percent ?? { host_total: NaN, remote_total: NaN };
  return ((cpu.host_total + cpu.remote_total) / 100) * seconds;
}

export function tcpThroughput(path: BenchPath, streams: number, seconds: number): TcpResult {
  const before = busyJiffies();
  const json = iperf(path, ['-P', String(streams)], seconds);
  const procStatCpuSeconds = (busyJiffies() - before) / CLK_TCK;
  const rx = json.end.sum_received!;
  const iperfCpu = iperfCpuSeconds(json, rx.seconds);
  return {
    bitsPerSecond: rx.bits_per_second,
    bytes: rx.bytes,
    seconds: rx.seconds,
    iperfCpuSeconds: iperfCpu,
    transferCpuSeconds: iperfCpu + json.softirqdCpuSeconds,
    procStatCpuSeconds,
    retransmits: json.end.sum_sent?.retransmits ?? 0,
  };
}

export function udpSmallPackets(path: BenchPath, seconds: number): UdpResult {
  const json = iperf(path, ['-u', '-l', String(UDP_PAYLOAD), '-b', '0'], seconds);
  const sum = json.end.sum!;
  const packets = sum.packets ?? 0;
  const lost = sum.lost_packets ?? 0;
  const transferCpu = iperfCpuSeconds(json, sum.seconds) + json.softirqdCpuSeconds;
  return {
    deliveredPps: (packets - lost) / sum.seconds,
    sentPps: packets / sum.seconds,
    lostPercent: sum.lost_percent ?? 0,
    cpuUsPerPacket: (transferCpu / Math.max(1, packets - lost)) * 1e6,
  };
}

/** The children's user and system time bash's `times` prints last ("0m0.029s 0m0.183s"), in seconds. */
function childTimes(out: string): number {
  const last = out.trim().split('\n').at(-1) ?? '';
  const m = /^(\d+)m([0-9.]+)s (\d+)m([0-9.]+)s$/.exec(last.trim());
  return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN;
}

/** sockperf ping-pong over TCP; sockperf reports one-way latency (RTT/2) percentiles in microseconds. */
export function tcpLatency(path: BenchPath, seconds: number): LatencyResult {
  const serverPid = sockperfServers.get(path);
  const server0 = serverPid ? cpuMs(serverPid) : NaN;
  const k0 = ksoftirqdCpuSeconds();
  // bash runs the client and then prints its CPU time (`times`): the client's pid is gone once it returns.
  const args = ['pp', '--tcp', '-i', path.server.address, '-p', String(SOCKPERF_PORT), '-t', String(seconds), '-m', String(PINGPONG_MSG)];
  const out = runIn(path.client.ns, 'bash', ['-c', 'sockperf "$@"; s=$?; times; exit $s', 'sockperf', ...args], (seconds + 20) * 1000);
  const cpuSeconds = childTimes(out) + (serverPid ? (cpuMs(serverPid) - server0) / 1000 : NaN) + (ksoftirqdCpuSeconds() - k0);
  const pct = (p: string) => {
    const m = new RegExp(`percentile ${p.replace('.', '\\.')}\\s*=\\s*([0-9.]+)`).exec(out);
    if (!m) throw new Error(`${path.name}: sockperf output has no percentile ${p}: ${out.slice(-800)}`);
    return Number(m[1]);
  };
  const avg = /avg-(?:latency|lat|rtt)\s*=\s*([0-9.]+)/.exec(out);
  const obs = /(\d+) observations|observations\s*=\s*(\d+)|Total (\d+) observations/.exec(out);
  const transactions = Number(/\[Total Run\].*ReceivedMessages=(\d+)/.exec(out)?.[1] ?? NaN);
  return {
    p50us: pct('50.000'),
    p99us: pct('99.000'),
    avgus: avg ? Number(avg[1]) : NaN,
    observations: obs ? Number(obs[1] ?? obs[2] ?? obs[3]) : 0,
    transactions,
    cpuUsPerTransaction: (cpuSeconds / transactions) * 1e6,
  };
}
