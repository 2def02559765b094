// SPDX-License-Identifier: Apache-2.0
// Recursive-descent parser for Calico selectors. Precedence, loosest first: `||`, `&&`, unary `!`.
import { SelectorError, type SelectorNode } from './ast.js';

const KEY_CHAR = /[A-Za-z0-9_./-]/;

/** Longest selector accepted (characters): far beyond any real one, small enough to parse in microseconds. */
export const MAX_SELECTOR_LENGTH = 16 * 1024;
/** Deepest nesting of "(" and "!" accepted: the parser and the matcher recurse once per level. */
export const MAX_SELECTOR_DEPTH = 64;

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly text: string) {}

  parseAll(): SelectorNode {
    if (this.text.length > MAX_SELECTOR_LENGTH) {
      this.fail(`the selector is ${this.text.length} characters long; at most ${MAX_SELECTOR_LENGTH} are accepted`, MAX_SELECTOR_LENGTH);
    }
    this.skipSpace();
    if (this.pos === this.text.length) return { op: 'all' };
    const node = this.parseOr();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected ${JSON.stringify(this.text[this.pos])}`);
    return node;
  }

  private fail(reason: string, at = this.pos): never {
    throw new SelectorError(this.text, at, reason);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private eat(token: string): boolean {
    this.skipSpace();
    if (this.text.startsWith(token, this.pos)) {
      this.pos += token.length;
      return true;
    }
    return false;
  }

  /** Consumes a keyword only when it is a whole word, so that a key such as "index" is not read as "in". */
  private eatWord(word: string): boolean {
    this.skipSpace();
    const end = this.pos + word.length;
    if (this.text.startsWith(word, this.pos) && !(end < this.text.length && KEY_CHAR.test(this.text[end]))) {
      this.pos = end;
      return true;
    }
    return false;
  }

  private parseOr(): SelectorNode {
    const operands = [this.parseAnd()];
    while (this.eat('||')) operands.push(this.parseAnd());
    return operands.length === 1 ? operands[0] : { op: 'or', operands };
  }

  private parseAnd(): SelectorNode {
    const operands = [this.parseUnary()];
    while (this.eat('&&')) operands.push(this.parseUnary());
    return operands.length === 1 ? operands[0] : { op: 'and', operands };
  }

  /** Enters one level of "(" or "!"; refuses to go deeper than MAX_SELECTOR_DEPTH. */
  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_SELECTOR_DEPTH) this.fail(`nested deeper than ${MAX_SELECTOR_DEPTH} levels of "(" and "!"`);
    const node = parse();
    this.depth--;
    return node;
  }

  private parseUnary(): SelectorNode {
    this.skipSpace();
    if (this.text[this.pos] === '!' && this.text[this.pos + 1] !== '=') {
      this.pos++;
      return this.nested(() => ({ op: 'not', operand: this.parseUnary() }));
    }
    return this.parsePrimary();
  }

  private parsePrimary(): SelectorNode {
    this.skipSpace();
    if (this.eat('(')) {
      return this.nested(() => {
        const inner = this.parseOr();
        if (!this.eat(')')) this.fail('expected ")"');
        return inner;
      });
    }
    const keyStart = this.pos;
    const key = this.readKey();
    if (key === null) this.fail('expected a label key, "all()", "has(key)", "!" or "("');
    if (key === 'all' && this.eat('(')) {
      if (!this.eat(')')) this.fail('expected ")" after "all("');
      return { op: 'all' };
    }
    if (key === 'has' && this.eat('(')) {
      const inner = this.readKey();
      if (inner === null) this.fail('expected a label key inside "has()"');
      if (!this.eat(')')) this.fail('expected ")" after the label key');
      return { op: 'has', key: inner };
    }
    return this.parseComparison(key, keyStart);
  }

  private parseComparison(key: string, keyStart: number): SelectorNode {
    if (this.eat('==')) return { op: 'eq', key, value: this.readQuoted() };
    if (this.eat('!=')) return { op: 'ne', key, value: this.readQuoted() };
    if (this.eatWord('in')) return { op: 'in', key, values: this.readSet() };
    if (this.eatWord('not')) {
      if (!this.eatWord('in')) this.fail('expected "in" after "not"');
      return { op: 'notIn', key, values: this.readSet() };
    }
    if (this.eatWord('starts')) {
      if (!this.eatWord('with')) this.fail('expected "with" after "starts"');
      return { op: 'startsWith', key, value: this.readQuoted() };
    }
    if (this.eatWord('ends')) {
      if (!this.eatWord('with')) this.fail('expected "with" after "ends"');
      return { op: 'endsWith', key, value: this.readQuoted() };
    }
    if (this.eatWord('contains')) return { op: 'contains', key, value: this.readQuoted() };
    this.skipSpace();
    const hint = this.pos === this.text.length ? '' : ` (label key ${JSON.stringify(key)} at position ${keyStart})`;
    this.fail(`expected an operator: ==, !=, in, not in, starts with, ends with or contains${hint}`);
  }

  private readKey(): string | null {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.text.length && KEY_CHAR.test(this.text[this.pos])) this.pos++;
    return this.pos > start ? this.text.slice(start, this.pos) : null;
  }

  private readQuoted(): string {
    this.skipSpace();
    const quote = this.text[this.pos];
    if (quote !== '"' && quote !== "'") this.fail('expected a quoted value');
    const start = this.pos;
    const end = this.text.indexOf(quote, start + 1);
    if (end < 0) this.fail('unterminated quoted value', start);
    this.pos = end + 1;
    return this.text.slice(start + 1, end);
  }

  private readSet(): string[] {
    if (!this.eat('{')) this.fail('expected "{" to start a set of quoted values');
    const values: string[] = [];
    if (this.eat('}')) return values;
    for (;;) {
      values.push(this.readQuoted());
      if (this.eat('}')) return values;
      if (!this.eat(',')) this.fail('expected "," or "}" in the set');
    }
  }
}

/** Parses a Calico selector; the empty (or blank) selector selects everything, like all(). */
export function parseSelector(text: string): SelectorNode {
  return new Parser(text).parseAll();
}
