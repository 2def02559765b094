// SPDX-License-Identifier: Apache-2.0
// Names and texts of the Linux errnos the BPF syscalls, netlink and bpffs return (the native addon reports bare
// numbers). The generic numbering (x86, arm64); ENOTSUPP is the kernel-internal 524 that BPF leaks to user space.
const ERRNOS: Record<number, [string, string]> = {
  1: ['EPERM', 'Operation not permitted'],
  2: ['ENOENT', 'No such file or directory'],
  3: ['ESRCH', 'No such process'],
  4: ['EINTR', 'Interrupted system call'],
  5: ['EIO', 'Input/output error'],
  6: ['ENXIO', 'No such device or address'],
  7: ['E2BIG', 'Argument list too long'],
  9: ['EBADF', 'Bad file descriptor'],
  11: ['EAGAIN', 'Resource temporarily unavailable'],
  12: ['ENOMEM', 'Cannot allocate memory'],
  13: ['EACCES', 'Permission denied'],
  14: ['EFAULT', 'Bad address'],
  16: ['EBUSY', 'Device or resource busy'],
  17: ['EEXIST', 'File exists'],
  19: ['ENODEV', 'No such device'],
  20: ['ENOTDIR', 'Not a directory'],
  21: ['EISDIR', 'Is a directory'],
  22: ['EINVAL', 'Invalid argument'],
  24: ['EMFILE', 'Too many open files'],
  25: ['ENOTTY', 'Inappropriate ioctl for device'],
  27: ['EFBIG', 'File too large'],
  28: ['ENOSPC', 'No space left on device'],
  30: ['EROFS', 'Read-only file system'],
  34: ['ERANGE', 'Numerical result out of range'],
  36: ['ENAMETOOLONG', 'File name too long'],
  39: ['ENOTEMPTY', 'Directory not empty'],
  61: ['ENODATA', 'No data available'],
  67: ['ENOLINK', 'Link has been severed'],
  71: ['EPROTO', 'Protocol error'],
  75: ['EOVERFLOW', 'Value too large for defined data type'],
  90: ['EMSGSIZE', 'Message too long'],
  95: ['EOPNOTSUPP', 'Operation not supported'],
  97: ['EAFNOSUPPORT', 'Address family not supported by protocol'],
  100: ['ENETDOWN', 'Network is down'],
  101: ['ENETUNREACH', 'Network is unreachable'],
  105: ['ENOBUFS', 'No buffer space available'],
  110: ['ETIMEDOUT', 'Connection timed out'],
  524: ['ENOTSUPP', 'Operation not supported (kernel-internal ENOTSUPP)'],
};

export const EBADF = 9;
export const ENOENT = 2;
export const EINVAL = 22;

/** "ENOENT" for 2; "E<n>" for an errno this table does not know. */
export function errnoName(errno: number): string {
  return ERRNOS[errno]?.[0] ?? `E${errno}`;
}

/** strerror's text for errno. */
export function errnoText(errno: number): string {
  return ERRNOS[errno]?.[1] ?? `Unknown error ${errno}`;
}
