// SPDX-License-Identifier: Apache-2.0
// Vitest strips types without checking them: the whole repository (sources, tests, bench, scripts) must also
// pass the strict compiler, so that a test cannot drift from the code it exercises.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('sources, tests, benchmarks and scripts type-check under strict tsc', () => {
  const root = join(import.meta.dirname, '..', '..');
  let output = '';
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.check.json'], {
      cwd: root,
      stdio: 'pipe',
      timeout: 240_000,
    });
  } catch (err) {
    output = (err as { stdout?: Buffer }).stdout?.toString() ?? String(err);
  }
  expect(output).toBe('');
}, 300_000);
