// SPDX-License-Identifier: Apache-2.0
import { Agent } from '../../agent/agent.js';
import { DEFAULT_BPFFS } from '../../node/pins.js';
import type { Command } from '../command.js';
import { boolOption, stringOption } from '../command.js';
import { UsageError } from '../output.js';
import { canonicalCidrText, parseCidr } from '../../model/cidr.js';

/** The node address with its prefix, read by the one CIDR parser and returned in the canonical form stored. */
export function checkAddressFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const cidr = parseCidr(value);
  if (!cidr || cidr.family !== 4) {
    throw new UsageError(`--address: '${value}' is not A.B.C.D/N (the node address with its subnet prefix)`);
  }
  return canonicalCidrText(value)!;
}

/** A map capacity flag: a positive integer, used when the agent creates the map (a pinned map keeps its own). */
function capacityFlag(args: Parameters<Command['run']>[0], flag: 'max-routes' | 'max-known-nodes'): number | undefined {
  const value = stringOption(args, flag);
  if (value === undefined) return undefined;
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new UsageError(`--${flag}: '${value}' is not a positive integer (entries)`);
  return Number(value);
}

export const loadCommand: Command = {
  name: 'load',
  summary: 'run the node agent in the foreground: load and attach the data path, keep it in sync',
  usage:
    'load --node NAME [--uplink IFACE] [--address A.B.C.D/N] [--xdp [--force-xdp]] [--bpffs DIR] [--health-addr HOST:PORT] [--metrics-addr HOST:PORT] [--max-routes N] [--max-known-nodes N] [--skip-bgp-readiness] [--no-next-hop-macs]',
  options: {
    node: { type: 'string' },
    uplink: { type: 'string' },
    address: { type: 'string' },
    xdp: { type: 'boolean' },
    'force-xdp': { type: 'boolean' },
    bpffs: { type: 'string' },
    'health-addr': { type: 'string' },
    'metrics-addr': { type: 'string' },
    'max-routes': { type: 'string' },
    'max-known-nodes': { type: 'string' },
    'skip-bgp-readiness': { type: 'boolean' },
    'no-next-hop-macs': { type: 'boolean' },
  },
  async run(args, ctx) {
    const node = stringOption(args, 'node');
    if (!node) throw new UsageError('--node NAME is required');
    const agent = new Agent({
      node,
      uplink: stringOption(args, 'uplink'),
      address: checkAddressFlag(stringOption(args, 'address')),
      xdp: boolOption(args, 'xdp'),
      forceXdp: boolOption(args, 'force-xdp'),
      bpffs: stringOption(args, 'bpffs') ?? DEFAULT_BPFFS,
      datastoreUrl: ctx.datastoreUrl,
      healthAddr: stringOption(args, 'health-addr') ?? '127.0.0.1:9099',
      metricsAddr: stringOption(args, 'metrics-addr') ?? '127.0.0.1:9091',
      logger: ctx.logger,
      capacities: {
        routes: capacityFlag(args, 'max-routes'),
        knownNodes: capacityFlag(args, 'max-known-nodes'),
      },
      bgpReadiness: !boolOption(args, 'skip-bgp-readiness'),
      nextHopMacs: !boolOption(args, 'no-next-hop-macs'),
    });
    await agent.start();
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    ctx.logger.info({ signal }, 'stopping');
    await agent.stop();
    // Nothing is left to do once the agent has stopped, but a library timer can still hold the event loop: etcd3
    // arms a watch-reconnect backoff (up to 30 s, growing while etcd is unreachable) whenever its watch stream
    // errors or is cancelled, and its close() never clears it. Exit as soon as the loop drains, or shortly after.
    setTimeout(() => process.exit(), 100).unref();
    return 0;
  },
};
