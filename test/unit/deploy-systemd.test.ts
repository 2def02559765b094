// SPDX-License-Identifier: Apache-2.0
// deploy/systemd: systemd itself verifies the unit (any message counts as a failure: systemd only warns about
// a directive it cannot parse), the unit and its EnvironmentFile agree, the flags it passes are flags of
// `bpf-overlay load`, nothing unloads the data path on stop, and its ExecStartPre really mounts bpffs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCommand } from '../../src/control/cli/commands/load.js';
import { AGENT_RUNTIME_ENV } from '../../src/control/agent/runtime-env.js';
import { isRoot } from '../harness/privileges.js';

const ROOT = join(import.meta.dirname, '..', '..');
const UNIT = readFileSync(join(ROOT, 'deploy', 'systemd', 'bpf-overlay.service'), 'utf8');
const ENV = readFileSync(join(ROOT, 'deploy', 'systemd', 'bpf-overlay.env'), 'utf8');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

/** Directive values of the [Service] section (repeatable ones keep every value). */
function directives(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1], [...(out.get(m[1]) ?? []), m[2]]);
  }
  return out;
}

function verify(unitText: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bo-systemd-'));
  try {
    const file = join(dir, 'bpf-overlay.service');
    writeFileSync(file, unitText);
    const res = spawnSync(SYSTEMD_ANALYZE, ['verify', '--man=no', file], { encoding: 'utf8', timeout: 30_000 });
    return { status: res.status, output: `${res.stdout}${res.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const haveAnalyze = existsSync(SYSTEMD_ANALYZE);
if (!haveAnalyze) {
  if (process.env.CI) throw new Error(`${SYSTEMD_ANALYZE} missing and CI=${process.env.CI}: apt-get install systemd`);
  console.warn(`[skip] systemd-analyze verify: ${SYSTEMD_ANALYZE} missing and CI unset`);
}

describe('deploy/systemd/bpf-overlay.service', () => {
  const d = directives(UNIT);
  const env = new Map(
    ENV.split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
  );

  it.skipIf(!haveAnalyze)('passes systemd-analyze verify without a single message', () => {
    expect(verify(UNIT)).toEqual({ status: 0, output: '' });
  });

  it.skipIf(!haveAnalyze)('a broken unit does not', () => {
    const typo = verify(UNIT.replace('Restart=always', 'Restart=sometimes'));
    expect(typo.output).toMatch(/restart specifier/);
    const missing = verify(UNIT.replace('ExecStart=/usr/bin/node', 'ExecStart=/usr/bin/no-such-node'));
    expect(missing.status).not.toBe(0);
    expect(missing.output).toMatch(/no-such-node/);
  });

  it('runs the agent in the runtime environment the bench measures (src/control/agent/runtime-env.ts)', () => {
    const set = new Map(
      (directives(UNIT).get('Environment') ?? []).flatMap((line) => line.split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const)),
    );
    for (const [name, value] of Object.entries(AGENT_RUNTIME_ENV)) expect(set.get(name), name).toBe(value);
  });

  it('restarts always, stops with SIGTERM, and never unloads the data path', () => {
    expect(d.get('Restart')).toEqual(['always']);
    expect(d.get('KillSignal')).toEqual(['SIGTERM']);
    expect(d.has('ExecStop')).toBe(false);
    expect(d.has('ExecStopPost')).toBe(false);
    expect(UNIT).not.toMatch(/^Exec.*\bunload\b/m);
    expect(d.get('EnvironmentFile')).toEqual(['/etc/bpf-overlay/bpf-overlay.env']);
  });

  it('every variable the unit uses is set in the EnvironmentFile, and BPF_OVERLAY_DATASTORE reaches the CLI', () => {
    const used = [...UNIT.matchAll(/\$\{?([A-Z_]+)\}?/g)].map((m) => m[1]);
    expect(used.length).toBeGreaterThan(3);
    for (const v of used) expect(env.has(v), `${v} in bpf-overlay.env`).toBe(true);
    // The CLI reads the datastore from this variable; the unit does not pass --datastore.
    expect(env.get('BPF_OVERLAY_DATASTORE')).toMatch(/^etcd\+https:\/\//);
  });

  it('passes only flags that `bpf-overlay load` accepts', () => {
    const execStart = d.get('ExecStart')![0];
    const afterLoad = execStart.slice(execStart.indexOf(' load ') + 6);
    const flags = [...afterLoad.matchAll(/--([a-z-]+)/g)].map((m) => m[1]);
    expect(flags).toEqual(['node', 'bpffs', 'health-addr', 'metrics-addr']);
    for (const f of flags) expect(Object.keys(loadCommand.options)).toContain(f);
    const examples = /#\s+(--uplink.*)$/m.exec(ENV)![1];
    for (const m of examples.matchAll(/--([a-z-]+)/g)) expect(Object.keys(loadCommand.options)).toContain(m[1]);
  });

  it.skipIf(!isRoot)('ExecStartPre mounts bpffs where there is none, and leaves a mounted one alone', () => {
    const pre = d.get('ExecStartPre')![0];
    const script = /^\/bin\/sh -ec '(.*)'$/.exec(pre)![1];
    const dir = mkdtempSync(join(tmpdir(), 'bo-bpffs-'));
    const target = join(dir, 'bpf');
    try {
      for (let i = 0; i < 2; i++) execFileSync('/bin/sh', ['-ec', script], { env: { ...process.env, BPFFS: target } });
      expect(execFileSync('stat', ['-f', '-c', '%T', target]).toString().trim()).toBe('bpf_fs');
      // twice ran, one mount
      expect(readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1] === target)).toHaveLength(1);
    } finally {
      spawnSync('umount', [target]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
