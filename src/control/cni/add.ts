// SPDX-License-Identifier: Apache-2.0
// CNI ADD: veth pair, an address from the node's block (or the one the runtime asked for), container and host
// routing, the workload BPF program on the host veth, and the WorkloadEndpoint record the agent turns into a
// LOCAL_WORKLOAD route. A container may hold several attachments: only the first takes the default route.
import { existsSync } from 'node:fs';
import { PinLayout } from '../node/pins.js';
import { AlreadyExistsError, type Datastore } from '../datastore/types.js';
// The IPAM modules ADD uses, not ipam/index.js: the plugin starts once per ADD, so it loads only what ADD runs.
import { assignAddress, releaseByHandle } from '../ipam/allocate.js';
import { assignRequestedAddress, RequestedAddressError } from '../ipam/request.js';
import { IpamError, IpamExhaustedError, type AssignRequest, type Assignment } from '../ipam/types.js';
import { parseCidr } from '../model/cidr.js';
import type { IPPool, Node } from '../model/types.js';
import { selects } from '../selector/matcher.js';
import { waitForWorkloadAttachment } from './attach.js';
import type { NetConf } from './config.js';
import { podIdentity, type CniEnv } from './env.js';
import { CniCode, CniError } from './errors.js';
import { workloadMtu } from './mtu.js';
import { hostVethName, ipamHandle, workloadEndpointName } from './names.js';
import {
  configureContainerSide,
  configureHostSide,
  createVeth,
  dataplaneError,
  deleteLink,
  inspectContainer,
  linkExists,
  linkInfo,
  type LinkInfo,
} from './netlink.js';
import { ipsFromCniArgs, requestedAddress } from './requested.js';
import { addResult, type CniResult } from './result.js';
import { withLockPriority } from './priority.js';
import { Rollback } from './rollback.js';
import { withDatastore, workloadEndpoint } from './store.js';

const poolSelectsNode = (pool: IPPool, node: Node): boolean => selects(pool.spec.nodeSelector, node.metadata.labels ?? {});

function step<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw dataplaneError(what, err);
  }
}

/** IPAM failures as the runtime should see them; anything else passes through unchanged. */
async function allocate(ds: Datastore, req: AssignRequest, requested: string | undefined): Promise<Assignment> {
  try {
    if (requested) return await assignRequestedAddress(ds, { ...req, address: requested });
    return await assignAddress(ds, req, poolSelectsNode);
  } catch (err) {
    if (err instanceof RequestedAddressError) throw new CniError(CniCode.AddressUnavailable, err.message);
    if (err instanceof IpamExhaustedError) throw new CniError(CniCode.AddressExhausted, err.message);
    if (err instanceof IpamError) throw new CniError(CniCode.DatastoreFailure, `IPAM: ${err.message}`);
    throw err;
  }
}

async function poolCidr(ds: Datastore, pool: string): Promise<string> {
  const found = await ds.get('IPPool', pool);
  if (!found) throw new CniError(CniCode.TryAgainLater, `IPPool "${pool}" vanished while its address was being assigned`);
  // Stored CIDRs may carry host bits; ip wants the network.
  return parseCidr(found.spec.cidr)?.network ?? found.spec.cidr;
}

function mustHave(link: LinkInfo | undefined, what: string): LinkInfo {
  if (!link) throw new CniError(CniCode.DataplaneFailure, `${what} vanished right after it was created`);
  return link;
}

export async function cmdAdd(env: CniEnv, conf: NetConf): Promise<CniResult> {
  const netns = env.netns!;
  if (!existsSync(netns)) throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS: ${netns} does not exist`);
  const pins = new PinLayout(conf.bpffs, conf.nodeName);
  const hostIfname = hostVethName(env.containerId, env.ifname);
  const wepName = workloadEndpointName(conf.nodeName, env.containerId, env.ifname);
  const handle = ipamHandle(conf.name, env.containerId, env.ifname);
  const { pod, namespace } = podIdentity(env.args);
  const requested = requestedAddress(ipsFromCniArgs(env.args), conf.runtimeIps);

  return withDatastore(conf, async (ds: Datastore) => {
    const already = `container ${env.containerId} interface ${env.ifname} is already attached`;
    if (await ds.get('WorkloadEndpoint', wepName)) {
      throw new CniError(CniCode.AlreadyAttached, `${already} (WorkloadEndpoint ${wepName} exists); DEL it first`);
    }
    if (linkExists(hostIfname)) throw new CniError(CniCode.AlreadyAttached, `${already} (host veth ${hostIfname} exists)`);
    if (step('inspect CNI_NETNS', () => linkInfo(env.ifname, netns))) {
      throw new CniError(CniCode.AlreadyAttached, `an interface ${env.ifname} already exists in ${netns}`);
    }
    if (!(await ds.get('Node', conf.nodeName))) {
      throw new CniError(
        CniCode.TryAgainLater,
        `Node "${conf.nodeName}" is not registered in the datastore yet (the agent registers it on start)`,
      );
    }
    const mtu = await workloadMtu(ds, conf.nodeName, conf.mtu);

    const rollback = new Rollback();
    try {
      // The veth is created first: its name is the exclusive claim on this container+interface, so nothing this
      // invocation undoes can belong to a concurrent ADD of the same attachment.
      step(`create veth ${hostIfname} <-> ${env.ifname} in ${netns}`, () => createVeth(hostIfname, netns, env.ifname, mtu));
      rollback.push(`delete veth ${hostIfname}`, () => deleteLink(hostIfname));

      const request: AssignRequest = {
        node: conf.nodeName,
        handle,
        pool: conf.ipPool,
        ...(namespace ? { namespace } : {}),
        attributes: {
          network: conf.name,
          node: conf.nodeName,
          containerID: env.containerId,
          ifname: env.ifname,
          ...(pod ? { pod } : {}),
          ...(namespace ? { namespace } : {}),
        },
      };
      // Under the store's write lock (SQLite): at a priority that keeps the critical section short on a busy node.
      const assignment = await withLockPriority(() => allocate(ds, request, requested));
      rollback.push(`release ${assignment.address} (handle ${handle})`, () => releaseByHandle(ds, handle, conf.nodeName));

      const hostSide = `configure host veth ${hostIfname} and route ${assignment.address}/32 via it`;
      const host = mustHave(step(hostSide, () => configureHostSide(hostIfname, assignment.address)), `host veth ${hostIfname}`);
      const cidr = await poolCidr(ds, assignment.pool);
      // Read once: configuring addresses, routes and the link state leaves the index and the MAC as they are.
      const { link: container, route, staleRulePriorities } = step(`inspect ${env.ifname} and routes in ${netns}`, () =>
        inspectContainer(netns, env.ifname, assignment.address, cidr),
      );
      step(`configure ${env.ifname} in ${netns}`, () =>
        configureContainerSide(netns, env.ifname, container.ifindex, assignment.address, host.mac, route, staleRulePriorities),
      );

      const endpoint = workloadEndpoint(wepName, conf.name, {
        node: conf.nodeName,
        containerID: env.containerId,
        interfaceName: env.ifname,
        hostInterface: hostIfname,
        hostIfindex: host.ifindex,
        hostMac: host.mac,
        mac: container.mac,
        ipNetworks: [`${assignment.address}/32`],
        pool: assignment.pool,
        ...(pod ? { pod } : {}),
        ...(namespace ? { namespace } : {}),
        netns,
      });
      try {
        await withLockPriority(() => ds.create(endpoint));
      } catch (err) {
        if (err instanceof AlreadyExistsError) throw new CniError(CniCode.AlreadyAttached, `${already} (raced)`);
        throw err;
      }
      rollback.push(`delete WorkloadEndpoint ${wepName}`, () => ds.delete('WorkloadEndpoint', wepName));
      // The agent attaches the data path on the WorkloadEndpoint's arrival; the workload is ready once it has.
      await waitForWorkloadAttachment(pins, hostIfname);

      return addResult(
        conf.cniVersion,
        {
          hostIfname,
          hostMac: host.mac,
          containerIfname: env.ifname,
          containerMac: container.mac,
          netns,
          address: assignment.address,
          mtu,
          routeDst: route.kind === 'default' ? '0.0.0.0/0' : route.cidr,
        },
        conf.dns,
      );
    } catch (err) {
      const failures = await rollback.unwind();
      if (failures.length > 0 && err instanceof CniError) {
        throw new CniError(err.code, err.message, `rollback incomplete: ${failures.join('; ')}`);
      }
      throw err;
    }
  });
}
