// SPDX-License-Identifier: Apache-2.0
// The issue #12 scale bench on its own: `node --import ./scripts/ts-loader.mjs bench/scale.ts [--quick]
// [--backends=sqlite,etcd] [--cni-only] [--cni-adds=N]` (root); --cni-only skips the remote pod, block and node
// phases, --cni-adds sets how many ADDs run at once (default 50). Writes bench/results/<date>-scale.{json,md} and latest-scale.*.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runScaleBench, scaleMarkdown, scaleSettings, scaleTargets } from './lib/scale.js';

const quick = process.argv.includes('--quick');
const backends = (process.argv.find((a) => a.startsWith('--backends='))?.slice(11).split(',') ?? ['sqlite', 'etcd']) as Array<'sqlite' | 'etcd'>;
const cniAdds = process.argv.find((a) => a.startsWith('--cni-adds='))?.slice(11);
if (cniAdds !== undefined && !/^[1-9][0-9]*$/.test(cniAdds)) throw new Error(`--cni-adds=${cniAdds}: expected a positive whole number`);
const started = Date.now();
const log = (m: string) => console.log(`[scale +${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}`);
const kills = new Set<() => void>();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    for (const k of kills) k();
    process.exit(130);
  });
}

if (process.getuid?.() !== 0) throw new Error('the scale bench needs root (namespaces, BPF)');
const result = await runScaleBench({
  backends,
  ...scaleSettings(quick),
  ...(cniAdds ? { cniAdds: Number(cniAdds) } : {}),
  cniOnly: process.argv.includes('--cni-only'),
  log,
  track: (k) => {
    kills.add(k);
    return () => kills.delete(k);
  },
});
const date = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
const dir = path.join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
const md = [
  `# bpf-overlay scale bench ${date}${quick ? ' (quick)' : ''}`,
  '',
  ...scaleMarkdown(result),
  '## Targets (issue #12)',
  '',
  '| target | value | met | why |',
  '|---|---|---|---|',
  ...scaleTargets(result).map((t) => `| ${t.target} | ${t.value} | ${t.met ? 'yes' : '**no**'} | ${t.met ? '' : (t.why ?? '')} |`),
  '',
].join('\n');
writeFileSync(path.join(dir, `${date}-scale.json`), JSON.stringify({ date, quick, ...result }, null, 2) + '\n');
writeFileSync(path.join(dir, `${date}-scale.md`), md);
for (const ext of ['json', 'md']) copyFileSync(path.join(dir, `${date}-scale.${ext}`), path.join(dir, `latest-scale.${ext}`));
console.log(md);
if (result.failures.length > 0) process.exitCode = 1;
