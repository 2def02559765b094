// SPDX-License-Identifier: Apache-2.0
// ADD's wait for the agent's link pin, and the priority ADD runs its datastore writes at, without a kernel.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitForWorkloadAttachment } from '../../src/control/cni/attach.js';
import { CniCode, CniError } from '../../src/control/cni/errors.js';
import { LOCK_HOLDER_NICE, withLockPriority } from '../../src/control/cni/priority.js';
import { PinLayout } from '../../src/control/node/pins.js';

let bpffs: string;
let pins: PinLayout;

beforeEach(() => {
  bpffs = mkdtempSync(path.join(os.tmpdir(), 'bo-attach-wait-'));
  pins = new PinLayout(bpffs, 'node-1');
  for (const p of [pins.program('from_workload'), pins.workloadLink('bo0123456789a')]) mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(pins.program('from_workload'), '');
});

afterEach(() => rmSync(bpffs, { recursive: true, force: true }));

describe('waiting for the agent to attach', () => {
  it('returns soon after the pin appears, also once the polling has slowed down', async () => {
    for (const [i, appearAfterMs] of [0, 20, 300].entries()) {
      const ifname = `bo012345678${i}f`;
      const timer = setTimeout(() => writeFileSync(pins.workloadLink(ifname), ''), appearAfterMs);
      const t0 = performance.now();
      await waitForWorkloadAttachment(pins, ifname, 5_000);
      clearTimeout(timer);
      const took = performance.now() - t0;
      expect(took).toBeGreaterThanOrEqual(appearAfterMs - 5);
      // At most one slowest poll interval (25 ms) late, plus scheduling slack on a busy machine.
      expect(took).toBeLessThan(appearAfterMs + 25 + 250);
    }
  });

  it('gives up with code 11 (try again later) when the agent never attaches', async () => {
    const t0 = performance.now();
    const err = await waitForWorkloadAttachment(pins, 'bo0123456789a', 120).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(CniCode.TryAgainLater);
    expect((err as CniError).message).toContain('did not attach the workload program to bo0123456789a within 120 ms');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(115);
  });
});

describe('the priority of the datastore writes', () => {
  const root = process.getuid?.() === 0;

  it(`runs the work at nice ${LOCK_HOLDER_NICE} when permitted and restores the priority after`, async () => {
    const before = getPriority();
    const during = await withLockPriority(async () => getPriority());
    expect(during).toBe(root ? LOCK_HOLDER_NICE : before);
    expect(getPriority()).toBe(before);
  });

  it('restores the priority when the work fails, and passes the failure on', async () => {
    const before = getPriority();
    await expect(withLockPriority(async () => Promise.reject(new Error('conflict')))).rejects.toThrow('conflict');
    expect(getPriority()).toBe(before);
  });
});
