// Connects to HOST:PORT, sends BYTES random bytes (in 64 KiB writes, honouring back-pressure), prints
// {"bytes","sha256","ms"} of what it sent once the peer closed its side.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const [host, port, total, timeoutMs = '60000'] = process.argv.slice(2);
const want = Number(total);
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
  const pump = () => {
    while (sent < want) {
      const chunk = randomBytes(Math.min(65536, want - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', pump);
    }
    sock.end();
  };
  pump();
  sock.on('close', () => {
    process.stdout.write(JSON.stringify({ bytes: sent, sha256: hash.digest('hex'), ms: Date.now() - started }) + '\n');
  });
  sock.resume();
});
