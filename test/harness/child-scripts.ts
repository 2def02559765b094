// SPDX-License-Identifier: Apache-2.0
// Runs TypeScript helper scripts as real, separate Node processes (separate datastore connections, separate
// event loops), which is what concurrency and cross-process watch tests need. Scripts are bundled with rolldown
// (vitest's own bundler) into node_modules/.cache so that their bare imports resolve against node_modules.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const built = new Map<string, Promise<string>>();

/** Bundle test/harness/scripts/<name>.ts once per test run; returns the .mjs path. */
export function childScript(name: string): Promise<string> {
  let file = built.get(name);
  if (!file) {
    file = (async () => {
      // A fresh clone has no node_modules/.cache yet.
      fs.mkdirSync(path.join(repoRoot, 'node_modules', '.cache'), { recursive: true });
      const outDir = fs.mkdtempSync(path.join(repoRoot, 'node_modules', '.cache', 'bo-child-'));
      const outfile = path.join(outDir, `${name}.mjs`);
      await build({
        input: path.join(repoRoot, 'test/harness/scripts', `${name}.ts`),
        platform: 'node',
        external: [/^[^./]/],
        // One file: the datastore loads its etcd backend with a dynamic import, which would otherwise split.
        output: { file: outfile, format: 'esm', codeSplitting: false },
        logLevel: 'warn',
      });
      return outfile;
    })();
    built.set(name, file);
  }
  return file;
}

export function removeChildScripts(): void {
  for (const p of built.values()) {
    void p.then((f) => fs.rmSync(path.dirname(f), { recursive: true, force: true }));
  }
  built.clear();
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a bundled script to completion (bounded by timeoutMs: the child is killed after it). */
export async function runChildScript(name: string, args: string[], timeoutMs = 60_000): Promise<ChildResult> {
  const file = await childScript(name);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parse the last stdout line as JSON; fail with the child's stderr when it did not succeed. */
export function childJson<T>(res: ChildResult, what: string): T {
  if (res.code !== 0) throw new Error(`${what} exited with ${res.code}: ${res.stderr.trim()}`);
  const lines = res.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}
