// SPDX-License-Identifier: Apache-2.0
// The network configuration the runtime writes to stdin. Only the fields bpf-overlay reads are checked (of
// runtimeConfig, only the `ips` capability); others (capabilities, ipam, fields a runtime adds) are left alone,
// as chained plugins expect.
import { hostname } from 'node:os';
import { isAbsolute } from 'node:path';
import { DEFAULT_BPFFS } from '../node/pins.js';
import { isDns1123Subdomain } from '../validation/dns-name.js';
import { CniCode, CniError } from './errors.js';

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface DnsConfig {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  datastore: string;
  nodeName: string;
  ipPool?: string;
  mtu?: number;
  bpffs: string;
  dns?: DnsConfig;
  /** The result of the previous plugin (or of our own ADD, for CHECK). */
  prevResult?: Record<string, unknown>;
  /** GC only: the attachments the runtime still uses. */
  validAttachments?: Attachment[];
  /** The `ips` capability (runtimeConfig.ips): addresses the runtime asks for, as written. */
  runtimeIps?: string[];
}

function configError(field: string, value: unknown, problem: string): CniError {
  return new CniError(CniCode.InvalidConfig, `network config field "${field}" ${problem} (got ${JSON.stringify(value)})`);
}

export function decodeConfig(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(CniCode.DecodeFailure, `network config on stdin is not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(CniCode.DecodeFailure, 'network config on stdin must be a JSON object');
  }
  return raw as Record<string, unknown>;
}

function requiredString(raw: Record<string, unknown>, field: string): string {
  const v = raw[field];
  if (v === undefined || v === null || v === '') throw configError(field, v, 'is required');
  if (typeof v !== 'string') throw configError(field, v, 'must be a string');
  return v;
}

function optionalString(raw: Record<string, unknown>, field: string): string | undefined {
  const v = raw[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw configError(field, v, 'must be a string');
  return v;
}

const DATASTORE_SCHEMES = ['sqlite:', 'etcd:', 'etcd+http:', 'etcd+https:'];

function checkDatastoreUrl(url: string): void {
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    throw configError('datastore', url, 'must be a URL such as sqlite:///var/lib/bpf-overlay/store.db or etcd://host:2379');
  }
  if (!DATASTORE_SCHEMES.includes(scheme)) {
    throw configError('datastore', url, `has unsupported scheme "${scheme}" (one of ${DATASTORE_SCHEMES.join(', ')})`);
  }
}

function parseAttachments(v: unknown): Attachment[] {
  const field = 'cni.dev/valid-attachments';
  if (!Array.isArray(v)) throw configError(field, v, 'must be a list of {"containerID","ifname"} (GC needs it)');
  return v.map((a, i) => {
    const o = a as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.containerID !== 'string' || typeof o.ifname !== 'string') {
      throw configError(`${field}[${i}]`, a, 'must be {"containerID": string, "ifname": string}');
    }
    return { containerID: o.containerID, ifname: o.ifname };
  });
}

/** The `ips` capability: libcni passes runtimeConfig.ips only to plugins whose conflist entry declares it. */
function parseRuntimeIps(runtimeConfig: unknown): string[] | undefined {
  if (runtimeConfig === undefined || runtimeConfig === null) return undefined;
  if (typeof runtimeConfig !== 'object' || Array.isArray(runtimeConfig)) {
    throw configError('runtimeConfig', runtimeConfig, 'must be an object');
  }
  const ips = (runtimeConfig as Record<string, unknown>).ips;
  if (ips === undefined || ips === null) return undefined;
  if (!Array.isArray(ips) || !ips.every((ip) => typeof ip === 'string')) {
    throw configError('runtimeConfig.ips', ips, 'must be a list of addresses such as ["10.244.1.5/32"]');
  }
  return ips as string[];
}

/** Network name rule of the spec: alphanumerics plus "_", "-" and ".", starting alphanumeric. */
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function parseNetConf(raw: Record<string, unknown>, opts: { gc?: boolean } = {}): NetConf {
  const cniVersion = requiredString(raw, 'cniVersion');
  const name = requiredString(raw, 'name');
  if (!NETWORK_NAME.test(name)) throw configError('name', name, 'must be alphanumerics, "_", "-" or "."');
  const type = requiredString(raw, 'type');
  const datastore = requiredString(raw, 'datastore');
  checkDatastoreUrl(datastore);

  // Calico's fallback: without nodeName the plugin runs on the node named like the host.
  const nodeName = optionalString(raw, 'nodeName') ?? hostname().toLowerCase();
  if (!isDns1123Subdomain(nodeName)) throw configError('nodeName', nodeName, 'must be a node name (a DNS-1123 subdomain)');

  const ipPool = optionalString(raw, 'ipPool');
  if (ipPool !== undefined && !isDns1123Subdomain(ipPool)) throw configError('ipPool', ipPool, 'must name an IPPool');

  let mtu: number | undefined;
  if (raw.mtu !== undefined && raw.mtu !== null && raw.mtu !== 0) {
    if (typeof raw.mtu !== 'number' || !Number.isInteger(raw.mtu) || raw.mtu < 68 || raw.mtu > 65535) {
      throw configError('mtu', raw.mtu, 'must be an integer from 68 to 65535');
    }
    mtu = raw.mtu;
  }

  const bpffs = optionalString(raw, 'bpffs') ?? DEFAULT_BPFFS;
  if (!isAbsolute(bpffs)) throw configError('bpffs', bpffs, 'must be an absolute directory');

  let dns: DnsConfig | undefined;
  if (raw.dns !== undefined && raw.dns !== null) {
    if (typeof raw.dns !== 'object' || Array.isArray(raw.dns)) throw configError('dns', raw.dns, 'must be an object');
    dns = raw.dns as DnsConfig;
  }

  let prevResult: Record<string, unknown> | undefined;
  if (raw.prevResult !== undefined && raw.prevResult !== null) {
    if (typeof raw.prevResult !== 'object' || Array.isArray(raw.prevResult)) {
      throw configError('prevResult', raw.prevResult, 'must be an object');
    }
    prevResult = raw.prevResult as Record<string, unknown>;
  }

  const runtimeIps = parseRuntimeIps(raw.runtimeConfig);

  const conf: NetConf = { cniVersion, name, type, datastore, nodeName, ipPool, mtu, bpffs, dns, prevResult };
  if (runtimeIps) conf.runtimeIps = runtimeIps;
  if (opts.gc) conf.validAttachments = parseAttachments(raw['cni.dev/valid-attachments']);
  return conf;
}
