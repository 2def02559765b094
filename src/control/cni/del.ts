// SPDX-License-Identifier: Apache-2.0
// CNI DEL: undo everything ADD made. Idempotent: an unknown container, a vanished netns or a half-removed
// attachment all end in the same clean state, and only an unreachable datastore asks the runtime to retry.
import { PinLayout } from '../node/pins.js';
import { releaseByHandle } from '../ipam/index.js';
import { detachWorkloadProgram } from './detach.js';
import type { NetConf } from './config.js';
import type { CniEnv } from './env.js';
import { hostVethName, ipamHandle, workloadEndpointName } from './names.js';
import { dataplaneError, deleteLink, removeSourceRules } from './netlink.js';
import { withDatastore } from './store.js';

export async function cmdDel(env: CniEnv, conf: NetConf): Promise<void> {
  await withDatastore(conf, async (ds) => {
    const wepName = workloadEndpointName(conf.nodeName, env.containerId, env.ifname);
    const wep = await ds.get('WorkloadEndpoint', wepName);
    releaseAttachmentDataplane(new PinLayout(conf.bpffs, conf.nodeName), hostVethName(env.containerId, env.ifname));
    if (env.netns && wep) forgetSourceRules(env.netns, wep.spec.ipNetworks);
    await ds.delete('WorkloadEndpoint', wepName);
    await releaseByHandle(ds, ipamHandle(conf.name, env.containerId, env.ifname), conf.nodeName);
  });
}

/** Host side of one attachment: the link pin, then the veth (its peer and the /32 route go with it). */
export function releaseAttachmentDataplane(pins: PinLayout, hostIfname: string): void {
  detachWorkloadProgram(pins, hostIfname);
  try {
    deleteLink(hostIfname);
  } catch (err) {
    throw dataplaneError(`delete host veth ${hostIfname}`, err);
  }
}

/**
 * The container's source rules for the attachment's addresses. Best effort: the namespace may be gone already
 * (then so are its rules), and a rule left behind only points at an empty table, which lookups pass through.
 */
function forgetSourceRules(netns: string, ipNetworks: readonly string[]): void {
  for (const net of ipNetworks) {
    try {
      removeSourceRules(netns, net.split('/')[0]);
    } catch {
      // namespace gone or not ours to enter any more
    }
  }
}
