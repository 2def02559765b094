// SPDX-License-Identifier: Apache-2.0
// Attaching through the loader to a veth between two namespaces this file creates, with real (bounded) ping
// traffic between them: tcx ingress/egress, XDP generic/native, atomic link update, forced cls_bpf, pins.
import { once } from 'node:events';
import { mkdirSync, rmSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  attachTc,
  attachXdp,
  BpfError,
  interfaceIndex,
  kernelSupportsTcx,
  kernelSupportsXdpFrags,
  openObject,
  openPinnedLink,
  openPinnedMap,
  openPinnedProgram,
  type BpfMap,
  type Collection,
  type Link,
} from '../../src/control/bpf/index.js';
import { Topology, type Netns } from '../harness/netns.js';
import { kernelDescribe } from '../harness/privileges.js';
import { ensureBpfObjects, objectPath, SLOT_TC, SLOT_TC_ALT, SLOT_XDP, sumCounts, u32 } from './loader-fixtures.js';

const PINGS = 5;

kernelDescribe('kernel loader: attach, update, pin with real traffic', () => {
  let topo: Topology;
  let a: Netns;
  let b: Netns;
  let vethA: string;
  let vethB: string;
  let addrB: string;
  let coll: Collection;
  let counts: BpfMap;
  const links: Link[] = [];
  const pinDir = `/sys/fs/bpf/bo-test-${randomBytes(4).toString('hex')}`;

  const packets = (slot: number): bigint => sumCounts(counts.lookupPerCpu(u32(slot))).packets;
  const ping = (count = PINGS): string => a.exec('ping', ['-c', String(count), '-i', '0.2', '-W', '2', addrB], { timeoutMs: 30_000 });
  const track = (link: Link): Link => {
    links.push(link);
    return link;
  };

  beforeAll(() => {
    ensureBpfObjects();
    topo = new Topology('bo');
    a = topo.addNamespace('a');
    b = topo.addNamespace('b');
    vethA = `${topo.prefix}a`;
    vethB = `${topo.prefix}b`;
    topo.veth(a, vethA, b, vethB);
    const net = 1 + (randomBytes(1)[0] % 250);
    a.ip('addr', 'add', `10.213.${net}.1/24`, 'dev', vethA);
    b.ip('addr', 'add', `10.213.${net}.2/24`, 'dev', vethB);
    addrB = `10.213.${net}.2`;
    ping(1); // resolves ARP so that the counted runs see only the pings
    const spec = openObject(objectPath('loader_test'));
    coll = spec.load();
    spec.close();
    counts = coll.map('pkt_counts');
  });

  afterEach(() => {
    for (const l of links.splice(0)) {
      try {
        l.detach();
      } catch {
        l.close();
      }
    }
  });

  afterAll(() => {
    try {
      coll?.close();
    } finally {
      topo?.destroy();
      rmSync(pinDir, { recursive: true, force: true });
    }
  });

  it('resolves interfaces inside a namespace', () => {
    expect(interfaceIndex({ ifname: vethB, netns: b.path })).toBe(b.ifindex(vethB));
    expect(() => interfaceIndex({ ifname: vethB })).toThrow(/interface '.*'.*ENODEV/);
    expect(() => interfaceIndex({ ifname: 'x'.repeat(16), netns: b.path })).toThrow(/ref.ifname/);
    expect(() => interfaceIndex({ ifname: vethB, netns: '/run/netns/bo-none-such' })).toThrow(/netns '\/run\/netns\/bo-none-such'.*ENOENT/);
  });

  it('counts real traffic with tcx on ingress, then egress, and stops after detach', () => {
    expect(kernelSupportsTcx()).toBe(true);
    const prog = coll.program('count_tc');

    const before = packets(SLOT_TC);
    const ingress = track(attachTc(prog, { ifname: vethB, netns: b.path }, 'ingress'));
    expect(ingress.kind).toBe('tcx');
    expect(ingress.ifindex).toBe(b.ifindex(vethB));
    expect(ping()).toMatch(/5 received/);
    const afterIngress = packets(SLOT_TC);
    expect(afterIngress - before).toBeGreaterThanOrEqual(BigInt(PINGS));
    ingress.detach();
    expect(() => ingress.update(prog)).toThrow(/is closed/);

    const egress = track(attachTc(prog, { ifname: vethB, netns: b.path }, 'egress'));
    expect(egress.kind).toBe('tcx');
    ping();
    const afterEgress = packets(SLOT_TC);
    expect(afterEgress - afterIngress).toBeGreaterThanOrEqual(BigInt(PINGS));
    egress.detach();

    ping();
    expect(packets(SLOT_TC)).toBe(afterEgress);
  });

  for (const mode of ['generic', 'native'] as const) {
    it(`counts real traffic with XDP in ${mode} mode`, () => {
      const before = packets(SLOT_XDP);
      const link = track(attachXdp(coll.program('count_xdp'), { ifname: vethB, netns: b.path }, mode));
      expect(link.kind).toBe('xdp');
      const shown = JSON.parse(b.ip('-j', '-d', 'link', 'show', 'dev', vethB)) as { xdp?: { mode: number } }[];
      // iproute2: 1 = native (driver), 2 = generic (skb)
      expect(shown[0].xdp?.mode).toBe(mode === 'native' ? 1 : 2);
      expect(ping()).toMatch(/5 received/);
      expect(packets(SLOT_XDP) - before).toBeGreaterThanOrEqual(BigInt(PINGS));
      link.detach();
      const gone = JSON.parse(b.ip('-j', '-d', 'link', 'show', 'dev', vethB)) as { xdp?: unknown }[];
      expect(gone[0].xdp).toBeUndefined();
    });
  }

  it('loads an XDP program declared frags-aware, and unpins a link without detaching it', () => {
    expect(kernelSupportsXdpFrags()).toBe(true);
    // veth refuses a single-buffer XDP program in native mode when its peer's MTU exceeds a page; a frags-aware one is accepted.
    const jumboA = `${topo.prefix}ja`;
    const jumboB = `${topo.prefix}jb`;
    topo.veth(a, jumboA, b, jumboB, { mtu: 9000 });
    const load = (file: string): Collection => {
      const spec = openObject(objectPath(file));
      try {
        return spec.load();
      } finally {
        spec.close();
      }
    };
    const single = load('loader_min');
    try {
      expect(() => attachXdp(single.program('min_xdp'), { ifname: jumboB, netns: b.path }, 'native')).toThrow(expect.objectContaining({ code: 'ERANGE' }));
    } finally {
      single.close();
    }
    const frags = load('loader_frags');
    const runs = (): bigint => frags.map('.bss').lookup(u32(0))!.readBigUInt64LE(0);
    try {
      track(attachXdp(frags.program('count_frags_xdp'), { ifname: jumboB, netns: b.path }, 'native')).detach();
      const link = track(attachXdp(frags.program('count_frags_xdp'), { ifname: vethB, netns: b.path }, 'generic'));
      mkdirSync(pinDir, { recursive: true });
      link.pin(`${pinDir}/frags_link`);
      link.unpin();
      expect(existsSync(`${pinDir}/frags_link`)).toBe(false);
      // Unpinned, but this object's fd still holds the attachment.
      const r0 = runs();
      expect(ping()).toMatch(/5 received/);
      expect(runs() - r0).toBeGreaterThanOrEqual(BigInt(PINGS));
      link.detach();
      const r1 = runs();
      ping();
      expect(runs()).toBe(r1);
    } finally {
      frags.close();
    }
  });

  it('swaps the program of a tcx link atomically while traffic flows', async () => {
    const link = track(attachTc(coll.program('count_tc'), { ifname: vethB, netns: b.path }, 'ingress'));
    const tc0 = packets(SLOT_TC);
    const alt0 = packets(SLOT_TC_ALT);
    const flood = topo.track(a.spawn('ping', ['-c', '20', '-i', '0.1', '-W', '2', addrB]));
    let output = '';
    flood.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    await new Promise((r) => setTimeout(r, 900));
    link.update(coll.program('count_tc_alt'));
    const [code] = (await once(flood, 'exit')) as [number];
    expect(code).toBe(0);
    expect(output).toMatch(/20 received/);
    const tcDelta = packets(SLOT_TC) - tc0;
    const altDelta = packets(SLOT_TC_ALT) - alt0;
    expect(tcDelta).toBeGreaterThan(0n);
    expect(altDelta).toBeGreaterThan(0n);
    // Every echo request passed through exactly one of the two programs: none went uncounted.
    expect(tcDelta + altDelta).toBeGreaterThanOrEqual(20n);
    const tcFinal = packets(SLOT_TC);
    ping();
    expect(packets(SLOT_TC)).toBe(tcFinal);
  });

  it('falls back to clsact/cls_bpf when forced, including update and detach', () => {
    const link = track(attachTc(coll.program('count_tc'), { ifname: vethB, netns: b.path }, 'ingress', { mode: 'cls_bpf' }));
    expect(link.kind).toBe('tc-cls-bpf');
    expect(link.ifindex).toBe(b.ifindex(vethB));
    expect(b.exec('tc', ['filter', 'show', 'dev', vethB, 'ingress'])).toMatch(/count_tc:\[\d+\] direct-action/);
    const tc0 = packets(SLOT_TC);
    ping();
    expect(packets(SLOT_TC) - tc0).toBeGreaterThanOrEqual(BigInt(PINGS));

    link.update(coll.program('count_tc_alt'));
    expect(b.exec('tc', ['filter', 'show', 'dev', vethB, 'ingress'])).toMatch(/count_tc_alt:\[\d+\] direct-action/);
    const alt0 = packets(SLOT_TC_ALT);
    ping();
    expect(packets(SLOT_TC_ALT) - alt0).toBeGreaterThanOrEqual(BigInt(PINGS));
    expect(() => link.pin(`${pinDir}-never`)).toThrow(/cannot be pinned/);

    link.detach();
    expect(b.exec('tc', ['filter', 'show', 'dev', vethB, 'ingress'])).not.toMatch(/bpf/);
    const alt1 = packets(SLOT_TC_ALT);
    ping();
    expect(packets(SLOT_TC_ALT)).toBe(alt1);
  });

  it('pins maps, programs and links, reopens them and sees the same objects and data', () => {
    mkdirSync(pinDir, { recursive: true });
    const spec = openObject(objectPath('loader_test'));
    const own = spec.load();
    spec.close();
    const prog = own.program('count_tc');
    own.map('pkt_counts').pin(`${pinDir}/pkt_counts`);
    prog.pin(`${pinDir}/count_tc`);
    const link = attachTc(prog, { ifname: vethB, netns: b.path }, 'ingress');
    link.pin(`${pinDir}/link_ingress`);
    const progId = prog.id;
    // Everything closed: only the pins keep the map, program and attachment alive.
    link.close();
    own.close();

    ping();
    const map = openPinnedMap(`${pinDir}/pkt_counts`);
    const pinnedProg = openPinnedProgram(`${pinDir}/count_tc`);
    const pinnedLink = openPinnedLink(`${pinDir}/link_ingress`);
    try {
      expect(map.typeName).toBe('percpu_array');
      expect(map.valueSize).toBe(16);
      const counted = sumCounts(map.lookupPerCpu(u32(SLOT_TC))).packets;
      expect(counted).toBeGreaterThanOrEqual(BigInt(PINGS));
      expect(pinnedProg.id).toBe(progId);
      expect(pinnedProg.typeName).toBe('sched_cls');
      expect(pinnedLink.kind).toBe('tcx');
      expect(pinnedLink.ifindex).toBe(b.ifindex(vethB));
      expect(() => openPinnedMap(`${pinDir}/count_tc`)).toThrow(/not a pinned bpf-map/);
      expect(() => openPinnedMap(`${pinDir}/none`)).toThrow(expect.objectContaining({ code: 'ENOENT' }));

      pinnedLink.detach();
      expect(existsSync(`${pinDir}/link_ingress`)).toBe(false);
      ping();
      expect(sumCounts(map.lookupPerCpu(u32(SLOT_TC))).packets).toBe(counted);
    } finally {
      map.close();
      pinnedProg.close();
      pinnedLink.close();
      rmSync(`${pinDir}/pkt_counts`, { force: true });
      rmSync(`${pinDir}/count_tc`, { force: true });
    }
    expect(existsSync(`${pinDir}/pkt_counts`)).toBe(false);
  });

  it('pins maps declared LIBBPF_PIN_BY_NAME under pinRoot and reuses them on the next load', () => {
    const root = `${pinDir}/by-name`;
    mkdirSync(root, { recursive: true });
    const first = openObject(objectPath('loader_pinned'), { pinRoot: root });
    expect(first.maps.find((m) => m.name === 'shared_by_pin')?.pinning).toBe('by_name');
    const c1 = first.load();
    first.close();
    try {
      expect(existsSync(`${root}/shared_by_pin`)).toBe(true);
      c1.map('shared_by_pin').update(u32(1), u32(77));
      const second = openObject(objectPath('loader_pinned'), { pinRoot: root });
      const c2 = second.load();
      second.close();
      try {
        expect(c2.program('read_shared').testRun({ data: Buffer.alloc(64) }).retval).toBe(77);
        expect((c2.map('shared_by_pin') as BpfMap & { id: number }).id).toBe((c1.map('shared_by_pin') as BpfMap & { id: number }).id);
      } finally {
        c2.close();
      }
    } finally {
      c1.close();
      rmSync(root, { recursive: true, force: true });
    }
    expect(() => openObject(objectPath('loader_pinned'), { pinRoot: 'relative' })).toThrow(/opts.pinRoot/);
  });

  it('rejects attaching to a missing interface with a clear error', () => {
    expect(() => attachTc(coll.program('count_tc'), { ifname: 'bo-none', netns: b.path }, 'ingress')).toThrow(BpfError);
    expect(() => attachTc(coll.program('count_tc'), { ifname: 'bo-none', netns: b.path }, 'ingress')).toThrow(/interface 'bo-none'/);
    expect(() => attachTc(coll.program('count_tc'), { ifname: vethB, netns: b.path }, 'sideways' as 'ingress')).toThrow(/direction/);
    expect(() => attachXdp(coll.program('count_tc'), { ifname: vethB, netns: b.path }, 'generic')).toThrow(BpfError);
  });
});
