// SPDX-License-Identifier: Apache-2.0
// Upgrade without disruption: two nodes run the agent with one build of the data path; a checksummed TCP flow
// runs between their tunnel addresses (host-to-host through BPF IP-in-IP) while both agents are stopped and
// restarted with a second, different build (BPF_OVERLAY_BPF_DIR). The new agent adopts the pinned maps and
// swaps the programs under the pinned links; the flow must not notice.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openPinnedMap } from '../../src/control/bpf/index.js';
import { decodeRouteValue, Encap, RouteKind } from '../../src/control/maps/layout.js';
import { cli, REPO_ROOT, startAgent, twoNodeLab } from '../harness/agent.js';
import { run } from '../harness/netns.js';
import { kernelDescribe } from '../harness/privileges.js';

const POOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: upgrade-pool
spec:
  cidr: 10.245.0.0/16
  ipipMode: Always
`;
const FLOW_MS = 10_000;
const FLOW_RATE = 20 * 1024 * 1024; // bytes/s: enough to see a stall, little enough to leave CPU for the agents
const SINK = join(REPO_ROOT, 'test', 'lab', 'scripts', 'tcp-sink.mjs');
const SOURCE = join(REPO_ROOT, 'test', 'harness', 'scripts', 'tcp-timed-source.mjs');

interface Attachment {
  link: string;
  linkId: number;
  progId: number;
  tag: string;
}

/**
 * What the kernel says each uplink link holds (link info by fd, through bpftool; Debian's bpftool 7.1 predates
 * tcx in `bpftool net`, but reads any link's program id).
 */
function uplinkAttachments(bpffs: string, node: string): Attachment[] {
  return ['uplink-egress', 'uplink-ingress'].map((link) => {
    const info = JSON.parse(run('bpftool', ['-j', 'link', 'show', 'pinned', `${bpffs}/bpf-overlay/${node}/links/${link}`])) as {
      id: number;
      prog_id: number;
    };
    const prog = JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'id', String(info.prog_id)])) as { tag: string };
    return { link, linkId: info.id, progId: info.prog_id, tag: prog.tag };
  });
}

function buildDatapath(outDir: string, extraCflags: string): void {
  const res = spawnSync('bash', ['scripts/build-bpf.sh'], {
    cwd: REPO_ROOT,
    env: { ...process.env, BPF_OUT_DIR: outDir, BPF_EXTRA_CFLAGS: extraCflags },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (res.status !== 0) throw new Error(`build-bpf.sh into ${outDir} failed: ${res.stderr}`);
}

function lines(child: ChildProcess): { all: () => Record<string, unknown>[]; done: Promise<void> } {
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => (buf += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (buf += d.toString()));
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const all = () =>
    buf
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { all, done };
}

kernelDescribe('upgrade: a new agent build takes over a running data path', () => {
  const lab = twoNodeLab('boup', '172.31.7');
  const { topo, dir, datastore, bpffs, names, namespaces, agents } = lab;
  const buildA = join(dir, 'bpf-a');
  const buildB = join(dir, 'bpf-b');

  const start = async (i: number, bpfDir: string) =>
    startAgent({ ns: namespaces[i], node: names[i], datastore, bpffs, uplink: 'eth0', env: { BPF_OVERLAY_BPF_DIR: bpfDir } });
  const totalPackets = (node: string): bigint => lab.totalPackets(node);

  beforeAll(async () => {
    // Two builds whose instructions differ: the default BPF ISA, and v3 (ALU32, JMP32) for the "new version".
    buildDatapath(buildA, '');
    buildDatapath(buildB, '-mcpu=v3');
    lab.wire();
    for (let i = 0; i < 2; i++) agents.push(await start(i, buildA));
    cli(['--datastore', datastore, 'apply', '-f', '-'], { input: POOL });
    const deadline = Date.now() + 5000;
    for (;;) {
      const ready = names.every((n) => {
        const m = openPinnedMap(`${bpffs}/bpf-overlay/${n}/routes_map`);
        try {
          return m.entries().some((e) => {
            const v = decodeRouteValue(e.value);
            return v.kind === RouteKind.RemoteBlock && v.encap === Encap.Ipip;
          });
        } finally {
          m.close();
        }
      });
      if (ready) break;
      if (Date.now() > deadline) throw new Error('the IPIP pool did not reach both nodes within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 180_000);

  afterAll(() => lab.tearDown());

  it('keeps a TCP flow going, swaps program ids and keeps counting while the agents restart on a new build', async () => {
    const tunnelAddr = (node: string) =>
      (JSON.parse(cli(['--datastore', datastore, 'get', 'nodes', node, '-o', 'json'])) as { spec: { bgp: { ipv4IPIPTunnelAddr: string } } })
        .spec.bgp.ipv4IPIPTunnelAddr;
    const serverAddr = tunnelAddr(names[1]);
    expect(namespaces[0].exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', serverAddr])).toMatch(/2 received/);

    const sink = topo.track(namespaces[1].spawn(process.execPath, [SINK, serverAddr, '5201', String(FLOW_MS + 30_000)]));
    const sinkOut = lines(sink);
    await new Promise<void>((resolve, reject) => {
      sink.stdout?.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      sink.once('exit', (code) => reject(new Error(`tcp-sink exited ${code}`)));
    });
    const flowStarted = Date.now();
    const source = topo.track(namespaces[0].spawn(process.execPath, [SOURCE, serverAddr, '5201', String(FLOW_MS), String(FLOW_RATE)]));
    const sourceOut = lines(source);

    await new Promise((r) => setTimeout(r, 2000));
    const before = names.map((n) => uplinkAttachments(bpffs, n));
    const countersBefore = totalPackets(names[0]);
    const restartStarted = Date.now() - flowStarted;
    for (const a of agents.splice(0)) expect(await a.stop('SIGTERM')).toBe(0);
    for (let i = 0; i < 2; i++) agents.push(await start(i, buildB));
    const restartEnded = Date.now() - flowStarted;
    const after = names.map((n) => uplinkAttachments(bpffs, n));
    const countersAfterRestart = totalPackets(names[0]);

    await Promise.all([sourceOut.done, sinkOut.done]);
    const countersAtEnd = totalPackets(names[0]);
    const sent = sourceOut.all();
    const got = sinkOut.all();
    const sentFinal = sent.find((l) => 'sha256' in l || 'error' in l);
    const gotFinal = got.find((l) => 'sha256' in l || 'error' in l);
    const progress = sent.filter((l) => 't' in l) as { t: number; bytes: number }[];
    let longestStallMs = 0;
    let stallSince: number | undefined;
    for (let i = 1; i < progress.length; i++) {
      if (progress[i].bytes === progress[i - 1].bytes) {
        stallSince ??= progress[i - 1].t;
        longestStallMs = Math.max(longestStallMs, progress[i].t - stallSince);
      } else {
        stallSince = undefined;
      }
    }
    const bytesAt = (t: number) => progress.filter((p) => p.t <= t).at(-1)?.bytes ?? 0;
    const duringRestart = bytesAt(restartEnded) - bytesAt(restartStarted);
    console.log(
      `upgrade flow: ${String(gotFinal?.bytes)} bytes in ${String(gotFinal?.ms)} ms; agents restarted on the new build ` +
        `between ${restartStarted} and ${restartEnded} ms, ${duringRestart} bytes sent meanwhile; longest stall ${longestStallMs} ms; ` +
        `node 1 links ${JSON.stringify(before[0])} -> ${JSON.stringify(after[0])}; counters ${countersBefore} -> ${countersAfterRestart} -> ${countersAtEnd}`,
    );

    expect(sentFinal?.error, 'the sender saw no reset or error').toBeUndefined();
    expect(gotFinal?.error, 'the receiver saw no reset or error').toBeUndefined();
    expect(gotFinal?.bytes).toBe(sentFinal?.bytes);
    expect(gotFinal?.sha256).toBe(sentFinal?.sha256);
    expect(Number(gotFinal?.bytes)).toBeGreaterThan(FLOW_RATE * (FLOW_MS / 1000) * 0.5);
    expect(duringRestart).toBeGreaterThan(0);
    expect(longestStallMs).toBeLessThan(1000);

    for (let i = 0; i < 2; i++) {
      after[i].forEach((a, j) => {
        expect(a.linkId).toBe(before[i][j].linkId); // the same attachment, never detached...
        expect(a.progId).not.toBe(before[i][j].progId); // ...now holds a new program...
        expect(a.tag).not.toBe(before[i][j].tag); // ...which is the other build
      });
    }
    // and nothing else got attached beside them
    for (const ns of namespaces) expect(ns.exec('tc', ['filter', 'show', 'dev', 'eth0', 'ingress'])).toBe('');
    expect(countersBefore).toBeGreaterThan(0n);
    expect(countersAfterRestart).toBeGreaterThan(countersBefore); // the pinned counters were adopted, not reset
    expect(countersAtEnd).toBeGreaterThan(countersAfterRestart);
  }, 90_000);
});
