// SPDX-License-Identifier: Apache-2.0
// The agent's hold on the data path: loads the programs (sharing the pinned maps), pins them where the CNI
// plugin finds them, and keeps every attachment pointing at the current programs. A reload (new version, or a
// changed load-time constant) swaps programs under existing links with an atomic link update, so traffic
// never meets a moment without a program, and the maps keep their contents.
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadDatapath, type LoadedDatapath } from '../datapath/objects.js';
import { attachTc, attachXdp, interfaceIndex, openPinnedLink } from '../bpf/index.js';
import type { BpfProgram, Link } from '../bpf/types.js';
import type { Logger } from '../log.js';
import { MAP_NAMES } from '../maps/layout.js';
import type { PinLayout, ProgramHook } from '../node/pins.js';
import type { UplinkInfo } from '../host/uplink.js';

export interface DatapathConstants {
  nodeAddr: string;
  uplinkIfindex: number;
  vxlanPort: number;
  vxlanVni: number;
  vtepMac: string;
  xdp: boolean;
}

/** Capacities of the maps the agent creates (a map already pinned keeps its own). */
export type MapCapacities = Partial<Record<'routes' | 'knownNodes', number>>;

function sameConstants(a: DatapathConstants | undefined, b: DatapathConstants): boolean {
  return !!a && (Object.keys(b) as (keyof DatapathConstants)[]).every((k) => a[k] === b[k]);
}

export class DatapathHandle {
  private loaded?: LoadedDatapath;
  private constants?: DatapathConstants;
  /** Bumped on every (re)load; workload links are revisited when theirs is older. */
  private generation = 0;
  private readonly workloadGeneration = new Map<string, number>();

  constructor(
    private readonly pins: PinLayout,
    private readonly uplink: UplinkInfo,
    private readonly log: Logger,
    private readonly capacities: MapCapacities = {},
  ) {}

  get maps(): LoadedDatapath['maps'] {
    if (!this.loaded) throw new Error('data path not loaded');
    return this.loaded.maps;
  }

  /** Loads (or reloads, when a constant changed) and brings the uplink attachments to the loaded programs. */
  ensure(constants: DatapathConstants): void {
    if (sameConstants(this.constants, constants)) return;
    mkdirSync(this.pins.progsDir, { recursive: true });
    mkdirSync(this.pins.linksDir, { recursive: true });
    const { xdp: _xdp, ...globals } = constants;
    const next = loadDatapath({
      ...globals,
      pinRoot: this.pins.root,
      maxEntries: {
        [MAP_NAMES.routes]: this.capacities.routes,
        [MAP_NAMES.knownNodes]: this.capacities.knownNodes,
        // One next hop per known node at most.
        [MAP_NAMES.nextHops]: this.capacities.knownNodes,
      },
    });
    const previous = this.loaded;
    this.loaded = next;
    this.constants = constants;
    this.generation++;

    this.pinProgram('from_workload', next.programs.fromWorkload);
    this.pinProgram('to_uplink', next.programs.toUplink);
    this.pinProgram('from_uplink', next.programs.fromUplink);
    this.pinProgram('from_uplink_xdp', next.programs.fromUplinkXdp);

    this.ensureLink('uplink-ingress', next.programs.fromUplink, (p) => attachTc(p, { ifname: this.uplink.ifname }, 'ingress'));
    this.ensureLink('uplink-egress', next.programs.toUplink, (p) => attachTc(p, { ifname: this.uplink.ifname }, 'egress'));
    if (constants.xdp) {
      this.ensureLink('uplink-xdp', next.programs.fromUplinkXdp, (p) => attachXdp(p, { ifname: this.uplink.ifname }, 'auto'));
    } else {
      this.removeLink('uplink-xdp');
    }
    // Workload links already pinned move to the new program now; syncWorkloadLinks handles new workloads.
    for (const name of this.pinnedLinkNames().filter((n) => n.startsWith('wl-'))) {
      this.ensureLink(name, next.programs.fromWorkload, undefined);
    }
    previous?.close();
    this.log.info({ generation: this.generation, xdp: constants.xdp, vni: constants.vxlanVni }, 'data path loaded');
  }

  /**
   * Puts from_workload on a workload's host veth (tc ingress) and pins the link; a no-op when the link is
   * pinned and already carries the current programs. Throws when the interface does not exist.
   */
  ensureWorkloadLink(hostIfname: string): void {
    const program = this.loaded?.programs.fromWorkload;
    if (!program) throw new Error('data path not loaded');
    const name = `wl-${hostIfname}`;
    if (this.workloadGeneration.get(name) === this.generation && existsSync(this.pins.link(name))) return;
    this.ensureLink(name, program, (p) => attachTc(p, { ifname: hostIfname }, 'ingress'));
    this.workloadGeneration.set(name, this.generation);
  }

  removeWorkloadLink(hostIfname: string): void {
    const name = `wl-${hostIfname}`;
    this.removeLink(name);
    this.workloadGeneration.delete(name);
  }

  interfaceExists(ifname: string): boolean {
    try {
      interfaceIndex({ ifname });
      return true;
    } catch {
      return false;
    }
  }

  /** Host interfaces that have a pinned workload link. */
  workloadLinkInterfaces(): string[] {
    return this.pinnedLinkNames().filter((n) => n.startsWith('wl-')).map((n) => n.slice(3));
  }

  close(): void {
    this.loaded?.close();
    this.loaded = undefined;
    this.constants = undefined;
  }

  /** Detaches every pinned link of a node and removes its pins: the host is as before the agent ran. */
  static removeAll(pins: PinLayout, log: Logger): number {
    let detached = 0;
    if (existsSync(pins.linksDir)) {
      for (const name of readdirSync(pins.linksDir)) {
        try {
          const link = openPinnedLink(pins.link(name));
          link.detach();
          link.close();
          detached++;
        } catch (err) {
          log.warn({ link: name, err: (err as Error).message }, 'pinned link could not be detached; removing its pin');
        }
      }
    }
    rmSync(pins.root, { recursive: true, force: true });
    // The shared parent goes too once the last node on this bpffs is unloaded.
    const parent = dirname(pins.root);
    if (existsSync(parent) && readdirSync(parent).length === 0) rmdirSync(parent);
    return detached;
  }

  private pinnedLinkNames(): string[] {
    return existsSync(this.pins.linksDir) ? readdirSync(this.pins.linksDir) : [];
  }

  private pinProgram(hook: ProgramHook, program: BpfProgram): void {
    const path = this.pins.program(hook);
    if (existsSync(path)) unlinkSync(path);
    program.pin(path);
  }

  /** Reuses the pinned link (atomic program swap) or attaches anew and pins the link. */
  private ensureLink(name: string, program: BpfProgram, attach: ((p: BpfProgram) => Link) | undefined): void {
    const path = this.pins.link(name);
    if (existsSync(path)) {
      const link = openPinnedLink(path);
      let severed = false;
      try {
        link.update(program);
      } catch (err) {
        // The interface it was attached to is gone (a namespace deleted and made again): the pin is all that
        // is left of it, so it goes and the program is attached anew.
        if ((err as { code?: string }).code !== 'ENOLINK') throw err;
        severed = true;
      } finally {
        link.close();
      }
      if (!severed) return;
      this.log.warn({ link: name }, 'pinned link was severed from its interface; attaching again');
      unlinkSync(path);
    }
    if (!attach) return;
    const link = attach(program);
    try {
      link.pin(path);
    } finally {
      link.close();
    }
  }

  private removeLink(name: string): void {
    const path = this.pins.link(name);
    if (!existsSync(path)) return;
    try {
      const link = openPinnedLink(path);
      try {
        link.detach();
      } finally {
        link.close();
      }
    } catch (err) {
      // A link whose interface was deleted is already detached by the kernel; only its pin is left.
      this.log.debug({ link: name, err: (err as Error).message }, 'link already gone');
    }
    if (existsSync(path)) unlinkSync(path);
  }
}
