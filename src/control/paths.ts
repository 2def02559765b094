// SPDX-License-Identifier: Apache-2.0
// Where the package's own files are, whether running from src/ (vitest) or dist/ (built).
import { existsSync } from 'node:fs';
import { release } from 'node:os';
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

/** The BPF instruction set a kernel release accepts: v4 (byte swaps, sign-extending loads) came with 6.6. */
export function bpfIsaFor(release: string): 'v4' | 'v3' {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return 'v3';
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 6) ? 'v4' : 'v3';
}

/**
 * The object `name` of the build the running kernel accepts: build/bpf (ISA v4) or build/bpf/isa-v3 (kernels
 * before 6.6; scripts/build-bpf.sh builds both). BPF_OVERLAY_BPF_DIR points the loader at another build, used
 * as it is: an upgrade test starts the agent over a running data path with a second build, and an operator can
 * stage a new build beside the old one.
 */
export function bpfObjectPath(name: string): string {
  const dir = process.env.BPF_OVERLAY_BPF_DIR;
  if (dir) return join(resolve(dir), name);
  const built = join(packageRoot(), 'build', 'bpf');
  return bpfIsaFor(release()) === 'v4' ? join(built, name) : join(built, 'isa-v3', name);
}
