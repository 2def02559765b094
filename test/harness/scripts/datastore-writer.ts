// SPDX-License-Identifier: Apache-2.0
// Child process: opens the store at argv[2], waits until wall-clock argv[4] (ms), creates an
// OverlayConfiguration named argv[3] and prints when the write was issued and when the commit returned.
import { openDatastore } from '../../../src/control/datastore/index.js';
import { API_VERSION, type OverlayConfiguration } from '../../../src/control/model/types.js';

const [url, name, startAt] = process.argv.slice(2);
const ds = await openDatastore(url);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const config: OverlayConfiguration = {
  apiVersion: API_VERSION,
  kind: 'OverlayConfiguration',
  metadata: { name },
  spec: { vxlanPort: 4789 },
};
const issuedAt = performance.timeOrigin + performance.now();
const stored = await ds.create(config);
const committedAt = performance.timeOrigin + performance.now();
await ds.close();
console.log(JSON.stringify({ issuedAt, committedAt, revision: Number(stored.metadata.resourceVersion) }));
