// Runs the benchmark's TypeScript directly under Node 20 (which cannot): module hooks that resolve the `.js`
// import specifiers of TS sources to their `.ts` files and strip types with the TypeScript compiler already in
// devDependencies. Type checking is `tsc -p bench/tsconfig.json` (run first by `npm run bench`). Running the
// sources in place keeps `import.meta.dirname`-relative paths of the shared test harness (dist/cli.js, bin/,
// test/e2e/scripts) correct, which a copy compiled into another directory would break.
import { register } from 'node:module';

register(new URL('./ts-hooks.mjs', import.meta.url));
