// SPDX-License-Identifier: Apache-2.0
// Module hooks for scripts/ts-loader.mjs (they run on Node's loader thread). Transpiled output is cached under
// build/bench-cache by source path, size and mtime, so the per-size child processes start quickly.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const CACHE = fileURLToPath(new URL('../build/ts-cache/', import.meta.url));

export async function resolve(specifier, context, nextResolve) {
  if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:')) && context.parentURL) {
    const tsUrl = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
    if (tsUrl.protocol === 'file:' && existsSync(fileURLToPath(tsUrl)) && !existsSync(fileURLToPath(new URL(specifier, context.parentURL)))) {
      return { url: tsUrl.href, shortCircuit: true, format: 'module' };
    }
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const st = statSync(file);
  const key = createHash('sha1').update(`${file}\0${st.size}\0${st.mtimeMs}\0${ts.version}`).digest('hex');
  const cached = `${CACHE}${key}.js`;
  if (existsSync(cached)) return { format: 'module', source: readFileSync(cached, 'utf8'), shortCircuit: true };
  const out = ts.transpileModule(readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, inlineSourceMap: true },
  });
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(cached, out.outputText);
  return { format: 'module', source: out.outputText, shortCircuit: true };
}
