// SPDX-License-Identifier: Apache-2.0
// Where one node's BIRD keeps its files: the rendered configuration, the control socket and the pid file, in a
// per-node directory of the agent's state directory, so that several agents (one per network namespace) can
// share a machine, and `status` and `unload` find the socket from the node name alone.
import { join } from 'node:path';

export const DEFAULT_STATE_DIR = '/run/bpf-overlay';

export class BirdPaths {
  readonly dir: string;
  constructor(
    readonly node: string,
    stateDir = process.env.BPF_OVERLAY_STATE_DIR ?? DEFAULT_STATE_DIR,
  ) {
    this.dir = join(stateDir, node);
  }

  get config(): string {
    return join(this.dir, 'bird.conf');
  }

  get socket(): string {
    return join(this.dir, 'bird.ctl');
  }

  get pidFile(): string {
    return join(this.dir, 'bird.pid');
  }
}
