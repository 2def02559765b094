// SPDX-License-Identifier: Apache-2.0
// A loaded data path with a fixed, documented scenario in its maps, for BPF_PROG_TEST_RUN tests and benches.
// This node is 10.0.0.1 (tunnel address 10.244.1.1) in pool 10.244.0.0/16 (natOutgoing).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { openObject } from '../../src/control/bpf/index.js';
import { loadDatapath, type Datapath } from '../../src/control/datapath/objects.js';
import { bpfIsaFor, packageRoot } from '../../src/control/paths.js';
import {
  COUNTER_SLOTS,
  Encap,
  NextHopFlags,
  NodeFlags,
  RouteFlags,
  RouteKind,
  ZERO_IP,
  ZERO_MAC,
  counterSlot,
  encodeKnownNodeKey,
  encodeKnownNodeValue,
  encodeNextHopKey,
  encodeNextHopValue,
  encodeRouteKey,
  encodeRouteValue,
  encodeSettingsValue,
  encodeSourceAllowKey,
  encodeSourceAllowValue,
  encodeU32Key,
  sumPerCpu,
  type CounterHook,
  type CounterReason,
  type NextHopEntry,
  type RouteEntry,
} from '../../src/control/maps/layout.js';
import { DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI } from '../../src/control/model/parse.js';

export const NODE = '10.0.0.1';
export const TUNNEL_ADDR = '10.244.1.1';
export const VTEP_MAC = '66:00:00:00:00:01';
export const VNI = DEFAULT_VXLAN_VNI;
export const VXLAN_PORT = DEFAULT_VXLAN_PORT;
export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
export const UPLINK_MAC = '52:54:00:00:00:01';
export const PEER_UPLINK_MAC = '52:54:00:00:00:02';
/** The router toward VXLAN_NODE's subnet, as the agent pre-resolved it into next_hop_map. */
export const GATEWAY_MAC = '52:54:00:00:00:fe';

export const LOCAL_POD = { ip: '10.244.1.5', mac: '02:00:0a:f4:01:05', ifindex: 7 };
export const LOCAL_POD2 = { ip: '10.244.1.6', mac: '02:00:0a:f4:01:06', ifindex: 8 };
export const IPIP_NODE = { addr: '10.0.0.2', block: '10.244.2.0/26', pod: '10.244.2.9' };
export const VXLAN_NODE = { addr: '10.0.1.3', block: '10.244.3.0/26', pod: '10.244.3.9', vtepMac: '66:00:00:00:00:03' };
// PLAIN_NODE's tunnel address lies in no block: only the known-node entry vouches for it as an inner source.
export const PLAIN_NODE = { addr: '10.0.0.4', block: '10.244.4.0/26', pod: '10.244.4.9', tunnelAddr: '10.244.9.1' };
export const UNKNOWN_HOST = '10.0.0.99';
export const OUTSIDE = '192.0.2.10';
export const POOL_ONLY = '10.244.200.1'; // in the pool, in no block
export const LOCAL_BLOCK_FREE = '10.244.1.50'; // in our block, no workload
export const UPLINK_MTU = 1500;
/** LOCAL_POD2's endpoint lists this in allowSpoofedSourcePrefixes: it may send from any address in it. */
export const ALLOWED_SOURCE = { scope: 'veth', ifindex: LOCAL_POD2.ifindex, cidr: '198.51.100.0/24', addr: '198.51.100.7' } as const;
/** A workload on VXLAN_NODE lists this: VXLAN_NODE's tunnel packets may carry it as inner source. */
export const REMOTE_ALLOWED_SOURCE = { scope: 'node', node: VXLAN_NODE.addr, cidr: '203.0.113.0/24', addr: '203.0.113.5' } as const;

/** The struct __sk_buff a tc test run starts from: `ingress_ifindex` is the veth a workload's packet came in on
 * (from_workload checks the source against it), `gsoSize` makes it a GSO packet. Offsets from vmlinux.h. */
export function ingressCtx(ifindex: number, gsoSize = 0): Buffer {
  const ctx = Buffer.alloc(192); // sizeof(struct __sk_buff)
  ctx.writeUInt32LE(ifindex, 36); // ingress_ifindex
  if (gsoSize) {
    ctx.writeUInt32LE(2, 164); // gso_segs
    ctx.writeUInt32LE(gsoSize, 176); // gso_size
  }
  return ctx;
}

const REMOTE_FLAGS = RouteFlags.InPool | RouteFlags.NatOutgoing | RouteFlags.NoClusterNode;

function route(cidr: string, kind: RouteKind, over: Partial<RouteEntry> = {}): RouteEntry {
  return {
    cidr,
    kind,
    encap: Encap.None,
    flags: RouteFlags.InPool | RouteFlags.NatOutgoing,
    ifindex: 0,
    nextHop: ZERO_IP,
    dstMac: ZERO_MAC,
    srcMac: ZERO_MAC,
    ...over,
  };
}

export const SCENARIO_ROUTES: RouteEntry[] = [
  route('10.244.0.0/16', RouteKind.Pool),
  route('10.244.1.0/26', RouteKind.LocalBlock),
  route(`${LOCAL_POD.ip}/32`, RouteKind.LocalWorkload, { ifindex: LOCAL_POD.ifindex, dstMac: LOCAL_POD.mac, srcMac: HOST_VETH_MAC }),
  route(`${LOCAL_POD2.ip}/32`, RouteKind.LocalWorkload, { ifindex: LOCAL_POD2.ifindex, dstMac: LOCAL_POD2.mac, srcMac: HOST_VETH_MAC }),
  route(`${TUNNEL_ADDR}/32`, RouteKind.LocalHost),
  // No node address lies in these blocks, so they carry the compiler's NoClusterNode flag as compile() sets it
  // (the golden test of a block that holds a node writes its own entry without it).
  route(IPIP_NODE.block, RouteKind.RemoteBlock, { encap: Encap.Ipip, nextHop: IPIP_NODE.addr, flags: REMOTE_FLAGS }),
  route(VXLAN_NODE.block, RouteKind.RemoteBlock, { encap: Encap.Vxlan, nextHop: VXLAN_NODE.addr, dstMac: VXLAN_NODE.vtepMac, flags: REMOTE_FLAGS }),
  route(PLAIN_NODE.block, RouteKind.RemoteBlock, { nextHop: PLAIN_NODE.addr, flags: REMOTE_FLAGS }),
];

/** The uplink ifindex of the fixture's programs: test runs never execute redirects, and lo exists everywhere. */
export const FIXTURE_UPLINK_IFINDEX = 1;

/**
 * next_hop_map of the scenario: VXLAN_NODE (another subnet) is reached through a gateway whose MAC the agent
 * pre-resolved, so its packets leave with that Ethernet header and bpf_redirect; IPIP_NODE has no entry (the kernel
 * resolves it: bpf_redirect_neigh, Ethernet header untouched).
 */
export const SCENARIO_NEXT_HOPS: NextHopEntry[] = [
  { node: VXLAN_NODE.addr, dstMac: GATEWAY_MAC, srcMac: UPLINK_MAC, ifindex: FIXTURE_UPLINK_IFINDEX, flags: 0 },
];

export function writeNextHop(dp: Datapath, e: NextHopEntry): void {
  const { node, ...value } = e;
  dp.maps.nextHops.update(encodeNextHopKey(node), encodeNextHopValue(value));
}

/** The Ethernet header an encapsulated frame to `node` leaves with: the pre-resolved one, else the frame's own. */
export function handOffEthernet(node: string, original: Buffer, nextHops: readonly NextHopEntry[] = SCENARIO_NEXT_HOPS): Buffer {
  const e = nextHops.find((n) => n.node === node && (n.flags & NextHopFlags.Verify) === 0);
  if (!e) return original.subarray(0, 14);
  const mac = (m: string) => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
  return Buffer.concat([mac(e.dstMac), mac(e.srcMac), Buffer.from([0x08, 0x00])]);
}

export interface Fixture {
  dp: Datapath;
  pinRoot: string;
  uplinkIfindex: number;
  setMtu(mtu: number): void;
  /** settings.cache_gen, as the agent publishes it after routes writes: nonzero turns the route cache on. The same
   * number goes to next_hop_gen_map (the next-hop cache's generation, published by the next-hops step). */
  setCacheGen(gen: number): void;
  counters(): Map<number, bigint>;
  close(): void;
}

/**
 * Runs `fn` with every thread of this process pinned to one CPU (the lowest it may use), then restores the
 * affinity: the lookup caches are per-CPU, so a test that fills a slot in one run and expects it in the next must
 * not move to another CPU in between (BPF_PROG_TEST_RUN runs a tc or XDP program on the caller's CPU).
 */
export function onOneCpu<T>(fn: () => T): T {
  const pid = String(process.pid);
  const mask = /mask: ([0-9a-f]+)/.exec(execFileSync('taskset', ['-p', pid], { encoding: 'utf8' }))?.[1];
  if (!mask) throw new Error(`taskset -p ${pid}: no affinity mask`);
  const bits = BigInt(`0x${mask}`);
  let cpu = 0;
  while (((bits >> BigInt(cpu)) & 1n) === 0n) cpu++;
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), pid], { stdio: 'ignore' });
  try {
    return fn();
  } finally {
    execFileSync('taskset', ['-a', '-p', mask, pid], { stdio: 'ignore' });
  }
}

/** The builds of the objects this kernel can load (scripts/build-bpf.sh builds both; ISA v4 needs 6.6). */
export function loadableIsaBuilds(): { isa: 'v4' | 'v3'; dir: string }[] {
  const built = join(packageRoot(), 'build', 'bpf');
  const v3 = { isa: 'v3' as const, dir: join(built, 'isa-v3') };
  return bpfIsaFor(release()) === 'v4' ? [{ isa: 'v4', dir: built }, v3] : [v3];
}

/** Loads every program (from `objectsDir`, else the build the loader would pick) under a private pin root and
 * fills the maps with the scenario. */
export function loadFixture(objectsDir?: string): Fixture {
  const pinRoot = `/sys/fs/bpf/bo-dp-${randomBytes(3).toString('hex')}`;
  // Test runs never execute redirects; the uplink ifindex only feeds bpf_check_mtu (lo exists everywhere).
  const uplinkIfindex = FIXTURE_UPLINK_IFINDEX;
  let dp: Datapath;
  try {
    const cfg = { nodeAddr: NODE, uplinkIfindex, vxlanVni: VNI, vxlanPort: VXLAN_PORT, vtepMac: VTEP_MAC, pinRoot };
    dp = objectsDir ? loadDatapath(cfg, { openObject, objectPath: (file) => join(objectsDir, file) }) : loadDatapath(cfg);
  } catch (err) {
    rmSync(pinRoot, { recursive: true, force: true });
    throw err;
  }
  for (const r of SCENARIO_ROUTES) dp.maps.routes.update(encodeRouteKey(r.cidr), encodeRouteValue(r));
  const node = (addr: string, flags: number, vtepMac = ZERO_MAC) =>
    dp.maps.knownNodes.update(encodeKnownNodeKey(addr), encodeKnownNodeValue({ vtepMac, flags, tunnelAddr: ZERO_IP }));
  node(IPIP_NODE.addr, NodeFlags.AllowIpip);
  node(VXLAN_NODE.addr, NodeFlags.AllowVxlan, VXLAN_NODE.vtepMac);
  dp.maps.knownNodes.update(
    encodeKnownNodeKey(PLAIN_NODE.addr),
    encodeKnownNodeValue({ vtepMac: ZERO_MAC, flags: NodeFlags.AllowIpip | NodeFlags.AllowVxlan, tunnelAddr: PLAIN_NODE.tunnelAddr }),
  );
  for (const e of SCENARIO_NEXT_HOPS) writeNextHop(dp, e);
  for (const allowed of [ALLOWED_SOURCE, REMOTE_ALLOWED_SOURCE]) dp.maps.sourceAllow.update(encodeSourceAllowKey(allowed), encodeSourceAllowValue());
  // The route cache starts off (cache_gen 0): tests that write routes_map directly need no generation bump.
  const settings = { tunnelAddr: TUNNEL_ADDR, uplinkMtu: UPLINK_MTU, cacheGen: 0 };
  const writeSettings = () => dp.maps.settings.update(encodeU32Key(0), encodeSettingsValue(settings));
  writeSettings();
  return {
    dp,
    pinRoot,
    uplinkIfindex,
    setMtu(mtu: number): void {
      settings.uplinkMtu = mtu;
      writeSettings();
    },
    setCacheGen(gen: number): void {
      settings.cacheGen = gen;
      writeSettings();
      dp.maps.nextHopGen.update(encodeU32Key(0), encodeU32Key(gen));
    },
    counters(): Map<number, bigint> {
      const out = new Map<number, bigint>();
      for (let slot = 0; slot < COUNTER_SLOTS; slot++) {
        const v = dp.maps.counters.lookupPerCpu(encodeU32Key(slot));
        if (!v) continue;
        const { packets } = sumPerCpu(v);
        if (packets) out.set(slot, packets);
      }
      return out;
    },
    close(): void {
      dp.close();
      rmSync(pinRoot, { recursive: true, force: true });
    },
  };
}

/** The counters that changed between two snapshots, as "hook/encap/reason" -> packets. */
export function counterDelta(before: Map<number, bigint>, after: Map<number, bigint>): Map<number, bigint> {
  const d = new Map<number, bigint>();
  for (const [slot, v] of after) {
    const diff = v - (before.get(slot) ?? 0n);
    if (diff) d.set(slot, diff);
  }
  return d;
}

export function slot(hook: CounterHook, encap: Encap, reason: CounterReason): number {
  return counterSlot(hook, encap, reason);
}

export const TC_ACT_OK = 0;
export const TC_ACT_SHOT = 2;
export const TC_ACT_REDIRECT = 7;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
