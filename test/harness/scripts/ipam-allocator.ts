// SPDX-License-Identifier: Apache-2.0
// Child process: allocates argv[5] workload addresses on node argv[3] (handles "<argv[4]>-<i>") from the store at
// argv[2], starting at wall-clock argv[6] so that all workers contend at once; every pool selects every node.
import { openDatastore } from '../../../src/control/datastore/index.js';
import { assignAddress } from '../../../src/control/ipam/index.js';

const [url, node, handlePrefix, count, startAt] = process.argv.slice(2);
const ds = await openDatastore(url);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const addresses: string[] = [];
const started = performance.now();
for (let i = 0; i < Number(count); i++) {
  const a = await assignAddress(ds, { node, handle: `${handlePrefix}-${i}` }, () => true);
  addresses.push(a.address);
}
const elapsedMs = performance.now() - started;
await ds.close();
console.log(JSON.stringify({ addresses, elapsedMs }));
