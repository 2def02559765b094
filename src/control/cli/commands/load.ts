import { Agent } from '../../agent/agent.js';
import { DEFAULT_BPFFS } from '../../agent/pins.js';
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

export const loadCommand: Command = {
  name: 'load',
  summary: 'run the node agent in the foreground: load and attach the data path, keep it in sync',
  usage:
    'load --node NAME [--uplink IFACE] [--address A.B.C.D/N] [--xdp [--force-xdp]] [--bpffs DIR] [--health-addr HOST:PORT] [--metrics-addr HOST:PORT]',
  options: {
    node: { type: 'string' },
    uplink: { type: 'string' },
    address: { type: 'string' },
    xdp: { type: 'boolean' },
    'force-xdp': { type: 'boolean' },
    bpffs: { type: 'string' },
    'health-addr': { type: 'string' },
    'metrics-addr': { type: 'string' },
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
    });
    await agent.start();
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    ctx.logger.info({ signal }, 'stopping');
    await agent.stop();
    return 0;
  },
};
