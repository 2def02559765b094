// SPDX-License-Identifier: Apache-2.0
// Like tcp-sink.mjs, and also records when data arrived: prints {"bytes","sha256","ms","maxGapMs","gapAtMs",
// "firstByteAt","perSecond"} on end of stream, where maxGapMs is the longest time without any new byte after the
// first one (a stall) and perSecond the bytes received in each second of the flow.
import { createHash } from 'node:crypto';
import net from 'node:net';

const [host, port, timeoutMs = '60000'] = process.argv.slice(2);
const hash = createHash('sha256');
let bytes = 0;
let first = 0;
let last = 0;
let maxGapMs = 0;
let gapAtMs = 0;
const perSecond = [];
const guard = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: `no complete transfer within ${timeoutMs} ms`, bytes, maxGapMs, perSecond }) + '\n');
  process.exit(2);
}, Number(timeoutMs));
const server = net.createServer((sock) => {
  server.close();
  sock.on('data', (d) => {
    const now = Date.now();
    if (first === 0) first = last = now;
    if (now - last > maxGapMs) {
      maxGapMs = now - last;
      gapAtMs = last;
    }
    last = now;
    const s = Math.floor((now - first) / 1000);
    while (perSecond.length <= s) perSecond.push(0);
    perSecond[s] += d.length;
    bytes += d.length;
    hash.update(d);
  });
  sock.on('end', () => {
    clearTimeout(guard);
    process.stdout.write(
      JSON.stringify({ bytes, sha256: hash.digest('hex'), ms: last - first, maxGapMs, gapAtMs, firstByteAt: first, perSecond }) + '\n',
    );
    sock.end();
  });
  sock.on('error', (err) => {
    clearTimeout(guard);
    process.stdout.write(JSON.stringify({ error: err.message, bytes, maxGapMs, perSecond }) + '\n');
    process.exit(1);
  });
});
server.listen(Number(port), host, () => process.stdout.write('listening\n'));
