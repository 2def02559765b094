// SPDX-License-Identifier: Apache-2.0
// deploy/kubernetes/install-cni.sh, the DaemonSet's init step, run against temp directories standing in for the
// host's /opt/cni/bin, /etc/cni/net.d and /var/lib/bpf-overlay: the installed plugin must answer a runtime that
// calls it with an empty environment (no PATH, no node on it), the conflist must name this node and a datastore
// URL whose TLS files are host copies, and a second run must replace the first cleanly.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, requireBuiltCli } from '../harness/agent.js';

const SCRIPT = join(REPO_ROOT, 'deploy', 'kubernetes', 'install-cni.sh');

describe('install-cni.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bo-install-cni-'));
  const paths = { bin: join(dir, 'opt-cni-bin'), net: join(dir, 'etc-cni-net.d'), install: join(dir, 'var-lib', 'cni') };
  const secretDir = join(dir, 'secret');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const install = (env: Record<string, string>) =>
    spawnSync('sh', [SCRIPT], {
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        PATH: process.env.PATH!,
        CNI_BIN_DIR: paths.bin,
        CNI_NET_DIR: paths.net,
        INSTALL_DIR: paths.install,
        PKG_DIR: REPO_ROOT,
        ...env,
      },
    });

  it('installs a plugin that runs with an empty environment, and a conflist for this node', () => {
    requireBuiltCli();
    execFileSync('mkdir', ['-p', secretDir]);
    for (const f of ['ca.crt', 'tls.crt', 'tls.key']) writeFileSync(join(secretDir, f), `PEM ${f}\n`);
    const url = `etcd+https://10.0.0.10:2379?ca=${secretDir}/ca.crt&cert=${secretDir}/tls.crt&key=${secretDir}/tls.key`;
    const res = install({ NODE_NAME: 'worker-7', BPF_OVERLAY_DATASTORE: url });
    expect(res.status, res.stderr).toBe(0);

    const plugin = join(paths.bin, 'bpf-overlay');
    expect(statSync(plugin).mode & 0o111).not.toBe(0);
    // What a runtime does: exec the plugin with CNI_* only. The bundled node and libraries must suffice.
    const version = spawnSync(plugin, [], { input: '{}', encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' }, timeout: 30_000 });
    expect(version.status, version.stderr).toBe(0);
    expect(JSON.parse(version.stdout).supportedVersions).toContain('1.0.0');

    const conf = JSON.parse(readFileSync(join(paths.net, '10-bpf-overlay.conflist'), 'utf8')) as {
      plugins: { type: string; nodeName?: string; datastore?: string }[];
    };
    const ours = conf.plugins.find((p) => p.type === 'bpf-overlay')!;
    expect(ours.nodeName).toBe('worker-7');
    const params = new URLSearchParams(ours.datastore!.split('?')[1]);
    for (const [key, source] of [['ca', 'ca.crt'], ['cert', 'tls.crt'], ['key', 'tls.key']]) {
      const copy = params.get(key)!;
      expect(copy.startsWith(`${paths.install}/etcd-tls/`)).toBe(true);
      expect(readFileSync(copy, 'utf8')).toBe(`PEM ${source}\n`);
      expect(statSync(copy).mode & 0o077).toBe(0);
    }
  }, 180_000);

  it('a second run replaces the install in one piece, leaving no staging directories', () => {
    const res = install({ NODE_NAME: 'worker-7', BPF_OVERLAY_DATASTORE: 'sqlite:///var/lib/bpf-overlay/store.db' });
    expect(res.status, res.stderr).toBe(0);
    expect(readdirSync(join(dir, 'var-lib'))).toEqual(['cni']);
    expect(readdirSync(paths.bin)).toEqual(['bpf-overlay']);
    const conf = JSON.parse(readFileSync(join(paths.net, '10-bpf-overlay.conflist'), 'utf8')) as { plugins: { datastore?: string }[] };
    expect(conf.plugins[0].datastore).toBe('sqlite:///var/lib/bpf-overlay/store.db');
  }, 180_000);

  it('refuses to run without the node name, saying which variable is missing', () => {
    const res = install({ BPF_OVERLAY_DATASTORE: 'sqlite:///x.db' });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/NODE_NAME is not set/);
  });
});
