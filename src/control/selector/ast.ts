// SPDX-License-Identifier: Apache-2.0
// Calico label selector syntax tree (the subset of Calico's selector language that IPPool.nodeSelector uses).

export type SelectorNode =
  | { op: 'all' }
  | { op: 'has'; key: string }
  | { op: 'eq' | 'ne' | 'startsWith' | 'endsWith' | 'contains'; key: string; value: string }
  | { op: 'in' | 'notIn'; key: string; values: string[] }
  | { op: 'not'; operand: SelectorNode }
  | { op: 'and' | 'or'; operands: SelectorNode[] };

export class SelectorError extends Error {
  constructor(
    readonly selector: string,
    /** 0-based character index where the problem was found (the string's length means "at the end"). */
    readonly position: number,
    readonly reason: string,
  ) {
    super(`invalid selector ${JSON.stringify(abbreviate(selector))} at position ${position}: ${reason}`);
    this.name = 'SelectorError';
  }
}

/** Messages stay one readable line whatever the selector's size: long selectors are cut in the middle. */
function abbreviate(selector: string): string {
  return selector.length <= 120 ? selector : `${selector.slice(0, 80)}…${selector.slice(-30)}`;
}
