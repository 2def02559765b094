// SPDX-License-Identifier: Apache-2.0
import { describe } from 'vitest';

/** True when kernel-level tests can run: root (CAP_BPF/CAP_NET_ADMIN) on this machine. */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * describe() for tests that need the real kernel. They skip, with a printed reason, only when not root and CI is
 * unset; under CI=true a missing privilege is a failure, never a silent skip.
 */
export function kernelDescribe(name: string, fn: () => void): void {
  if (isRoot) {
    describe(name, fn);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      throw new Error(`kernel test "${name}" needs root, and CI=${process.env.CI} forbids skipping it`);
    });
    return;
  }
  console.warn(`[skip] kernel test "${name}": not root and CI unset`);
  describe.skip(name, fn);
}
