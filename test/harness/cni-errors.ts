// SPDX-License-Identifier: Apache-2.0
// The CNI error a synchronous step throws, as code and message, for tests that check what the runtime would see.
import { expect } from 'vitest';
import { CniError } from '../../src/control/cni/errors.js';

export function cniFailure(fn: () => unknown): { code: number; msg: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CniError);
    return { code: (err as CniError).code, msg: (err as CniError).message };
  }
  throw new Error('expected a CniError');
}
