// SPDX-License-Identifier: Apache-2.0
// Connects to HOST:PORT, sends BYTES random bytes (in 64 KiB writes, honouring back-pressure), prints
// {"bytes","sha256","ms"} of what it sent once the peer closed its side. With RATE (bytes/s) the writes are
// paced (16 KiB on a timer), so that a flow lasts long enough to outlive an event (a pool mode change, an agent
// restart).
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const [host, port, total, timeoutMs = '60000', rate] = process.argv.slice(2);
const want = Number(total);
const CHUNK = rate === undefined ? 65536 : 16 * 1024;
const hash = createHash('sha256');
const started = Date.now();
const sock = net.connect({ host, port: Number(port) });
sock.setTimeout(Number(timeoutMs), () => {
  process.stdout.write(JSON.stringify({ error: `stalled for ${timeoutMs} ms` }) + '\n');
  process.exit(2);
});
sock.on('error', (err) => {
  process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
  process.exit(1);
});
sock.on('connect', () => {
  let sent = 0;
  const t0 = Date.now();
  const pump = () => {
    // Up to the schedule (everything when unpaced), never more than the socket accepts.
    const due = rate === undefined ? want : Math.min(want, Math.floor(((Date.now() - t0) / 1000) * Number(rate)) + CHUNK);
    while (sent < due) {
      const chunk = randomBytes(Math.min(CHUNK, want - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', pump);
    }
    if (sent >= want) return void sock.end();
    setTimeout(pump, 20);
  };
  pump();
  sock.on('close', () => {
    process.stdout.write(JSON.stringify({ bytes: sent, sha256: hash.digest('hex'), ms: Date.now() - started }) + '\n');
  });
  sock.resume();
});
