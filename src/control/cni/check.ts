// SPDX-License-Identifier: Apache-2.0
// CNI CHECK: the attachment still looks the way ADD left it, both as recorded and as the runtime remembers it
// (prevResult). Every mismatch found is reported, not just the first.
import { PinLayout } from '../node/pins.js';
import { addressesOfHandle } from '../ipam/index.js';
import { workloadLinkPinned } from './attach.js';
import type { NetConf } from './config.js';
import type { CniEnv } from './env.js';
import { CniCode, CniError } from './errors.js';
import { hostVethName, ipamHandle, workloadEndpointName } from './names.js';
import { GATEWAY, ipv4Addresses, linkInfo, linkNames, permanentNeighbour, routes, sourceRules, sourceTable } from './netlink.js';
import { withDatastore } from './store.js';

function prevResultAddresses(prev: Record<string, unknown>): string[] {
  const ips = prev.ips;
  if (!Array.isArray(ips)) return [];
  return ips.map((i) => (i as { address?: unknown }).address).filter((a): a is string => typeof a === 'string');
}

/** The destinations prevResult says this plugin routed through the interface. */
function prevResultRoutes(prev: Record<string, unknown>): string[] {
  const list = prev.routes;
  if (!Array.isArray(list)) return [];
  return list.map((r) => (r as { dst?: unknown }).dst).filter((d): d is string => typeof d === 'string');
}

export async function cmdCheck(env: CniEnv, conf: NetConf): Promise<void> {
  if (!conf.prevResult) {
    throw new CniError(CniCode.InvalidConfig, 'network config field "prevResult" is required for CHECK');
  }
  const netns = env.netns!;
  const hostIfname = hostVethName(env.containerId, env.ifname);
  const wepName = workloadEndpointName(conf.nodeName, env.containerId, env.ifname);
  const problems: string[] = [];

  await withDatastore(conf, async (ds) => {
    const wep = await ds.get('WorkloadEndpoint', wepName);
    if (!wep) {
      problems.push(`WorkloadEndpoint ${wepName} is not in the datastore`);
      return;
    }
    const held = (await addressesOfHandle(ds, ipamHandle(conf.name, env.containerId, env.ifname), conf.nodeName)).map((a) => `${a.address}/32`);
    for (const net of wep.spec.ipNetworks) {
      if (!held.includes(net)) problems.push(`IPAM does not hold ${net} for this container`);
    }
    const prev = prevResultAddresses(conf.prevResult!);
    for (const net of wep.spec.ipNetworks) {
      if (!prev.includes(net)) problems.push(`prevResult does not list ${net}`);
    }

    const host = linkInfo(hostIfname);
    if (!host) problems.push(`host veth ${hostIfname} is missing`);
    else {
      if (host.ifindex !== wep.spec.hostIfindex) problems.push(`host veth ${hostIfname} has ifindex ${host.ifindex}, recorded ${wep.spec.hostIfindex}`);
      if (host.mac !== wep.spec.hostMac) problems.push(`host veth ${hostIfname} has MAC ${host.mac}, recorded ${wep.spec.hostMac}`);
      if (!host.up) problems.push(`host veth ${hostIfname} is down`);
      const hostRoutes = routes(undefined, ['dev', hostIfname]);
      for (const net of wep.spec.ipNetworks) {
        const dst = net.replace(/\/32$/, '');
        if (!hostRoutes.some((r) => r.dst === dst || r.dst === net)) problems.push(`host route ${net} dev ${hostIfname} is missing`);
      }
      if (!workloadLinkPinned(new PinLayout(conf.bpffs, conf.nodeName), hostIfname)) {
        problems.push(`workload program link of ${hostIfname} is not pinned`);
      }
    }

    const container = linkInfo(env.ifname, netns);
    if (!container) {
      problems.push(`${env.ifname} is missing in ${netns}`);
      return;
    }
    if (container.mac !== wep.spec.mac) problems.push(`${env.ifname} has MAC ${container.mac}, recorded ${wep.spec.mac}`);
    if (!container.up) problems.push(`${env.ifname} is down`);
    const addrs = ipv4Addresses(env.ifname, netns);
    for (const net of wep.spec.ipNetworks) if (!addrs.includes(net)) problems.push(`${env.ifname} lacks address ${net}`);
    const nsRoutes = routes(netns, ['dev', env.ifname]);
    // The first attachment routes everything through the gateway; a further one only its pool (see netlink.ts).
    const poolRoute = prevResultRoutes(conf.prevResult!).find((dst) => dst !== '0.0.0.0/0');
    if (poolRoute) {
      if (!nsRoutes.some((r) => r.dst === poolRoute && r.gateway === GATEWAY)) problems.push(`route ${poolRoute} via ${GATEWAY} is missing`);
    } else {
      if (!nsRoutes.some((r) => r.dst === GATEWAY && r.scope === 'link')) problems.push(`route ${GATEWAY} scope link is missing`);
      if (!nsRoutes.some((r) => r.dst === 'default' && r.gateway === GATEWAY)) problems.push(`default route via ${GATEWAY} is missing`);
    }
    // The source rule matters once the container has another interface (attachments made before such rules
    // existed have none, and alone they need none).
    const others = linkNames(netns).filter((name) => name !== 'lo' && name !== env.ifname);
    for (const net of others.length > 0 ? wep.spec.ipNetworks : []) {
      const address = net.split('/')[0];
      const table = String(sourceTable(container.ifindex));
      if (!sourceRules(netns, address).some((r) => r.table === table)) problems.push(`rule from ${address} lookup ${table} is missing`);
    }
    const gwMac = permanentNeighbour(netns, env.ifname, GATEWAY);
    if (gwMac !== wep.spec.hostMac) {
      problems.push(`permanent neighbour ${GATEWAY} -> ${wep.spec.hostMac} is ${gwMac ? `-> ${gwMac}` : 'missing'}`);
    }
  });

  if (problems.length > 0) {
    throw new CniError(
      CniCode.CheckFailed,
      `container ${env.containerId} interface ${env.ifname}: ${problems.length} problem(s): ${problems.join('; ')}`,
    );
  }
}
