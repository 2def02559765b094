// SPDX-License-Identifier: Apache-2.0
// openDatastore(url): the single entry point the agent, CNI plugin and CLI use to reach the store.
//   sqlite:///abs/path.db                       one machine, several processes
//   etcd://host:port[,host:port]                etcd v3 cluster, plaintext
//   etcd+https://host:port?ca=/f&cert=/f&key=/f etcd v3 over TLS (files may instead come from options)
import path from 'node:path';
import type { EtcdOptions } from './etcd.js';
import { SqliteDatastore, type SqliteOptions } from './sqlite.js';
import { DatastoreError, type Datastore } from './types.js';

export * from './types.js';
export { ETCD_DEFAULT_MAX_TXN_OPS, ETCD_PREFIX } from './etcd-constants.js';

export const DEFAULT_DATASTORE_URL = 'sqlite:///var/lib/bpf-overlay/store.db';

export interface OpenOptions extends SqliteOptions, EtcdOptions {}

export async function openDatastore(url: string = DEFAULT_DATASTORE_URL, opts: OpenOptions = {}): Promise<Datastore> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (!scheme) {
    throw new DatastoreError(`datastore URL "${url}" is not a URL (expected sqlite:///abs/path.db or etcd://host:port)`);
  }
  switch (`${scheme}:`) {
    case 'sqlite:': {
      const parsed = new URL(url);
      if (parsed.host !== '') {
        throw new DatastoreError(`datastore URL "${url}": sqlite URLs have no host; use sqlite:///absolute/path.db`);
      }
      const file = decodeURIComponent(parsed.pathname);
      if (!path.isAbsolute(file) || file.endsWith('/')) {
        throw new DatastoreError(`datastore URL "${url}": sqlite needs an absolute file path, e.g. sqlite:///var/lib/x.db`);
      }
      return new SqliteDatastore(url, file, opts);
    }
    case 'etcd:':
    case 'etcd+http:':
    case 'etcd+https:': {
      const tls = scheme === 'etcd+https';
      // URL() rejects a comma-separated host list, so split the authority and the query ourselves.
      const afterScheme = url.slice(url.indexOf('//') + 2);
      const authority = afterScheme.split(/[/?#]/)[0];
      const query = new URLSearchParams(afterScheme.includes('?') ? afterScheme.slice(afterScheme.indexOf('?') + 1) : '');
      const hosts = authority.split(',').filter((h) => h.length > 0);
      if (hosts.length === 0 || hosts.some((h) => !/^[^:\s]+:\d+$/.test(h) && !/^\[[0-9a-f:]+\]:\d+$/i.test(h))) {
        throw new DatastoreError(`datastore URL "${url}": etcd endpoints must be host:port[,host:port]`);
      }
      const caFile = query.get('ca') ?? opts.caFile;
      if (tls && !caFile) {
        throw new DatastoreError(`datastore URL "${url}": etcd+https needs a CA file (?ca=/path or the caFile option)`);
      }
      const transport = tls ? 'https' : 'http';
      // Loaded on demand: the etcd client (gRPC, protobuf) costs a third of a second of start-up that the
      // SQLite default, the CLI and the CNI plugin should not pay.
      const { EtcdDatastore } = await import('./etcd.js');
      return new EtcdDatastore(
        url,
        hosts.map((h) => `${transport}://${h}`),
        {
          ...opts,
          caFile: tls ? caFile : undefined,
          certFile: query.get('cert') ?? opts.certFile,
          keyFile: query.get('key') ?? opts.keyFile,
        },
      );
    }
    default:
      throw new DatastoreError(
        `datastore URL "${url}" has unsupported scheme "${scheme}:" (supported: sqlite:, etcd:, etcd+https:)`,
      );
  }
}
