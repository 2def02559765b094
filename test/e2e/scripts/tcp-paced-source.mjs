// Connects to HOST:PORT and sends BYTES random bytes at about RATE bytes per second (16 KiB writes on a timer),
// so that a flow lasts long enough to outlive an event (a pool mode change, an agent restart). Prints
// {"bytes","sha256","ms"} of what it sent once the peer closed its side.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const [host, port, total, rate, timeoutMs = '60000'] = process.argv.slice(2);
const want = Number(total);
const bytesPerSecond = Number(rate);
const CHUNK = 16 * 1024;
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
  const tick = () => {
    // Catch up to the schedule, but never queue more than the socket accepts.
    const due = Math.min(want, Math.floor(((Date.now() - t0) / 1000) * bytesPerSecond) + CHUNK);
    while (sent < due) {
      const chunk = randomBytes(Math.min(CHUNK, want - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', tick);
    }
    if (sent >= want) return void sock.end();
    setTimeout(tick, 20);
  };
  tick();
  sock.on('close', () => {
    process.stdout.write(JSON.stringify({ bytes: sent, sha256: hash.digest('hex'), ms: Date.now() - started }) + '\n');
  });
  sock.resume();
});
