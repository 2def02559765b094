// Checks shared by several kinds: document shape, metadata, unknown fields, scalar types.
import { isPlainObject } from '../model/parse.js';
import { parseIp } from '../model/cidr.js';
import type { Reporter } from './problem.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' DNS-1123 subdomain: lowercase labels of [a-z0-9-] joined by dots, at most 253 characters. */
export function isDns1123Subdomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => DNS1123_LABEL.test(l));
}

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
  hint: Record<string, string> = {},
): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const field = path ? `${path}.${key}` : key;
    const lower = known.find((k) => k.toLowerCase() === key.toLowerCase());
    const suggestion = hint[key] ?? (lower ? `did you mean "${lower}"?` : `known fields: ${known.join(', ')}`);
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
    }
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
