// SPDX-License-Identifier: Apache-2.0
// What /proc says about one process: CPU time (utime + stime, in clock ticks), resident memory and bytes read.
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
