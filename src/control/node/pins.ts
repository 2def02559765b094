// SPDX-License-Identifier: Apache-2.0
// Where one agent keeps its kernel objects on bpffs. Several agents share a machine (one per node name), and
// the CNI plugin finds the workload program here to attach it to each new workload veth.
//
//   DIR/bpf-overlay/NODE/                 libbpf pin root: routes_map, known_nodes_map, settings_map, counters_map
//   DIR/bpf-overlay/NODE/progs/HOOK       the loaded programs (from_workload, to_uplink, from_uplink, from_uplink_xdp)
//   DIR/bpf-overlay/NODE/links/NAME       the attachments: uplink-ingress, uplink-egress, uplink-xdp, wl-IFNAME
import { join } from 'node:path';

export const DEFAULT_BPFFS = '/sys/fs/bpf';

export type ProgramHook = 'from_workload' | 'to_uplink' | 'from_uplink' | 'from_uplink_xdp';

export const UPLINK_LINKS = ['uplink-ingress', 'uplink-egress', 'uplink-xdp'] as const;

export class PinLayout {
  readonly root: string;
  constructor(
    readonly bpffs: string,
    readonly node: string,
  ) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(node)) {
      throw new Error(`--node: '${node}' is not a valid node name (lower-case DNS-1123 subdomain)`);
    }
    this.root = join(bpffs, 'bpf-overlay', node);
  }

  get progsDir(): string {
    return join(this.root, 'progs');
  }

  get linksDir(): string {
    return join(this.root, 'links');
  }

  map(name: string): string {
    return join(this.root, name);
  }

  program(hook: ProgramHook): string {
    return join(this.progsDir, hook);
  }

  link(name: string): string {
    return join(this.linksDir, name);
  }

  workloadLink(hostIfname: string): string {
    return this.link(`wl-${hostIfname}`);
  }
}
