// SPDX-License-Identifier: Apache-2.0
// CNI GC: the runtime lists the attachments it still uses (cni.dev/valid-attachments); everything this network
// made on this node for any other attachment is released: addresses, WorkloadEndpoints, veths and link pins.
import { readdirSync } from 'node:fs';
import { PinLayout } from '../node/pins.js';
import { releaseByHandle } from '../ipam/index.js';
import type { NetConf } from './config.js';
import { releaseAttachmentDataplane } from './del.js';
import { hostVethName, ipamHandle, isHostVethName, workloadEndpointName } from './names.js';
import { linkInfo } from './netlink.js';
import { belongsTo, withDatastore } from './store.js';
import { detachWorkloadProgram } from './detach.js';

export interface GcSummary {
  endpoints: string[];
  handles: string[];
  pins: string[];
  /** Records whose hostInterface is not the plugin's own name for the attachment (that interface is untouched). */
  skipped: string[];
}

const key = (containerID: string, ifname: string) => `${containerID}\u0000${ifname}`;

export async function cmdGc(conf: NetConf): Promise<GcSummary> {
  const valid = new Set((conf.validAttachments ?? []).map((a) => key(a.containerID, a.ifname)));
  const validVeths = new Set((conf.validAttachments ?? []).map((a) => hostVethName(a.containerID, a.ifname)));
  const pins = new PinLayout(conf.bpffs, conf.nodeName);
  const summary: GcSummary = { endpoints: [], handles: [], pins: [], skipped: [] };

  await withDatastore(conf, async (ds) => {
    for (const wep of await ds.list('WorkloadEndpoint')) {
      if (!belongsTo(wep, conf.name, conf.nodeName)) continue;
      const { containerID, interfaceName } = wep.spec;
      if (valid.has(key(containerID, interfaceName))) continue;
      // Only records ADD wrote (named as ADD names them) and only the veth this plugin would have made for that
      // container: a record naming any other interface (hostInterface: eth0, written by hand or by a hostile
      // tenant) must never make GC delete it, nor may a record reach the veth of an attachment still in use.
      if (wep.metadata.name !== workloadEndpointName(conf.nodeName, containerID, interfaceName)) {
        summary.skipped.push(`${wep.metadata.name}: not the name ADD gives container ${containerID} interface ${interfaceName}, left alone`);
        continue;
      }
      const ours = hostVethName(containerID, interfaceName);
      if (validVeths.has(ours)) {
        summary.skipped.push(`${wep.metadata.name}: veth ${ours} belongs to an attachment still in use, left alone`);
        continue;
      }
      if (wep.spec.hostInterface !== ours) {
        summary.skipped.push(`${wep.metadata.name}: hostInterface ${JSON.stringify(wep.spec.hostInterface)} is not ${ours}, left alone`);
      }
      releaseAttachmentDataplane(pins, ours);
      await ds.delete('WorkloadEndpoint', wep.metadata.name);
      summary.endpoints.push(wep.metadata.name);
    }

    const stale = new Set<string>();
    for (const block of await ds.list('IPAMBlock')) {
      if (block.spec.node !== conf.nodeName) continue;
      for (const a of Object.values(block.spec.allocations)) {
        const at = a.attributes;
        if (!at || at.network !== conf.name || at.node !== conf.nodeName || !at.containerID || !at.ifname) continue;
        if (a.handle !== ipamHandle(conf.name, at.containerID, at.ifname)) continue;
        if (!valid.has(key(at.containerID, at.ifname))) stale.add(a.handle);
      }
    }
    for (const handle of stale) {
      await releaseByHandle(ds, handle, conf.nodeName);
      summary.handles.push(handle);
    }
  });

  // Link pins whose veth is gone (netns deleted without DEL) keep nothing attached but still clutter bpffs.
  let entries: string[] = [];
  try {
    entries = readdirSync(pins.linksDir);
  } catch {
    // no links directory yet: nothing was ever attached
  }
  for (const entry of entries) {
    if (!entry.startsWith('wl-')) continue;
    const veth = entry.slice(3);
    if (!isHostVethName(veth)) continue;
    if (linkInfo(veth)) continue;
    detachWorkloadProgram(pins, veth);
    summary.pins.push(entry);
  }
  return summary;
}
