// SPDX-License-Identifier: Apache-2.0
// Which build of the BPF objects the loader picks: ISA v4 from kernel 6.6 on, ISA v3 before, and an explicit
// BPF_OVERLAY_BPF_DIR as given.
import { release } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bpfIsaFor, bpfObjectPath, packageRoot } from '../../src/control/paths.js';

describe('BPF instruction set of the loaded objects', () => {
  const saved = process.env.BPF_OVERLAY_BPF_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.BPF_OVERLAY_BPF_DIR;
    else process.env.BPF_OVERLAY_BPF_DIR = saved;
  });

  it('takes ISA v4 from 6.6 on and v3 before it, whatever follows the version', () => {
    expect(bpfIsaFor('6.6.0')).toBe('v4');
    expect(bpfIsaFor('6.18.44-fc-v657')).toBe('v4');
    expect(bpfIsaFor('7.0.1')).toBe('v4');
    expect(bpfIsaFor('6.5.13-generic')).toBe('v3');
    expect(bpfIsaFor('6.3.0')).toBe('v3');
    expect(bpfIsaFor('5.15.0-91-generic')).toBe('v3');
    expect(bpfIsaFor('not a release')).toBe('v3');
  });

  it('loads from build/bpf on a v4 kernel, build/bpf/isa-v3 otherwise, and from BPF_OVERLAY_BPF_DIR as given', () => {
    delete process.env.BPF_OVERLAY_BPF_DIR;
    const built = join(packageRoot(), 'build', 'bpf');
    expect(bpfObjectPath('from_uplink.o')).toBe(bpfIsaFor(release()) === 'v4' ? join(built, 'from_uplink.o') : join(built, 'isa-v3', 'from_uplink.o'));
    process.env.BPF_OVERLAY_BPF_DIR = '/opt/staged/bpf';
    expect(bpfObjectPath('from_uplink.o')).toBe('/opt/staged/bpf/from_uplink.o');
  });
});
