// SPDX-License-Identifier: Apache-2.0
// The plugin's side of the datastore: connect (unreachable means "try again later"), and the WorkloadEndpoint
// record that tells the node's agent a workload exists.
import { openDatastore } from '../datastore/index.js';
import { DatastoreError, type Datastore } from '../datastore/types.js';
import { API_VERSION, type WorkloadEndpoint, type WorkloadEndpointSpec } from '../model/types.js';
import type { NetConf } from './config.js';
import { CniCode, CniError, looksLikeTimeout } from './errors.js';
import { NETWORK_ANNOTATION } from './names.js';

/**
 * How long the datastore may take to answer the first request. A store that accepts connections and never
 * answers would otherwise hold the runtime's call forever; after this the runtime hears "try again later".
 */
export const DATASTORE_ANSWER_MS = 10_000;

/** Closing must not hold the answer hostage either: a wedged client is abandoned (the process exits anyway). */
const CLOSE_WAIT_MS = 1_000;

function within<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

async function closeQuietly(ds: Datastore): Promise<void> {
  await within(ds.close(), CLOSE_WAIT_MS, () => new Error('close timed out')).catch(() => undefined);
}

/** A datastore failure as the runtime should see it: 11 (try again later) when it timed out, else 103. */
export function datastoreCniError(url: string, err: unknown): CniError {
  const message = (err as Error)?.message ?? String(err);
  if (looksLikeTimeout(err)) return new CniError(CniCode.TryAgainLater, `datastore ${url} did not answer in time, try again later: ${message}`);
  return new CniError(CniCode.DatastoreFailure, `datastore ${url}: ${message}`);
}

export async function withDatastore<T>(conf: NetConf, fn: (ds: Datastore) => Promise<T>): Promise<T> {
  let opened: Datastore | undefined;
  let ds: Datastore;
  try {
    // Opening loads the client and contacts nothing; the deadline is the store's answer alone. Loading etcd's
    // client costs ~0.2 s of CPU, seconds when fifty plugins start at once on two cores: counted, it failed
    // ADDs whose store was answering in milliseconds.
    opened = await openDatastore(conf.datastore);
    await within(
      opened.revision(),
      DATASTORE_ANSWER_MS,
      () => new CniError(CniCode.TryAgainLater, `datastore ${conf.datastore} did not answer within ${DATASTORE_ANSWER_MS / 1000} s; try again later`),
    );
    ds = opened;
  } catch (err) {
    if (opened) await closeQuietly(opened);
    if (err instanceof CniError) throw err;
    // Whatever kept the store from answering (refused, unreachable, its own call deadline) may pass: code 11.
    const what = looksLikeTimeout(err) ? 'did not answer in time' : 'is not reachable';
    throw new CniError(CniCode.TryAgainLater, `datastore ${conf.datastore} ${what}, try again later: ${(err as Error).message}`);
  }
  try {
    return await fn(ds);
  } catch (err) {
    if (err instanceof CniError) throw err;
    if (err instanceof DatastoreError || looksLikeTimeout(err)) throw datastoreCniError(conf.datastore, err);
    throw err;
  } finally {
    await closeQuietly(ds);
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
