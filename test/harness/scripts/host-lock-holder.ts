// SPDX-License-Identifier: Apache-2.0
// Child for the host-lock tests: takes the lock `name` `rounds` times, holding it `holdMs` each, and prints the
// [entered, left] wall-clock intervals as JSON. With `hang`, it takes the lock once and never lets go.
import { acquireHostLock } from '../../../src/control/datastore/host-lock.js';

const [name, rounds, holdMs, mode] = process.argv.slice(2);
const held: Array<[number, number]> = [];
for (let i = 0; i < Number(rounds); i++) {
  const release = await acquireHostLock(name, 30_000);
  if (!release) throw new Error(`host lock ${name} not had within 30 s`);
  const entered = Date.now();
  if (mode === 'hang') {
    console.log('held');
    setInterval(() => undefined, 1_000);
    await new Promise(() => undefined);
  }
  await new Promise((r) => setTimeout(r, Number(holdMs)));
  held.push([entered, Date.now()]);
  await release();
}
console.log(JSON.stringify(held));
