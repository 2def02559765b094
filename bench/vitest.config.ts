// SPDX-License-Identifier: Apache-2.0
import { defineConfig } from 'vitest/config';

// Benchmarks that need vitest's TS runtime but are no tests: run only on request, one at a time.
export default defineConfig({
  test: {
    include: ['bench/**/*.ts'],
    exclude: ['bench/vitest.config.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
  },
});
