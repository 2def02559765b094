// SPDX-License-Identifier: Apache-2.0
// The address a runtime asks for: `IP=` in CNI_ARGS (podman --ip, Calico's form) and the `ips` capability
// (runtimeConfig.ips, from the CNI conventions). Both name the same thing when a runtime sends both (podman
// does), so they must agree. One IPv4 address per interface: that is what an attachment carries here.
import { formatIPv4, parseCidr, parseIp } from '../model/cidr.js';
import { CniCode, CniError } from './errors.js';

interface Source {
  /** How the runtime passed it, for messages: `CNI_ARGS IP` or `runtimeConfig.ips`. */
  name: string;
  code: number;
  values: string[];
}

/** "10.0.0.5" or, as the `ips` capability allows, "10.0.0.5/24" (the prefix is not used: workloads get a /32). */
function parseOne(source: Source, value: string): string {
  const text = value.trim();
  const ip = text.includes('/') ? parseCidr(text) : parseIp(text);
  if (!ip) {
    throw new CniError(source.code, `${source.name}: ${JSON.stringify(value)} is not an IP address (expected A.B.C.D or A.B.C.D/N)`);
  }
  if (ip.family !== 4) {
    throw new CniError(source.code, `${source.name}: ${JSON.stringify(value)} is IPv6; bpf-overlay serves IPv4 pools only`);
  }
  return formatIPv4(Number('addr' in ip ? ip.addr : ip.value));
}

function addressOf(source: Source): string | undefined {
  const addresses = [...new Set(source.values.map((v) => parseOne(source, v)))];
  if (addresses.length > 1) {
    throw new CniError(
      source.code,
      `${source.name}: asks for ${addresses.join(', ')}; one IPv4 address per interface is supported (attach another interface for another address)`,
    );
  }
  return addresses[0];
}

/** CNI_ARGS `IP=A.B.C.D` (also a comma-separated list, as some runtimes write it). */
export function ipsFromCniArgs(args: Record<string, string>): string[] {
  const value = args.IP;
  if (value === undefined || value === '') return [];
  return value.split(',').filter((v) => v.trim() !== '');
}

/** The one address asked for, dotted, or undefined when the runtime asked for none. */
export function requestedAddress(cniArgsIps: string[], runtimeConfigIps: string[] = []): string | undefined {
  const fromArgs = addressOf({ name: 'CNI_ARGS IP', code: CniCode.InvalidEnvironment, values: cniArgsIps });
  const fromConfig = addressOf({ name: 'runtimeConfig.ips', code: CniCode.InvalidConfig, values: runtimeConfigIps });
  if (fromArgs && fromConfig && fromArgs !== fromConfig) {
    throw new CniError(
      CniCode.InvalidConfig,
      `CNI_ARGS IP=${fromArgs} and runtimeConfig.ips ${fromConfig} ask for different addresses; pass one of them`,
    );
  }
  return fromArgs ?? fromConfig;
}
