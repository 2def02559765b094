// SPDX-License-Identifier: Apache-2.0
// A lock shared by the processes of one host (one network namespace), as Calico's CNI plugin holds a host-wide
// IPAM lock: many CNI ADDs of one node all rewrite the node's block record, and in turn they commit once each
// instead of conflicting and re-running. It only spares work; correctness still comes from the store's
// compare-and-swap, so a lock not had in time is simply done without.
//
// The lock is an abstract Unix socket name, which only one process can listen on and which the kernel frees
// however its holder exits (no stale lock file after a crash). A waiter connects to the holder and tries again
// when the holder closes the connection on release: no polling.
import net from 'node:net';

/** Releases a held lock. */
export type ReleaseLock = () => Promise<void>;

function listen(path: string): Promise<net.Server | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      // Waiters only wait for this connection to close; nothing is read or written.
      socket.on('error', () => socket.destroy());
    });
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen(path, () => resolve(server));
  });
}

/** Resolves when the holder of `path` lets go (its connection closes or is refused), or after `ms`. */
function holderGone(path: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Takes the host lock `name` (letters, digits, dashes), waiting at most `waitMs`. Undefined when not had in time
 * or when this host cannot provide it (the caller goes on without it).
 */
export async function acquireHostLock(name: string, waitMs: number): Promise<ReleaseLock | undefined> {
  const path = `\0bpf-overlay/${name}`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    const server = await listen(path);
    if (server instanceof net.Server) {
      const waiters = new Set<net.Socket>();
      server.on('connection', (socket) => {
        waiters.add(socket);
        socket.on('close', () => waiters.delete(socket));
      });
      // A holder must not keep its process alive for the lock's sake (the process ends when its work does).
      server.unref();
      return () =>
        new Promise((resolve) => {
          server.close(() => resolve());
          for (const socket of waiters) socket.destroy();
        });
    }
    if (server.code !== 'EADDRINUSE') return undefined;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    await holderGone(path, left);
  }
}
