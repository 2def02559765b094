// SPDX-License-Identifier: Apache-2.0
// One control-plane measurement per process (see control-plane.ts): argv = pinRoot, "scale" N REPEATS | "writes" N B.
import { measureScale, measureWriteRates } from './control-plane.js';

const [pinRoot, mode, a, b] = process.argv.slice(2);
if (!pinRoot?.startsWith('/sys/fs/bpf/')) throw new Error(`pinRoot must be under /sys/fs/bpf, got '${pinRoot}'`);
if (mode === 'scale') {
  console.log(JSON.stringify(measureScale(Number(a), Number(b), pinRoot)));
} else if (mode === 'writes') {
  console.log(JSON.stringify(measureWriteRates(Number(a), Number(b), pinRoot)));
} else {
  throw new Error(`mode must be "scale" or "writes", got '${mode}'`);
}
