// SPDX-License-Identifier: Apache-2.0
// The quick-start demo: a three-node cluster in network namespaces on the embedded default datastore (SQLite),
// the README's IPPool (VXLAN CrossSubnet, natOutgoing), pods attached through the CNI plugin, pings within a
// subnet (plain, as CrossSubnet says) and across the router (VXLAN), and the live data-path counters.
// Ctrl-C (or --duration SECONDS, default 600) ends it; everything it made is removed.
import { parseArgs } from 'node:util';
import { Cluster, ippool, type Workload } from '../test/lab/cluster.js';

const { values } = parseArgs({ options: { duration: { type: 'string' }, interval: { type: 'string' } } });
const durationS = Number(values.duration ?? 600);
const intervalS = Number(values.interval ?? 3);
if (!(durationS > 0) || !(intervalS > 0)) throw new Error('--duration and --interval must be positive numbers of seconds');

const say = (text: string) => process.stdout.write(`${text}\n`);

async function main(): Promise<void> {
  say('bpf-overlay demo: building a namespace cluster (router, subnet A: node1 node2, subnet B: node3)...');
  const cluster = await Cluster.create({
    tag: 'demo',
    resources: [ippool('ippool-vxlan-cross-subnet-1', '192.168.0.0/16', { vxlanMode: 'CrossSubnet', natOutgoing: true })],
  });
  let stopping = false;
  const stop = () => {
    if (!stopping) say('\nstopping: removing namespaces, agents, pins and files...');
    stopping = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const [n1, n2, n3] = cluster.nodes;
    const pods: Workload[] = [cluster.addWorkload(n1), cluster.addWorkload(n1), cluster.addWorkload(n2), cluster.addWorkload(n3)];
    say(`\nIPPool 192.168.0.0/16, vxlanMode: CrossSubnet, natOutgoing: true (datastore ${cluster.datastoreUrl})`);
    for (const p of pods) say(`  pod ${p.name} ${p.address.padEnd(15)} on ${p.node.name} (${p.node.address}, subnet ${p.node.subnet})`);
    say(`\nroutes compiled for ${n1.name}:`);
    say(cluster.cli(['get', 'routes', '--node', n1.name]).trimEnd());

    const pairs: [Workload, Workload, string][] = [
      [pods[0], pods[1], 'same node: delivered by bpf_redirect_peer'],
      [pods[0], pods[2], 'same subnet: plain (CrossSubnet)'],
      [pods[0], pods[3], 'across the router: VXLAN'],
      [pods[3], pods[2], 'across the router: VXLAN'],
    ];
    say('');
    for (const [from, to, what] of pairs) {
      const r = cluster.ping(from, to.address, { count: 3, intervalS: 0.2 });
      say(`ping ${from.name} -> ${to.name} (${what}): ${r.received}/${r.transmitted} replies`);
    }
    const ext = cluster.ping(pods[0], cluster.extAddress, { count: 2, intervalS: 0.2 });
    say(`ping ${pods[0].name} -> external host ${cluster.extAddress} (natOutgoing): ${ext.received}/${ext.transmitted} replies`);

    const deadline = Date.now() + durationS * 1000;
    say(`\nlive counters every ${intervalS} s (Ctrl-C to stop; ends by itself after ${durationS} s)`);
    while (!stopping && Date.now() < deadline) {
      for (const [from, to] of pairs) cluster.ping(from, to.address, { count: 1, deadlineS: 1 });
      for (const node of cluster.nodes) {
        say(`\n${node.name} (${node.address}):`);
        say(cluster.cli(['counters', '--node', node.name, '--bpffs', cluster.bpffs]).trimEnd());
      }
      const until = Math.min(deadline, Date.now() + intervalS * 1000);
      while (!stopping && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await cluster.destroy();
    say('demo cluster removed.');
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
