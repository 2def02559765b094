// The plugin's side of the datastore: connect (unreachable means "try again later"), and the WorkloadEndpoint
// record that tells the node's agent a workload exists.
import { openDatastore } from '../datastore/index.js';
import { DatastoreError, type Datastore } from '../datastore/types.js';
import { API_VERSION, type WorkloadEndpoint, type WorkloadEndpointSpec } from '../model/types.js';
import type { NetConf } from './config.js';
import { CniCode, CniError, datastoreFailureCode } from './errors.js';
import { NETWORK_ANNOTATION } from './names.js';

export async function withDatastore<T>(conf: NetConf, fn: (ds: Datastore) => Promise<T>): Promise<T> {
  let ds: Datastore;
  try {
    ds = await openDatastore(conf.datastore);
    await ds.revision();
  } catch (err) {
    throw new CniError(CniCode.TryAgainLater, `datastore ${conf.datastore} is not reachable: ${(err as Error).message}`);
  }
  try {
    return await fn(ds);
  } catch (err) {
    if (err instanceof DatastoreError) {
      throw new CniError(datastoreFailureCode(err), `datastore ${conf.datastore}: ${err.message}`);
    }
    throw err;
  } finally {
    await ds.close();
  }
}

export function workloadEndpoint(name: string, network: string, spec: WorkloadEndpointSpec): WorkloadEndpoint {
  return {
    apiVersion: API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: { name, annotations: { [NETWORK_ANNOTATION]: network } },
    spec,
  };
}

export function belongsTo(wep: WorkloadEndpoint, network: string, node: string): boolean {
  return wep.spec.node === node && wep.metadata.annotations?.[NETWORK_ANNOTATION] === network;
}
