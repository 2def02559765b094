// SPDX-License-Identifier: Apache-2.0
// Accepts one TCP connection on HOST:PORT, hashes every byte it receives, prints {"bytes","sha256","ms"} on
// end of stream. Prints "listening" first so the harness knows when to start the sender. Exits after TIMEOUT_MS.
import { createHash } from 'node:crypto';
import net from 'node:net';

const [host, port, timeoutMs = '60000'] = process.argv.slice(2);
const hash = createHash('sha256');
let bytes = 0;
let started = 0;
const guard = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: `no complete transfer within ${timeoutMs} ms`, bytes }) + '\n');
  process.exit(2);
}, Number(timeoutMs));
const server = net.createServer((sock) => {
  started = Date.now();
  server.close();
  sock.on('data', (d) => {
    bytes += d.length;
    hash.update(d);
  });
  sock.on('end', () => {
    clearTimeout(guard);
    process.stdout.write(JSON.stringify({ bytes, sha256: hash.digest('hex'), ms: Date.now() - started }) + '\n');
    sock.end();
  });
  sock.on('error', (err) => {
    clearTimeout(guard);
    process.stdout.write(JSON.stringify({ error: err.message, bytes }) + '\n');
    process.exit(1);
  });
});
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
