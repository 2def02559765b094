// SPDX-License-Identifier: Apache-2.0
export { SelectorError, type SelectorNode } from './ast.js';
export { parseSelector } from './parser.js';
export { matchesSelector, selects, type Labels } from './matcher.js';
export { knownNamespaceLabels, namespaceSelectorAdmits } from './namespace.js';
