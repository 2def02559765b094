// SPDX-License-Identifier: Apache-2.0
// Checks shared by several kinds: document shape, metadata, unknown fields, scalar types.
import { isPlainObject } from '../model/parse.js';
import { parseIp } from '../model/cidr.js';
import { SelectorError, parseSelector } from '../selector/index.js';
import { isDns1123Subdomain } from './dns-name.js';
import type { Reporter } from './problem.js';

export { isDns1123Subdomain };

export const METADATA_FIELDS = ['name', 'labels', 'annotations', 'resourceVersion', 'creationTimestamp', 'uid', 'generation'];

/**
 * Reports fields a kind does not define. Unknown fields are errors: a misspelt `ipipmode` silently becoming
 * Never is exactly the kind of surprise this project exists to avoid.
 */
export function checkKnownFields(
  r: Reporter,
  path: string,
  obj: Record<string, unknown>,
  known: readonly string[],
  hint: ReadonlyMap<string, string> = new Map(),
): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const field = path ? `${path}.${key}` : key;
    const lower = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const suggestion = hint.get(key) ?? (lower ? `did you mean "${lower}"?` : `known fields: ${known.join(', ')}`);
    r.error(field, obj[key], `unknown field; ${suggestion}`);
  }
}

export function checkMetadata(r: Reporter, metadata: unknown, extraFields: readonly string[] = []): void {
  if (!isPlainObject(metadata)) {
    r.error('metadata', metadata, 'metadata must be a mapping with at least a name');
    return;
  }
  checkKnownFields(r, 'metadata', metadata, [...METADATA_FIELDS, ...extraFields]);
  const name = metadata.name;
  if (name === undefined || name === null || name === '') {
    r.error('metadata.name', name, 'name must be specified');
  } else if (typeof name !== 'string' || !isDns1123Subdomain(name)) {
    r.error(
      'metadata.name',
      name,
      'name must be a valid DNS-1123 subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, at most 253 characters',
    );
  }
  for (const key of ['labels', 'annotations'] as const) {
    const v = metadata[key];
    if (v === undefined) continue;
    if (!isPlainObject(v) || Object.values(v).some((x) => typeof x !== 'string')) {
      r.error(`metadata.${key}`, v, `${key} must be a mapping of strings to strings`);
    } else if (key === 'labels') {
      checkLabels(r, v as Record<string, string>);
    } else {
      checkAnnotations(r, v as Record<string, string>);
    }
  }
}

// Kubernetes' qualified names (label and annotation keys) and label values (apimachinery validation).
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why the key is no Kubernetes qualified name ("[prefix/]name"), or undefined when it is one. */
export function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && !isDns1123Subdomain(prefix)) {
    return 'the prefix before "/" must be a DNS-1123 subdomain (lowercase letters, digits, "-" and ".", at most 253 characters)';
  }
  if (name.length === 0 || name.length > 63) return 'the name part must be 1 to 63 characters';
  if (!QUALIFIED_NAME_PART.test(name)) {
    return 'the name part must consist of letters, digits, "-", "_" or "." and start and end with a letter or digit';
  }
  return undefined;
}

function checkLabels(r: Reporter, labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels)) {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) r.error('metadata.labels', key, `invalid label key: ${keyProblem}`);
    if (value.length > 63 || !LABEL_VALUE.test(value)) {
      r.error(
        'metadata.labels',
        value,
        `invalid value of label ${JSON.stringify(key)}: at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit (or empty)`,
      );
    }
  }
}

/** Kubernetes' limit on all annotations of an object together (keys and values, in bytes). */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

function checkAnnotations(r: Reporter, annotations: Record<string, string>): void {
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) r.error('metadata.annotations', key, `invalid annotation key: ${keyProblem}`);
    total += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (total > MAX_ANNOTATIONS_BYTES) {
    r.error('metadata.annotations', `<${total} bytes>`, `annotations may total at most ${MAX_ANNOTATIONS_BYTES} bytes (256 KiB), as in Kubernetes`);
  }
}

/** A selector field: absent, or a string the selector parser accepts (length and depth limits included). */
export function checkSelector(r: Reporter, field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'string') {
    r.error(field, value, 'must be a selector string, e.g. all()');
    return;
  }
  try {
    parseSelector(value);
  } catch (e) {
    if (!(e instanceof SelectorError)) throw e;
    r.error(field, value, e.message);
  }
}

export function checkBoolean(r: Reporter, field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') r.error(field, value, 'must be true or false');
}

/** Integer in [min, max]; `extra` lists further allowed values (e.g. 0 meaning "automatic"). */
export function checkIntRange(
  r: Reporter,
  field: string,
  value: unknown,
  min: number,
  max: number,
  message: string,
  extra: readonly number[] = [],
): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || ((value < min || value > max) && !extra.includes(value))) {
    r.error(field, value, message);
  }
}

export function checkIpv4Address(r: Reporter, field: string, value: unknown): void {
  if (value === undefined || value === '') return;
  if (typeof value !== 'string' || parseIp(value)?.family !== 4) {
    r.error(field, value, 'must be a valid IPv4 address, e.g. 192.168.0.1');
  }
}

const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

/** A 6-byte MAC whose group bit is clear (unicast) and which is not all zeroes. */
export function checkUnicastMac(r: Reporter, field: string, value: unknown): void {
  if (value === undefined || value === '') return;
  if (typeof value !== 'string' || !MAC_RE.test(value)) {
    r.error(field, value, 'must be a MAC address of six hex bytes, e.g. 66:aa:bb:cc:dd:ee');
    return;
  }
  const bytes = value.split(/[:-]/).map((b) => parseInt(b, 16));
  if ((bytes[0] & 1) === 1) r.error(field, value, 'must be a unicast MAC address (the first byte must be even)');
  else if (bytes.every((b) => b === 0)) r.error(field, value, 'must not be the all-zero MAC address');
}

export function checkString(r: Reporter, field: string, value: unknown): value is string {
  if (typeof value !== 'string') {
    r.error(field, value, 'must be a string');
    return false;
  }
  return true;
}
