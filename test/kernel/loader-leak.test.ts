// SPDX-License-Identifier: Apache-2.0
// Resource hygiene of the loader: repeated open/load/use/close cycles must not grow the process's fds or RSS.
import { readdirSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { openObject, VerifierError } from '../../src/control/bpf/index.js';
import { kernelDescribe } from '../harness/privileges.js';
import { ensureBpfObjects, objectPath, u32, u64 } from './loader-fixtures.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;
const MiB = 1024 * 1024;

function cycle(): void {
  const spec = openObject(objectPath('loader_min'));
  spec.setVariable('verdict', u32(1)); // XDP_DROP
  const coll = spec.load();
  spec.close();
  const runs = coll.map('runs');
  runs.update(u32(0), u64(0));
  const r = coll.program('min_xdp').testRun({ data: Buffer.alloc(64) });
  if (r.retval !== 1 || runs.lookup(u32(0))?.readBigUInt64LE(0) !== 1n) throw new Error(`cycle misbehaved: retval ${r.retval}`);
  coll.close();
}

kernelDescribe('kernel loader: no fd or memory growth', () => {
  beforeAll(() => ensureBpfObjects());

  it('runs 10,000 open/load/use/close cycles without growing fds or RSS', async () => {
    // Native finalizers of the JS wrappers run from the event loop, so a long-running agent yields to it; so do we.
    const cycles = async (n: number) => {
      for (let i = 1; i <= n; i++) {
        cycle();
        if (i % 500 === 0) await new Promise((r) => setImmediate(r));
      }
    };
    await cycles(2_000); // warm-up: JIT, allocator and V8 heap reach their steady state
    const fds0 = openFds();
    const rss0 = process.memoryUsage().rss;
    await cycles(10_000);
    const fds1 = openFds();
    const rss1 = process.memoryUsage().rss;
    console.log(`leak check: fds ${fds0} -> ${fds1}, rss ${(rss0 / MiB).toFixed(1)} -> ${(rss1 / MiB).toFixed(1)} MiB`);
    expect(fds1).toBeLessThanOrEqual(fds0 + 2);
    // A leaked bpf_object (tens of KiB) or even 2 KiB per cycle would add more than 16 MiB here.
    expect(rss1 - rss0).toBeLessThan(16 * MiB);
  }, 300_000);

  it('keeps fds flat across loads of the full CO-RE object and failed verifications', () => {
    const fds0 = openFds();
    for (let i = 0; i < 300; i++) {
      const spec = openObject(objectPath('loader_test'));
      const coll = spec.load();
      spec.close();
      coll.close();
    }
    for (let i = 0; i < 300; i++) {
      const spec = openObject(objectPath('verifier_reject'));
      expect(() => spec.load()).toThrow(VerifierError);
      spec.close();
    }
    expect(openFds()).toBeLessThanOrEqual(fds0 + 2);
  }, 300_000);
});
