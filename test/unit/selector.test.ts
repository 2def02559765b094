// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { SelectorError, knownNamespaceLabels, namespaceSelectorAdmits, parseSelector, selects } from '../../src/control/selector/index.js';

const labels = {
  'kubernetes.io/hostname': 'node1',
  zone: 'a',
  'topology.kubernetes.io/region': 'eu-west_1',
  rack: 'r1',
};

describe('selector matching', () => {
  const table: Array<[string, boolean]> = [
    ['', true],
    ['   ', true],
    ['all()', true],
    ["zone == 'a'", true],
    ['zone == "a"', true],
    ["zone == 'b'", false],
    ["zone != 'b'", true],
    ["zone != 'a'", false],
    ["missing != 'a'", true],
    ["missing == 'a'", false],
    ['has(zone)', true],
    ['has(missing)', false],
    ['!has(missing)', true],
    ['!has(zone)', false],
    ["zone in {'a','b'}", true],
    ['zone in { "b" , "c" }', false],
    ['zone in {}', false],
    ["zone not in {'b'}", true],
    ["zone not in {'a'}", false],
    ["missing not in {'a'}", true],
    ["missing in {'a'}", false],
    ["kubernetes.io/hostname == 'node1'", true],
    ["topology.kubernetes.io/region == 'eu-west_1'", true],
    ["zone == 'a' && rack == 'r1'", true],
    ["zone == 'a' && rack == 'r2'", false],
    ["zone == 'x' || rack == 'r1'", true],
    ["zone == 'x' || rack == 'r2'", false],
    ["!(zone == 'a')", false],
    ["!(zone == 'x') && has(rack)", true],
    // && binds tighter than ||
    ["zone == 'x' && has(rack) || has(zone)", true],
    ["zone == 'x' && (has(rack) || has(zone))", false],
    ["!!has(zone)", true],
    ["rack starts with 'r'", true],
    ["rack ends with '2'", false],
    ["topology.kubernetes.io/region contains 'west'", true],
    ["index == 'x'", false],
  ];
  it.each(table)('%s -> %s', (sel, expected) => {
    expect(selects(sel, labels)).toBe(expected);
  });

  it('treats a key named like a keyword as a key', () => {
    expect(selects("in == 'x'", { in: 'x' })).toBe(true);
    expect(selects("all == 'x'", { all: 'x' })).toBe(true);
  });
});

describe('selector parse tree', () => {
  it('builds and/or with precedence', () => {
    expect(parseSelector("a == '1' || b == '2' && !has(c)")).toEqual({
      op: 'or',
      operands: [
        { op: 'eq', key: 'a', value: '1' },
        { op: 'and', operands: [{ op: 'eq', key: 'b', value: '2' }, { op: 'not', operand: { op: 'has', key: 'c' } }] },
      ],
    });
  });
});

describe('selector errors name the position', () => {
  const table: Array<[string, number, string]> = [
    ['x == ', 5, 'expected a quoted value'],
    ['x == v', 5, 'expected a quoted value'],
    ["x == 'v", 5, 'unterminated quoted value'],
    ['x', 1, 'expected an operator'],
    ["x = 'v'", 2, 'expected an operator'],
    ["(x == 'v'", 9, 'expected ")"'],
    ["x == 'v')", 8, 'unexpected ")"'],
    ["x in {'a' 'b'}", 10, 'expected "," or "}"'],
    ["x in 'a'", 5, 'expected "{"'],
    ["x not 'a'", 6, 'expected "in" after "not"'],
    ["&& x == 'a'", 0, 'expected a label key'],
    ["x == 'a' &&", 11, 'expected a label key'],
    ['has(', 4, 'expected a label key inside "has()"'],
    ['has(x', 5, 'expected ")" after the label key'],
    ['all(', 4, 'expected ")" after "all("'],
  ];
  it.each(table)('%s -> position %i', (sel, position, reason) => {
    let caught: unknown;
    try {
      parseSelector(sel);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(SelectorError);
    const err = caught as SelectorError;
    expect(err.position).toBe(position);
    expect(err.reason).toContain(reason);
    expect(err.message).toContain(`invalid selector ${JSON.stringify(sel)} at position ${position}: `);
  });

  it('formats the message as documented', () => {
    expect(() => parseSelector('x == ')).toThrow('invalid selector "x == " at position 5: expected a quoted value');
  });
});

describe('namespaceSelector from the namespace name alone', () => {
  it('matches the labels every namespace carries', () => {
    expect(knownNamespaceLabels('team-a')).toEqual({ 'kubernetes.io/metadata.name': 'team-a', 'projectcalico.org/name': 'team-a' });
    expect(namespaceSelectorAdmits("kubernetes.io/metadata.name == 'team-a'", 'team-a')).toBe(true);
    expect(namespaceSelectorAdmits("projectcalico.org/name in {'x', 'team-a'}", 'team-a')).toBe(true);
    expect(namespaceSelectorAdmits("kubernetes.io/metadata.name == 'team-a'", 'team-b')).toBe(false);
  });
  it('treats other namespace labels as absent, and a workload without namespace as having no labels', () => {
    expect(namespaceSelectorAdmits("env == 'prod'", 'team-a')).toBe(false);
    expect(namespaceSelectorAdmits("env != 'prod'", 'team-a')).toBe(true);
    expect(namespaceSelectorAdmits("has(kubernetes.io/metadata.name)", undefined)).toBe(false);
    expect(namespaceSelectorAdmits('all()', undefined)).toBe(true);
  });
  it('admits everyone without a selector', () => {
    expect(namespaceSelectorAdmits(undefined, 'x')).toBe(true);
    expect(namespaceSelectorAdmits('  ', undefined)).toBe(true);
  });
});

describe('selector limits', () => {
  it('refuses nesting deeper than 64 with a SelectorError, at any length', () => {
    expect(() => parseSelector(`${'('.repeat(64)}has(a)${')'.repeat(64)}`)).not.toThrow();
    expect(() => parseSelector(`${'('.repeat(65)}has(a)${')'.repeat(65)}`)).toThrow(SelectorError);
    expect(() => parseSelector(`${'!('.repeat(33)}has(a)${')'.repeat(33)}`)).toThrow('nested deeper than 64 levels');
    expect(() => parseSelector('('.repeat(16_000))).toThrow(SelectorError);
  });
  it('refuses selectors over 16 KiB without reading them', () => {
    expect(() => parseSelector(`has(${'a'.repeat(20_000)})`)).toThrow(/the selector is 20005 characters long; at most 16384 are accepted$/);
  });
});
