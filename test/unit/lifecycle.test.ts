// SPDX-License-Identifier: Apache-2.0
// Record lifecycle and IPAM safety on SQLite: one fresh store file per test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { lifecycleContract } from '../harness/lifecycle-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'bo-lifecycle-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

describe('record lifecycle (SQLite)', () => {
  lifecycleContract('sqlite', async () => `sqlite://${join(dir, `store-${++seq}.db`)}`);
});
