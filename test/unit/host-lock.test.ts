// SPDX-License-Identifier: Apache-2.0
// The host lock that queues a host's IPAM transactions on etcd: one holder at a time across processes, a waiter
// gives up after its wait, and a holder that dies frees the lock at once (no stale lock).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireHostLock } from '../../src/control/datastore/host-lock.js';
import { childJson, childScript, removeChildScripts, runChildScript } from '../harness/child-scripts.js';

const lockName = () => `test-${randomBytes(6).toString('hex')}`;
afterAll(() => removeChildScripts());

describe('host lock', () => {
  it('is held by one process at a time: 4 processes x 5 rounds never overlap', async () => {
    const name = lockName();
    const runs = await Promise.all([0, 1, 2, 3].map(() => runChildScript('host-lock-holder', [name, '5', '10'])));
    const intervals = runs.flatMap((r, i) => childJson<Array<[number, number]>>(r, `holder ${i}`)).sort((a, b) => a[0] - b[0]);
    expect(intervals).toHaveLength(20);
    for (let i = 1; i < intervals.length; i++) expect(intervals[i][0]).toBeGreaterThanOrEqual(intervals[i - 1][1]);
  });

  it('queues waiters of one process too, and a waiter gives up after its wait', async () => {
    const name = lockName();
    const first = await acquireHostLock(name, 1_000);
    expect(first).toBeDefined();
    const t0 = Date.now();
    expect(await acquireHostLock(name, 200)).toBeUndefined();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    const second = acquireHostLock(name, 5_000);
    await new Promise((r) => setTimeout(r, 50));
    await first!();
    const release = await second;
    expect(release).toBeDefined();
    await release!();
  });

  it('is free as soon as a holder is killed', async () => {
    const name = lockName();
    const child = spawn(process.execPath, [await childScript('host-lock-holder'), name, '1', '0', 'hang'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
        child.once('exit', (code) => reject(new Error(`holder exited ${code} before taking the lock`)));
      });
      const waiting = acquireHostLock(name, 10_000);
      child.kill('SIGKILL');
      const t0 = Date.now();
      const release = await waiting;
      expect(release).toBeDefined();
      expect(Date.now() - t0).toBeLessThan(2_000);
      await release!();
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
