// SPDX-License-Identifier: Apache-2.0
// A TCP proxy on 127.0.0.1 that counts the bytes each way, put between an agent and etcd so that the bench
// can tell how much the agent read from the datastore for one change.
import net from 'node:net';

export interface ByteProxy {
  port: number;
  /** Bytes from the server to the clients (what the clients read) and the other way, since start. */
  counts(): { toClient: number; toServer: number };
  close(): Promise<void>;
}

export function startByteProxy(target: { host: string; port: number }): Promise<ByteProxy> {
  let toClient = 0;
  let toServer = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => {
      toServer += d.length;
      if (!upstream.write(d)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (d: Buffer) => {
      toClient += d.length;
      if (!client.write(d)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        counts: () => ({ toClient, toServer }),
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
