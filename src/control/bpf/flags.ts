// SPDX-License-Identifier: Apache-2.0
// Values of the kernel's BPF_ANY / BPF_NOEXIST / BPF_EXIST element flags.
import type { UpdateFlag } from './types.js';

export function updateFlagValue(flag: UpdateFlag = 'any'): number {
  switch (flag) {
    case 'any':
      return 0;
    case 'noexist':
      return 1;
    case 'exist':
      return 2;
    default:
      throw new TypeError(`update flag must be 'any', 'noexist' or 'exist', got ${JSON.stringify(flag)}`);
  }
}
