// SPDX-License-Identifier: Apache-2.0
// The kernel layer: load BPF objects, use their maps and programs, attach programs to interfaces.
export type * from './types.js';
export { BpfError, VerifierError, isNotSupported } from './errors.js';
export { kernelSupportsTcx, kernelSupportsXdpFrags } from './features.js';
export { openObject, KernelCollection } from './loader.js';
export { openPinnedMap, KernelMap } from './map.js';
export { openPinnedProgram, KernelProgram } from './program.js';
export {
  attachTc,
  attachXdp,
  openPinnedLink,
  interfaceIndex,
  KernelLink,
  type TcAttachMode,
  type TcAttachOptions,
} from './link.js';
