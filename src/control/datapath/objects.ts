// SPDX-License-Identifier: Apache-2.0
// Loads the data-path entry objects (build/bpf/*.o) with their read-only globals set, all sharing one set of
// maps pinned by name under the caller's pin root, and returns typed handles.
import { mkdirSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { openObject } from '../bpf/index.js';
import type { BpfMap, BpfProgram, Collection, ObjectSpec, OpenOptions } from '../bpf/types.js';
import { MAP_NAMES } from '../maps/layout.js';
import { DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI } from '../model/parse.js';
import { bpfObjectPath } from '../paths.js';

export interface DatapathConfig {
  /** This node's underlay IPv4 address: outer source of our tunnel packets, required outer destination. */
  nodeAddr: string;
  /** The uplink's ifindex (in the namespace where the programs will run). */
  uplinkIfindex: number;
  /** VXLAN network identifier, default 4096 (Calico's). */
  vxlanVni?: number;
  /** VXLAN UDP port, default 4789. */
  vxlanPort?: number;
  /** This node's VTEP MAC ("aa:bb:cc:dd:ee:ff"): inner source of our VXLAN frames, required inner destination. */
  vtepMac: string;
  /** bpffs directory where the shared maps are pinned by name (created if missing). */
  pinRoot: string;
  /**
   * Capacities (max_entries) by map name, for maps created by this load; a map already pinned keeps the
   * capacity it was created with (libbpf refuses to reuse a pinned map of another size: unload first).
   */
  maxEntries?: Partial<Record<string, number>>;
}

/** Entry objects and the program each holds; the hook names match the counters' hooks. */
export const DATAPATH_OBJECTS = {
  fromWorkload: { file: 'from_workload.o', program: 'from_workload' },
  toUplink: { file: 'to_uplink.o', program: 'to_uplink' },
  fromUplink: { file: 'from_uplink.o', program: 'from_uplink' },
  fromUplinkXdp: { file: 'from_uplink_xdp.o', program: 'from_uplink_xdp' },
} as const;

export type DatapathHook = keyof typeof DATAPATH_OBJECTS;


export interface DatapathMaps {
  routes: BpfMap;
  knownNodes: BpfMap;
  settings: BpfMap;
  counters: BpfMap;
  sourceAllow: BpfMap;
  nextHops: BpfMap;
  nextHopGen: BpfMap;
}

export interface Datapath {
  programs: {
    fromWorkload: BpfProgram;
    toUplink: BpfProgram;
    fromUplink: BpfProgram;
    /** Always loaded, so that turning XDP on or off is an attach decision that needs no reload. */
    fromUplinkXdp: BpfProgram;
  };
  maps: DatapathMaps;
  close(): void;
}

/** The name the agent uses. */
export type LoadedDatapath = Datapath;

export interface ResolvedGlobals {
  node_addr: Buffer;
  uplink_ifindex: Buffer;
  vxlan_port: Buffer;
  vxlan_vni: Buffer;
  vtep_mac: Buffer;
}

/** Validates the configuration and encodes each global exactly as bpf/lib/config.h declares it. */
export function encodeGlobals(cfg: DatapathConfig): ResolvedGlobals {
  if (!ipaddr.IPv4.isValidFourPartDecimal(cfg.nodeAddr)) {
    throw new Error(`datapath: nodeAddr must be an IPv4 address, got '${cfg.nodeAddr}'`);
  }
  if (!Number.isInteger(cfg.uplinkIfindex) || cfg.uplinkIfindex <= 0 || cfg.uplinkIfindex > 0xffffffff) {
    throw new Error(`datapath: uplinkIfindex must be a positive integer, got ${cfg.uplinkIfindex}`);
  }
  const vni = cfg.vxlanVni ?? DEFAULT_VXLAN_VNI;
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) {
    throw new Error(`datapath: vxlanVni must be an integer in 0..16777215, got ${vni}`);
  }
  const port = cfg.vxlanPort ?? DEFAULT_VXLAN_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`datapath: vxlanPort must be an integer in 1..65535, got ${port}`);
  }
  const macParts = cfg.vtepMac.split(':');
  if (macParts.length !== 6 || macParts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`datapath: vtepMac must look like aa:bb:cc:dd:ee:ff, got '${cfg.vtepMac}'`);
  }
  const u32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0, 0);
    return b;
  };
  const u16 = Buffer.alloc(2);
  u16.writeUInt16LE(port, 0);
  return {
    node_addr: Buffer.from(ipaddr.IPv4.parse(cfg.nodeAddr).toByteArray()), // network order
    uplink_ifindex: u32(cfg.uplinkIfindex),
    vxlan_port: u16, // host order: the program converts
    vxlan_vni: u32(vni),
    vtep_mac: Buffer.from(macParts.map((p) => parseInt(p, 16))),
  };
}

export interface LoadDeps {
  openObject: (path: string, opts?: OpenOptions) => ObjectSpec;
  objectPath: (file: string) => string;
}

const defaultDeps: LoadDeps = { openObject, objectPath: bpfObjectPath };

/** Opens, configures and loads every entry object. On failure nothing stays loaded (pins excepted). */
export function loadDatapath(cfg: DatapathConfig, deps: LoadDeps = defaultDeps): Datapath {
  const globals = encodeGlobals(cfg);
  if (!cfg.pinRoot || !cfg.pinRoot.startsWith('/')) {
    throw new Error(`datapath: pinRoot must be an absolute bpffs directory, got '${cfg.pinRoot}'`);
  }
  mkdirSync(cfg.pinRoot, { recursive: true });

  const hooks: DatapathHook[] = ['fromWorkload', 'toUplink', 'fromUplink', 'fromUplinkXdp'];

  const collections: Collection[] = [];
  try {
    const programs: Partial<Record<DatapathHook, BpfProgram>> = {};
    for (const hook of hooks) {
      const { file, program } = DATAPATH_OBJECTS[hook];
      const spec = deps.openObject(deps.objectPath(file), { pinRoot: cfg.pinRoot });
      try {
        for (const [name, value] of Object.entries(globals)) spec.setVariable(name, value);
        for (const [name, max] of Object.entries(cfg.maxEntries ?? {})) if (max !== undefined) spec.setMapMaxEntries(name, max);
        const coll = spec.load();
        collections.push(coll);
        programs[hook] = coll.program(program);
      } finally {
        spec.close();
      }
    }
    // Every collection holds the same pinned maps; the first one's handles serve all.
    const first = collections[0];
    const maps: DatapathMaps = {
      routes: first.map(MAP_NAMES.routes),
      knownNodes: first.map(MAP_NAMES.knownNodes),
      settings: first.map(MAP_NAMES.settings),
      counters: first.map(MAP_NAMES.counters),
      sourceAllow: first.map(MAP_NAMES.sourceAllow),
      nextHops: first.map(MAP_NAMES.nextHops),
      nextHopGen: first.map(MAP_NAMES.nextHopGen),
    };
    return {
      programs: {
        fromWorkload: programs.fromWorkload!,
        toUplink: programs.toUplink!,
        fromUplink: programs.fromUplink!,
        fromUplinkXdp: programs.fromUplinkXdp!,
      },
      maps,
      close(): void {
        for (const c of collections) c.close();
      },
    };
  } catch (err) {
    for (const c of collections) c.close();
    throw err;
  }
}
