// SPDX-License-Identifier: Apache-2.0
// Attaches the loaded data path to interfaces: tc ingress on the host side of each workload veth, tc ingress and
// egress on the uplink, optionally XDP on the uplink in front of tc ingress.
import { attachTc, attachXdp } from '../bpf/index.js';
import type { InterfaceRef, Link, XdpMode } from '../bpf/types.js';
import type { Datapath } from './objects.js';

export interface UplinkLinks {
  ingress: Link;
  egress: Link;
  xdp?: Link;
}

/** The uplink hooks. With `xdp`, the XDP program decapsulates first and tc ingress delivers what it passes. */
export function attachUplink(dp: Datapath, uplink: InterfaceRef, opts: { xdp?: XdpMode } = {}): UplinkLinks {
  const links: Link[] = [];
  try {
    const ingress = attachTc(dp.programs.fromUplink, uplink, 'ingress');
    links.push(ingress);
    const egress = attachTc(dp.programs.toUplink, uplink, 'egress');
    links.push(egress);
    let xdp: Link | undefined;
    if (opts.xdp) {
      xdp = attachXdp(dp.programs.fromUplinkXdp, uplink, opts.xdp);
      links.push(xdp);
    }
    return { ingress, egress, xdp };
  } catch (err) {
    for (const l of links.reverse()) l.detach();
    throw err;
  }
}

/** The workload hook, on the host-side end of the workload's veth pair. */
export function attachWorkload(dp: Datapath, hostVeth: InterfaceRef): Link {
  return attachTc(dp.programs.fromWorkload, hostVeth, 'ingress');
}
