// SPDX-License-Identifier: Apache-2.0
import { unloadNode } from '../../agent/agent.js';
import { BirdPaths, stopStaleBird } from '../../bgp/index.js';
import { DEFAULT_BPFFS, PinLayout } from '../../node/pins.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { UsageError } from '../output.js';

export const unloadCommand: Command = {
  name: 'unload',
  summary: "detach a node's programs and remove its pins, nftables table and routes (stop its agent first)",
  usage: 'unload --node NAME [--bpffs DIR]',
  options: { node: { type: 'string' }, bpffs: { type: 'string' } },
  async run(args, ctx) {
    const node = stringOption(args, 'node');
    if (!node) throw new UsageError('--node NAME is required');
    const pins = new PinLayout(stringOption(args, 'bpffs') ?? DEFAULT_BPFFS, node);
    const { detachedLinks } = unloadNode(pins, ctx.logger);
    const bird = await stopStaleBird(new BirdPaths(node));
    ctx.stdout(`node ${node}: ${detachedLinks} link(s) detached, ${pins.root} removed, nftables table and routes removed${bird ? `, bird ${bird} stopped` : ''}\n`);
    return 0;
  },
};
