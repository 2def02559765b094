// SPDX-License-Identifier: Apache-2.0
// The CPU a transfer costs, whatever else the shared host runs (bench/tcp-anatomy.ts, bench/next-hop-ab.ts).
import { spawn, spawnSync } from 'node:child_process';

const PERF_HZ = 999;
const COMMS = 'iperf3,ksoftirqd/0,ksoftirqd/1';

/**
 * A cpu-clock profile of the whole host while iperf3 runs (no CPU PMU here: software clock), reduced to the
 * processes that do the transfer (iperf3, whose context also runs the veth softirq work, and ksoftirqd): their
 * CPU seconds, and their top kernel symbols. Other load on the shared host falls outside these comms.
 */
export function profile(
  seconds: number,
  opts: {
    /** Kernel symbols whose share of the transfer's samples (percent) is summed into `matchedPercent`. */
    symbols?: RegExp;
    /** The transfer's processes (default iperf3 and ksoftirqd): a bench whose iperf3 runs under its own name is
     * not mixed up with other iperf3 runs on a shared host. */
    comms?: string;
  } = {},
): Promise<{ transferCpuSeconds: number; byComm: Record<string, number>; top: string; matchedPercent?: number }> {
  const file = `/tmp/bo-anatomy-${process.pid}.data`;
  return new Promise((resolve) => {
    const rec = spawn('perf', ['record', '-q', '-F', String(PERF_HZ), '-e', 'cpu-clock', '-a', '-g', '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    rec.on('exit', () => {
      const report = (args: string[]) => spawnSync('perf', ['report', '-i', file, '--comms', opts.comms ?? COMMS, '--stdio', '-g', 'none', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
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
        .slice(0, 25)
        .join('\n');
      let matchedPercent: number | undefined;
      const symbols = opts.symbols;
      if (symbols) {
        matchedPercent = 0;
        for (const l of report(['--no-children', '--sort', 'sym', '--percentage', 'relative']).split('\n')) {
          const m = /^\s*([0-9.]+)%.*\] (\S+)/.exec(l);
          if (m && symbols.test(m[2])) matchedPercent += Number(m[1]);
        }
        matchedPercent = +matchedPercent.toFixed(2);
      }
      spawnSync('rm', ['-f', file]);
      resolve({ transferCpuSeconds: samples / PERF_HZ, byComm, top, ...(matchedPercent !== undefined ? { matchedPercent } : {}) });
    });
  });
}

