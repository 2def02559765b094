// SPDX-License-Identifier: Apache-2.0
// Evaluates a parsed selector against a label set, with Calico's semantics: a missing label is never equal
// to anything, so `k != 'v'` and `k not in {...}` are true when k is absent.
import type { SelectorNode } from './ast.js';
import { parseSelector } from './parser.js';

export type Labels = Readonly<Record<string, string>>;

export function matchesSelector(node: SelectorNode, labels: Labels): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  switch (node.op) {
    case 'all':
      return true;
    case 'has':
      return has(node.key);
    case 'eq':
      return has(node.key) && labels[node.key] === node.value;
    case 'ne':
      return !(has(node.key) && labels[node.key] === node.value);
    case 'startsWith':
      return has(node.key) && labels[node.key].startsWith(node.value);
    case 'endsWith':
      return has(node.key) && labels[node.key].endsWith(node.value);
    case 'contains':
      return has(node.key) && labels[node.key].includes(node.value);
    case 'in':
      return has(node.key) && node.values.includes(labels[node.key]);
    case 'notIn':
      return !(has(node.key) && node.values.includes(labels[node.key]));
    case 'not':
      return !matchesSelector(node.operand, labels);
    case 'and':
      return node.operands.every((o) => matchesSelector(o, labels));
    case 'or':
      return node.operands.some((o) => matchesSelector(o, labels));
  }
}

/** Parses then matches; throws SelectorError for an invalid selector. */
export function selects(selector: string | undefined, labels: Labels): boolean {
  return matchesSelector(parseSelector(selector ?? ''), labels);
}
