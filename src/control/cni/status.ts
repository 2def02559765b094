// SPDX-License-Identifier: Apache-2.0
// CNI STATUS (1.1.0): can this plugin add workloads right now? It can when the datastore answers and the
// node's agent has pinned the workload program.
import { existsSync } from 'node:fs';
import { PinLayout } from '../node/pins.js';
import type { NetConf } from './config.js';
import { CniCode, CniError } from './errors.js';
import { withDatastore } from './store.js';

export async function cmdStatus(conf: NetConf): Promise<void> {
  try {
    await withDatastore(conf, async () => undefined);
  } catch (err) {
    throw new CniError(CniCode.PluginNotAvailable, (err as Error).message);
  }
  const program = new PinLayout(conf.bpffs, conf.nodeName).program('from_workload');
  if (!existsSync(program)) {
    throw new CniError(CniCode.PluginNotAvailable, `no workload program pinned at ${program}: the node's agent is not running`);
  }
}
