// SPDX-License-Identifier: Apache-2.0
// Where the package's own files are, whether running from src/ (vitest) or dist/ (built).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`bpf-overlay: no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  cachedRoot = dir;
  return dir;
}

/**
 * BPF_OVERLAY_BPF_DIR points the loader at another build of the objects: an upgrade test starts the agent over
 * a running data path with a second build, and an operator can stage a new build beside the old one.
 */
export function bpfObjectPath(name: string): string {
  const dir = process.env.BPF_OVERLAY_BPF_DIR;
  return join(dir ? resolve(dir) : join(packageRoot(), 'build', 'bpf'), name);
}
