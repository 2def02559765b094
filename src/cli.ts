#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
import { main } from './control/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bpf-overlay: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
