// SPDX-License-Identifier: Apache-2.0
// Runs the repository's TypeScript tools (bench/run.ts, scripts/demo.ts) directly under Node 20, which cannot:
// module hooks resolve the `.js` import specifiers of TS sources to their `.ts` files and strip types with the
// TypeScript compiler already in devDependencies (type checking is tsc's job, run first). Running the sources in
// place keeps `import.meta.dirname`-relative paths of the shared test harness (dist/cli.js, bin/,
// test/lab/scripts) correct, which a copy compiled into another directory would break.
import { register } from 'node:module';

register(new URL('./ts-hooks.mjs', import.meta.url));
