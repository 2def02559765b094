// CNI DEL: undo everything ADD made. Idempotent: an unknown container, a vanished netns or a half-removed
// attachment all end in the same clean state, and only an unreachable datastore asks the runtime to retry.
import { PinLayout } from '../agent/pins.js';
import { releaseByHandle } from '../ipam/index.js';
import { detachWorkloadProgram } from './attach.js';
import type { NetConf } from './config.js';
import type { CniEnv } from './env.js';
import { hostVethName, ipamHandle, workloadEndpointName } from './names.js';
import { dataplaneError, deleteLink } from './netlink.js';
import { withDatastore } from './store.js';

export async function cmdDel(env: CniEnv, conf: NetConf): Promise<void> {
  await withDatastore(conf, async (ds) => {
    releaseAttachmentDataplane(new PinLayout(conf.bpffs, conf.nodeName), hostVethName(env.containerId, env.ifname));
    await ds.delete('WorkloadEndpoint', workloadEndpointName(conf.nodeName, env.containerId, env.ifname));
    await releaseByHandle(ds, ipamHandle(conf.name, env.containerId, env.ifname));
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
