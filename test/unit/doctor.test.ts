// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import {
  bpffsMountedAt,
  effectiveCapabilities,
  parseKernelVersion,
  runChecks,
  type KernelProbes,
} from '../../src/control/doctor/checks.js';

const healthyProbes: KernelProbes = {
  bpfSyscall: () => ({ ok: true, detail: 'sched_cls program loaded' }),
  tcx: () => ({ ok: true, detail: 'tcx query on lo answered' }),
  xdp: () => ({ ok: true, detail: 'xdp program loaded' }),
  xdpFrags: () => ({ ok: true, detail: 'frags flag accepted' }),
};

describe('doctor helpers', () => {
  it('parses kernel release strings', () => {
    expect(parseKernelVersion('6.18.44-fc-v595')).toEqual([6, 18]);
    expect(parseKernelVersion('5.10.0-23-amd64')).toEqual([5, 10]);
    expect(parseKernelVersion('garbage')).toBeUndefined();
  });

  it('reads effective capabilities from /proc/self/status', () => {
    const status = 'Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n';
    const caps = effectiveCapabilities(status);
    expect(caps & (1n << 39n)).not.toBe(0n); // CAP_BPF
    expect(effectiveCapabilities('CapEff:\t0000000000001000\n') & (1n << 39n)).toBe(0n);
  });

  it('finds bpffs only where it is mounted', () => {
    const mounts = 'sysfs /sys sysfs rw 0 0\nbpffs /sys/fs/bpf bpf rw,relatime 0 0\n';
    expect(bpffsMountedAt(mounts, '/sys/fs/bpf')).toBe(true);
    expect(bpffsMountedAt(mounts, '/mnt/bpf')).toBe(false);
    expect(bpffsMountedAt('tmpfs /sys/fs/bpf tmpfs rw 0 0\n', '/sys/fs/bpf')).toBe(false);
  });
});

describe('doctor rows', () => {
  it('every failed row carries a fix, and a failing required probe is reported as such', () => {
    const rows = runChecks({ ...healthyProbes, bpfSyscall: () => ({ ok: false, detail: 'EPERM' }) });
    const syscall = rows.find((r) => r.name === 'BPF syscall');
    expect(syscall).toMatchObject({ ok: false, required: true, detail: 'EPERM' });
    for (const row of rows.filter((r) => !r.ok)) expect(row.fix, row.name).toBeTruthy();
  });

  it('a missing tcx is a warning, not a failure (clsact fallback)', () => {
    const rows = runChecks({ ...healthyProbes, tcx: () => ({ ok: false, detail: 'EINVAL' }) });
    expect(rows.find((r) => r.name === 'tcx links')).toMatchObject({ ok: false, required: false });
  });

  it('warns, with the way out, when XDP decap would not help on the uplink', () => {
    const row = (facts: () => { ifname: string; kind?: string }) => runChecks(healthyProbes, { uplink: facts }).find((r) => r.name === 'XDP decap on uplink');
    expect(row(() => ({ ifname: 'eth0', kind: 'veth' }))).toMatchObject({ ok: false, required: false, detail: expect.stringMatching(/'eth0' is a veth.*GSO/), fix: expect.stringMatching(/--force-xdp/) });
    expect(row(() => ({ ifname: 'br0', kind: 'bridge' }))).toMatchObject({ ok: false, detail: expect.stringMatching(/bridge device without native XDP/) });
    expect(row(() => ({ ifname: 'ens3' }))).toMatchObject({ ok: true, detail: expect.stringMatching(/'ens3' \(physical device\)/) });
    expect(row(() => ({ ifname: 'ens4', driver: 'mlx5_core' }))).toMatchObject({ ok: true, detail: expect.stringMatching(/'ens4' \(physical device, driver mlx5_core\)/) });
    expect(row(() => { throw new Error('ip -j -d link show dev nope: Device "nope" does not exist.'); })).toMatchObject({ ok: false, fix: expect.stringMatching(/--uplink/) });
    expect(runChecks(healthyProbes).some((r) => r.name === 'XDP decap on uplink')).toBe(false);
  });

  it('reports a bpffs directory that is not mounted', () => {
    const rows = runChecks(healthyProbes, { bpffsDir: '/nonexistent-bpffs' });
    expect(rows.find((r) => r.name === 'bpffs mounted')).toMatchObject({ ok: false, required: true });
  });
});
