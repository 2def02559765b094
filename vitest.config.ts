// SPDX-License-Identifier: Apache-2.0
import { defineConfig } from 'vitest/config';

// Kernel tests share one machine's network stack and bpffs: run test files one at a time so that
// namespaces, veths and pins of one file never race another's. Unit tests are fast enough either way.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
