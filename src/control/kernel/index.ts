// The kernel layer: load BPF objects, use their maps and programs, attach programs to interfaces.
export type * from './types.js';
export { BpfError, VerifierError } from './errors.js';
export { openObject, KernelCollection } from './loader.js';
export { openPinnedMap, KernelMap } from './map.js';
export { openPinnedProgram, KernelProgram } from './program.js';
export {
  attachTc,
  attachXdp,
  openPinnedLink,
  kernelSupportsTcx,
  interfaceIndex,
  KernelLink,
  type TcAttachMode,
  type TcAttachOptions,
} from './link.js';
