// SPDX-License-Identifier: Apache-2.0
// What /proc says about one process (CPU time, resident memory, bytes read) and about each CPU (busy and softirq time).
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat (USER_HZ; 100 on every Linux build this runs on). */
export const TICKS_PER_SECOND = 100;

/** utime + stime of `pid` in milliseconds (10 ms resolution). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** VmRSS and VmHWM (peak) of `pid`, in MB. */
export function memoryMB(pid: number): { rssMB: number; peakMB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024 };
}

/** Bytes `pid` obtained from read-like syscalls (rchar): files, sockets and pipes alike. */
export function bytesRead(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^rchar:\s+(\d+)/m.exec(io)?.[1] ?? NaN);
}

/** Per CPU, from /proc/stat, in clock ticks since boot: busy (user, nice, system, irq, softirq, steal) and softirq. */
export function perCpuJiffies(): { busy: number[]; softirq: number[] } {
  const rows = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).map((l) => l.trim().split(/\s+/).slice(1).map(Number));
  return { busy: rows.map((r) => r[0] + r[1] + r[2] + r[5] + r[6] + r[7]), softirq: rows.map((r) => r[6]) };
}
