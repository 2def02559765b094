// SPDX-License-Identifier: Apache-2.0
// Connects to HOST:PORT and sends random bytes for DURATION_MS at about RATE bytes/s (honouring back-pressure),
// printing {"t","bytes"} every 200 ms so that a test can see whether the flow ever stalled, then, once the peer
// closed its side, {"bytes","sha256","ms"} of everything it sent. Any socket error (a reset) is printed and
// exits non-zero. Pairs with test/lab/scripts/tcp-sink.mjs.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const [host, port, durationMs, rate] = process.argv.slice(2).map((v, i) => (i === 0 ? v : Number(v)));
const tickMs = 10;
const perTick = Math.max(1, Math.floor((rate * tickMs) / 1000));
const hash = createHash('sha256');
const started = Date.now();
let sent = 0;
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const sock = net.connect({ host, port });
sock.setTimeout(durationMs + 15_000, () => {
  print({ error: 'stalled', bytes: sent });
  process.exit(2);
});
sock.on('error', (err) => {
  print({ error: err.message, code: err.code, bytes: sent });
  process.exit(1);
});
sock.on('connect', () => {
  const progress = setInterval(() => print({ t: Date.now() - started, bytes: sent }), 200);
  let waiting = false;
  const tick = setInterval(() => {
    if (Date.now() - started >= durationMs) {
      clearInterval(tick);
      clearInterval(progress);
      sock.end();
      return;
    }
    if (waiting) return;
    const chunk = randomBytes(perTick);
    hash.update(chunk);
    sent += chunk.length;
    if (!sock.write(chunk)) {
      waiting = true;
      sock.once('drain', () => (waiting = false));
    }
  }, tickMs);
  sock.on('close', () => print({ bytes: sent, sha256: hash.digest('hex'), ms: Date.now() - started }));
  sock.resume();
});
