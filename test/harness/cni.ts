// SPDX-License-Identifier: Apache-2.0
// Calls the CNI plugin the way a container runtime does: the real shim (bin/bpf-overlay-cni) as a separate
// process, CNI_* in its environment, the network config on stdin, run inside the node's network namespace.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CNI_SHIM = path.join(repoRoot, 'bin', 'bpf-overlay-cni');

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';
  containerId?: string;
  netns?: string;
  ifname?: string;
  /** CNI_ARGS as pairs, e.g. { K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web' } */
  args?: Record<string, string>;
  config: Record<string, unknown> | string;
  /** The node's namespace path (the runtime runs on the node); absent: the caller's own namespace. */
  hostNetns?: string;
  timeoutMs?: number;
}

export interface CniReply {
  code: number | null;
  /** Set when the plugin was killed (timeout or a signal from outside). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json?: Record<string, unknown> & { code?: number; msg?: string };
}

export function invokeCni(call: CniCall): CniReply {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    CNI_COMMAND: call.command,
    CNI_PATH: path.dirname(CNI_SHIM),
  };
  if (call.containerId !== undefined) env.CNI_CONTAINERID = call.containerId;
  if (call.netns !== undefined) env.CNI_NETNS = call.netns;
  if (call.ifname !== undefined) env.CNI_IFNAME = call.ifname;
  if (call.args) env.CNI_ARGS = Object.entries(call.args).map(([k, v]) => `${k}=${v}`).join(';');
  const [cmd, args] = call.hostNetns ? ['nsenter', [`--net=${call.hostNetns}`, '--', CNI_SHIM]] : [CNI_SHIM, []];
  const res = spawnSync(cmd, args, {
    env,
    input: typeof call.config === 'string' ? call.config : JSON.stringify(call.config),
    timeout: call.timeoutMs ?? 60_000,
    encoding: 'utf8',
  });
  const reply: CniReply = { code: res.status, signal: res.signal, stdout: res.stdout ?? '', stderr: res.stderr ?? '' };
  try {
    if (reply.stdout.trim()) reply.json = JSON.parse(reply.stdout) as CniReply['json'];
  } catch {
    // not JSON: the caller sees stdout as is
  }
  return reply;
}

/** invokeCni that must succeed: throws with the plugin's error object otherwise. */
export function cniOk(call: CniCall): CniReply {
  const reply = invokeCni(call);
  if (reply.code !== 0) {
    throw new Error(`CNI ${call.command} ${call.containerId ?? ''} failed (exit ${reply.code}, signal ${reply.signal}): ${reply.stdout}${reply.stderr}`);
  }
  return reply;
}

let built = false;

/**
 * Compiles src/ into dist/ once per process when a source is newer than dist (the shim runs dist/cni.js); other
 * files' type errors do not block emit. A fresh dist is never rewritten, so no test reads a half-written one.
 */
export function buildDist(): void {
  if (built || distIsFresh()) return;
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repoRoot, stdio: 'pipe', timeout: 180_000 });
  } catch (err) {
    const out = (err as { stdout?: Buffer }).stdout?.toString() ?? '';
    if (!existsSync(path.join(repoRoot, 'dist', 'cni.js'))) throw new Error(`tsc did not produce dist/cni.js: ${out}`);
  }
  built = true;
}

/**
 * True when dist/ was emitted after the last change to any TypeScript source: tsc takes 10-30 s on a small
 * machine, and every e2e file (a separate vitest worker) would otherwise pay it again.
 */
function distIsFresh(): boolean {
  const emitted = ['cli.js', 'cni.js'].map((f) => path.join(repoRoot, 'dist', f));
  if (!emitted.every((f) => existsSync(f))) return false;
  const emittedAt = Math.min(...emitted.map((f) => statSync(f).mtimeMs));
  const newestSource = (dir: string): number => {
    let newest = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
    return newest;
  };
  return newestSource(path.join(repoRoot, 'src')) < emittedAt;
}
