// SPDX-License-Identifier: Apache-2.0
// The CPU a pod-to-pod transfer costs, measured so that other load on the shared host does not enter it.
// The kernel here accounts CPU time by tick (CONFIG_TICK_CPU_ACCOUNTING, no IRQ_TIME_ACCOUNTING): a tick that
// lands in softirq is charged to whichever task was running, so the veth/forwarding/encap work that runs in the
// iperf3 processes' context (netif_rx + the backlog softirq at local_bh_enable) is inside their user+system time
// (iperf3's cpu_utilization_percent), and softirq work deferred to ksoftirqd is inside ksoftirqd's. The
// transfer's CPU = both iperf3 processes + the ksoftirqd threads over the run. ksoftirqd also serves other
// tenants' softirqs: that part is small (≤ a few % of a run) and lands on every path alike.
// profile() is the same transfer seen by a cpu-clock perf profile, with its top kernel symbols (where it goes).
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpuMs } from './proc-stat.js';

let ksoftirqdPids: number[] | undefined;

/** Pids of the ksoftirqd/N kernel threads (fixed for the life of the host). */
export function ksoftirqd(): number[] {
  ksoftirqdPids ??= readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return /^ksoftirqd\/\d+$/.test(readFileSync(`/proc/${d}/comm`, 'utf8').trim());
      } catch {
        return false;
      }
    })
    .map(Number);
  return ksoftirqdPids;
}

/** utime + stime of all ksoftirqd threads in CPU seconds (10 ms resolution). */
export function ksoftirqdCpuSeconds(): number {
  return ksoftirqd().reduce((a, pid) => a + cpuMs(pid), 0) / 1000;
}

export const PERF_HZ = 999;
/** perf report --comms filter for the transfer: iperf3 (client and server) and the softirq threads. */
export const TRANSFER_COMMS = 'iperf3,ksoftirqd/0,ksoftirqd/1';

export interface CpuProfile {
  /** CPU seconds of the sampled transfer processes (samples / PERF_HZ). */
  transferCpuSeconds: number;
  byComm: Record<string, number>;
  /** Top kernel+user symbols of those processes, `perf report` lines (relative percentages). */
  top: string;
}

/**
 * A cpu-clock profile of the whole host for `seconds` (no CPU PMU here: software clock), reduced to the
 * transfer's processes (`comms`). Needs perf; the data file is removed afterwards.
 */
export function profile(seconds: number, comms = TRANSFER_COMMS, topLines = 25): Promise<CpuProfile> {
  const file = `/tmp/bo-transfer-cpu-${process.pid}-${Date.now()}.data`;
  return new Promise((resolve, reject) => {
    const rec = spawn('perf', ['record', '-q', '-F', String(PERF_HZ), '-e', 'cpu-clock', '-a', '-g', '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    rec.on('error', reject);
    rec.on('exit', () => {
      const report = (args: string[]) => spawnSync('perf', ['report', '-i', file, '--comms', comms, '--stdio', '-g', 'none', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
      const byComm: Record<string, number> = {};
      for (const l of report(['--sort', 'comm', '-F', 'sample,comm']).split('\n')) {
        if (l.startsWith('#') || !l.trim()) continue;
        const [n, comm] = l.trim().split(/\s+/);
        byComm[comm] = +(Number(n) / PERF_HZ).toFixed(2);
      }
      const samples = Object.values(byComm).reduce((a, b) => a + b, 0) * PERF_HZ;
      const top = report(['--no-children', '--sort', 'sym', '--percentage', 'relative', '--percent-limit', '1.2'])
        .split('\n')
        .filter((l) => /%/.test(l) && !l.startsWith('#'))
        .slice(0, topLines)
        .join('\n');
      spawnSync('rm', ['-f', file]);
      resolve({ transferCpuSeconds: samples / PERF_HZ, byComm, top });
    });
  });
}
