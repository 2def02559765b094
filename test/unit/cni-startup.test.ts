// SPDX-License-Identifier: Apache-2.0
// A runtime starts one plugin process per call, fifty at once when fifty pods start: what an ADD process loads is
// paid fifty times over on the node's CPUs. These run the built plugin (dist/cni.js, as the shim does) with a
// recorder of every module it loads, and check that ADD stays off what it does not need.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist, repoRoot } from '../harness/cni.js';

let dir: string;

/** Module URLs the plugin loaded (ESM and CommonJS) and whether the BPF addon was mapped, for one call. */
function loadsOf(command: string, config: object): { modules: string[]; nativeAddonMapped: boolean; stdout: string } {
  const log = path.join(dir, `${command}-${Math.random().toString(16).slice(2)}.log`);
  const res = spawnSync(process.execPath, ['--import', pathToFileURL(path.join(dir, 'record.mjs')).href, path.join(repoRoot, 'dist', 'cni.js')], {
    env: {
      PATH: process.env.PATH,
      CNI_COMMAND: command,
      CNI_CONTAINERID: 'bo-startup-test',
      CNI_IFNAME: 'eth0',
      // No such namespace: ADD fails right after loading its modules, before it touches the datastore or the kernel.
      CNI_NETNS: path.join(dir, 'no-such-netns'),
      RECORD_LOG: log,
    },
    input: JSON.stringify(config),
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  return {
    modules: lines.filter((l) => l.startsWith('module ')).map((l) => l.slice(7)),
    nativeAddonMapped: lines.includes('maps bpf_overlay_native.node'),
    stdout: res.stdout,
  };
}

beforeAll(() => {
  buildDist();
  dir = mkdtempSync(path.join(os.tmpdir(), 'bo-cni-startup-'));
  // The ESM loader hook sees every module the loader loads; CommonJS ones show in require.cache at exit, and a
  // native addon in the process's memory map.
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.RECORD_LOG, 'module ' + url + '\\n');
  return next(url, context);
}
`,
  );
  writeFileSync(
    path.join(dir, 'record.mjs'),
    `import { register, createRequire } from 'node:module';
import { appendFileSync, readFileSync } from 'node:fs';
register(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const cjs = Object.keys(cache).map((f) => 'module file://' + f);
  const maps = readFileSync('/proc/self/maps', 'utf8').includes('bpf_overlay_native.node') ? ['maps bpf_overlay_native.node'] : [];
  appendFileSync(process.env.RECORD_LOG, [...cjs, ...maps].join('\\n') + '\\n');
});
`,
  );
}, 240_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const config = { cniVersion: '1.0.0', name: 'net', type: 'bpf-overlay', datastore: 'sqlite:///nonexistent/store.db', nodeName: 'node-1' };

describe('what a CNI ADD process loads', () => {
  it('loads ADD and neither the BPF wrapper and its native addon, nor YAML, etcd, logging, the compiler or other commands', () => {
    const { modules, nativeAddonMapped, stdout } = loadsOf('ADD', config);
    // It did get as far as ADD itself, which refused the missing namespace.
    expect(JSON.parse(stdout)).toMatchObject({ code: 4 });
    expect(modules.some((m) => m.endsWith('/dist/control/cni/add.js'))).toBe(true);
    expect(nativeAddonMapped).toBe(false);
    const unwanted = modules.filter((m) =>
      /\/dist\/control\/(bpf|compile|agent|reconcile|validation\/common|model\/parse|ipam\/index)[/.]|\/node_modules\/(yaml|etcd3|pino|@grpc)\/|\/dist\/control\/cni\/(del|gc|check|status|detach)\.js$/.test(m),
    );
    expect(unwanted).toEqual([]);
  });

  it('VERSION loads no command module and no datastore client', () => {
    const { modules, stdout } = loadsOf('VERSION', config);
    expect(JSON.parse(stdout)).toHaveProperty('supportedVersions');
    expect(modules.filter((m) => /\/dist\/control\/(cni\/(add|del|gc|check|status)|datastore\/(index|sqlite|etcd|base))\.js$|better-sqlite3/.test(m))).toEqual([]);
  });
});
