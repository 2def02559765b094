// SPDX-License-Identifier: Apache-2.0
// The environment the agent runs under where we deploy it (deploy/systemd, deploy/kubernetes; a unit test keeps
// both equal to this list, and bench/scale.ts starts its agent with it). Neither can be set from inside a running
// process: V8 sizes its young generation at start-up, glibc reads its tunables once.
//   --max-semi-space-size=2: building the compiler's state at start grows V8's young generation to its maximum
//     (2 x 16 MiB) and it stays committed while the agent idles; 2 MiB per semi-space costs no measurable start
//     time at 5,000 nodes (docs/ARCHITECTURE.md, "Memory").
//   MALLOC_*: glibc gives freed native memory back; the etcd client's start-up reads pass tens of MB of
//     short-lived buffers through malloc, which glibc otherwise keeps.
export const AGENT_RUNTIME_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: '--max-semi-space-size=2',
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_TRIM_THRESHOLD_: '131072',
};
