// SPDX-License-Identifier: Apache-2.0
// Does a packet reach from_workload's hook (tc ingress of a workload's host-side veth) with a flow hash already in
// skb->hash? If so, the VXLAN source port can reuse it (0.4 ns) instead of bpf_get_hash_recalc running the flow
// dissector (~146 ns on a packet without one, docs/datapath-costs.md). Sends TCP, connected UDP, unconnected UDP
// and ICMP from a "pod" namespace across a veth into a "host" namespace this script creates and deletes, and counts
// with bpf/test/skb_hash_seen.c. Run as root: node --import ./scripts/ts-loader.mjs bench/skb-hash.ts
import { release } from 'node:os';
import { attachTc, openObject } from '../src/control/bpf/index.js';
import { bpfObjectPath } from '../src/control/paths.js';
import { Topology } from '../test/harness/netns.js';

const POD = '10.99.0.1';
const HOST = '10.99.0.2';
const SENDERS: Record<string, string> = {
  tcp: `const s = require('net').connect(9000, '${HOST}', () => { s.end(Buffer.alloc(1 << 20)); });`,
  'udp connected': `const s = require('dgram').createSocket('udp4'); s.connect(9001, '${HOST}', () => { let i = 0; const go = () => i++ < 200 ? s.send(Buffer.alloc(64), go) : s.close(); go(); });`,
  'udp unconnected': `const s = require('dgram').createSocket('udp4'); let i = 0; const go = () => i++ < 200 ? s.send(Buffer.alloc(64), 9001, '${HOST}', go) : s.close(); go();`,
};

const topo = new Topology('bosh');
try {
  const pod = topo.addNamespace('pod');
  const host = topo.addNamespace('host');
  const hostIf = `${topo.prefix}h`;
  topo.veth(pod, 'eth0', host, hostIf);
  pod.ip('addr', 'add', `${POD}/24`, 'dev', 'eth0');
  host.ip('addr', 'add', `${HOST}/24`, 'dev', hostIf);
  const sink = host.spawn(process.execPath, ['-e', `require('net').createServer((c) => c.resume()).listen(9000, '${HOST}'); require('dgram').createSocket('udp4').bind(9001, '${HOST}');`]);
  topo.track(sink);
  const spec = openObject(bpfObjectPath('skb_hash_seen.o'));
  const coll = spec.load();
  spec.close();
  const link = attachTc(coll.program('count_skb_hash'), { ifname: hostIf, netns: host.path }, 'ingress');
  try {
    const map = coll.map('hash_seen');
    const read = () =>
      [0, 1, 2, 3, 4, 5].map((slot) => {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(slot);
        return (map.lookupPerCpu(key) ?? []).reduce((s, v) => s + v.readBigUInt64LE(0), 0n);
      });
    pod.exec('ping', ['-c', '1', '-W', '2', HOST]); // neighbours resolved before counting
    await new Promise((r) => setTimeout(r, 300));
    const rows: string[] = [];
    const measure = (what: string, send: () => void, slots: [number, number]) => {
      const before = read();
      send();
      const after = read();
      const without = after[slots[0]] - before[slots[0]];
      const withHash = after[slots[1]] - before[slots[1]];
      rows.push(`${what.padEnd(16)} with hash ${String(withHash).padStart(6)}   without ${String(without).padStart(6)}`);
    };
    measure('tcp', () => pod.exec(process.execPath, ['-e', SENDERS.tcp], { timeoutMs: 20_000 }), [0, 1]);
    measure('udp connected', () => pod.exec(process.execPath, ['-e', SENDERS['udp connected']], { timeoutMs: 20_000 }), [2, 3]);
    measure('udp unconnected', () => pod.exec(process.execPath, ['-e', SENDERS['udp unconnected']], { timeoutMs: 20_000 }), [2, 3]);
    measure('icmp, other', () => pod.exec('ping', ['-c', '20', '-i', '0.01', '-W', '2', HOST]), [4, 5]);
    console.log(`packets at tc ingress of the host-side veth, by whether skb->hash was set (kernel ${release()}):\n${rows.join('\n')}`);
  } finally {
    link.detach();
    coll.close();
  }
} finally {
  topo.destroy();
}
