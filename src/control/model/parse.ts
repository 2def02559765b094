// SPDX-License-Identifier: Apache-2.0
// Reading manifests: YAML or JSON text, one or many documents, `kind: List`/`<Kind>List` wrappers expanded.
// Every document remembers where it came from so that validation can point at it. This module only shapes
// data; the rules live in src/control/validation/.
import YAML from 'yaml';
import {
  API_VERSION,
  type EncapMode,
  type IPPoolSpec,
  type OverlayConfigurationSpec,
  type Resource,
  type ResourceKind,
} from './types.js';
import { canonicalCidrText, canonicalIpText, parseCidr } from './cidr.js';
import { BGP_CONFIGURATION_FIELDS, BGP_PEER_FIELDS } from './bgp.js';

export interface SourceRef {
  file: string;
  /** 0-based index of the YAML document in the file. */
  document: number;
  /** 0-based index within a List's `items`, when the resource came from one. */
  item?: number;
}

/** Human form, 1-based like editors count: "pools.yaml document 2 item 1". */
export function describeSource(s: SourceRef): string {
  return `${s.file} document ${s.document + 1}${s.item === undefined ? '' : ` item ${s.item + 1}`}`;
}

export interface RawDocument {
  source: SourceRef;
  body: Record<string, unknown>;
}

export interface SourcedResource<R extends Resource = Resource> {
  resource: R;
  source: SourceRef;
}

export class ManifestError extends Error {
  constructor(
    readonly source: SourceRef,
    reason: string,
  ) {
    super(`${describeSource(source)}: ${reason}`);
    this.name = 'ManifestError';
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isListWrapper(body: Record<string, unknown>): boolean {
  const kind = body.kind;
  return typeof kind === 'string' && kind.endsWith('List') && Array.isArray(body.items);
}

/** Largest manifest read (bytes): a resource set far beyond any cluster's, small enough to judge in a second. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function sizeError(file: string, size: string): Error {
  return new Error(`${file}: the manifest is ${size}; at most ${MAX_MANIFEST_BYTES} bytes (4 MiB) are accepted`);
}

/** Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629), or -1 when every byte is. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i];
    if (lead < 0x80) {
      i++;
      continue;
    }
    const more = lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
    if (more === 0 || i + more >= bytes.length) return i;
    let cp = lead & (0x3f >> more);
    for (let k = 1; k <= more; k++) {
      if ((bytes[i + k] & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (bytes[i + k] & 0x3f);
    }
    const overlong = cp < (more === 1 ? 0x80 : more === 2 ? 0x800 : 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += more + 1;
  }
  return -1;
}

/**
 * Manifest bytes to text: strictly UTF-8 (an invalid byte is an error naming the file and offset, never silently
 * replaced by U+FFFD, which would store something other than what the user wrote), a leading BOM dropped, and
 * at most MAX_MANIFEST_BYTES.
 */
export function decodeManifest(bytes: Uint8Array, file: string): string {
  if (bytes.length > MAX_MANIFEST_BYTES) throw sizeError(file, `larger than ${MAX_MANIFEST_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${file}: not valid UTF-8 (first invalid byte at offset ${firstInvalidUtf8(bytes)}); manifests must be UTF-8 text`);
  }
}

/** Deepest nesting of flow collections ("[", "{") or chained block indicators read; real manifests nest a few. */
export const MAX_MANIFEST_NESTING = 100;

// The lexer's own markers, which stand for no source text.
const LEXER_MARKERS = new Set(['\x02', '\x18', '\x1f']);

/**
 * The line where collections nest deeper than `max`, or -1: flow collections ("[", "{") and block indicators
 * chained on one line ("- - - x"). YAML's own lexer finds them exactly, in linear time, and stops at the first
 * excess: the YAML parser needs seconds and up to 1.5 GB for a few MB of "[[[[..." or "- - - -..." before it
 * gives up. Nesting by indentation costs a character per level and line; the parser's own limit (reported as
 * "nested too deeply") stops that cheaply.
 */
export function excessiveNestingLine(text: string, max: number): number {
  let depth = 0;
  let chained = 0;
  let line = 1;
  for (const token of new YAML.Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      if (++depth > max) return line;
      chained = 0;
    } else if (token === ']' || token === '}') {
      if (depth > 0) depth--;
      chained = 0;
    } else if (token === '-' || token === '?') {
      if (++chained > max) return line;
    } else if (!/^[ \t]*$/.test(token)) {
      chained = 0;
    }
    if (!LEXER_MARKERS.has(token)) for (let i = token.indexOf('\n'); i >= 0; i = token.indexOf('\n', i + 1)) line++;
  }
  return -1;
}

/**
 * Splits manifest text into documents. JSON is valid YAML 1.2, so one parser reads both. Syntax errors throw
 * ManifestError naming the document and line; empty documents (a trailing `---`) are skipped.
 */
export function parseManifests(text: string, file: string): RawDocument[] {
  // Characters, not bytes, but never fewer: text this long is also too many bytes.
  if (text.length > MAX_MANIFEST_BYTES) throw sizeError(file, `${text.length} characters long`);
  const deepLine = excessiveNestingLine(text, MAX_MANIFEST_NESTING);
  if (deepLine >= 0) {
    throw new ManifestError({ file, document: 0 }, `nested deeper than ${MAX_MANIFEST_NESTING} levels (line ${deepLine}); not read`);
  }
  const out: RawDocument[] = [];
  let docs: ReturnType<typeof YAML.parseAllDocuments>;
  try {
    docs = YAML.parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    if (err instanceof RangeError) throw new ManifestError({ file, document: 0 }, 'nested too deeply to read');
    throw err;
  }
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, document) => {
    const source: SourceRef = { file, document };
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
      const where = first.linePos ? ` (line ${first.linePos[0].line}, column ${first.linePos[0].col})` : '';
      // The parser recurses per level of block nesting too: say so instead of relaying a stack overflow.
      if (first.message.includes('Maximum call stack size exceeded')) throw new ManifestError(source, `nested too deeply to read${where}`);
      throw new ManifestError(source, `invalid YAML/JSON${where}: ${first.message.split('\n')[0]}`);
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      if (err instanceof RangeError) throw new ManifestError(source, 'nested too deeply to read');
      throw new ManifestError(source, `cannot be read: ${(err as Error).message.split('\n')[0]}`);
    }
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => out.push(toRaw(item, { file, document, item: i })));
      return;
    }
    if (!isPlainObject(value)) {
      throw new ManifestError(source, `expected a resource (a mapping with apiVersion, kind, metadata, spec), got ${typeof value}`);
    }
    if (isListWrapper(value)) {
      (value.items as unknown[]).forEach((item, i) => out.push(toRaw(item, { file, document, item: i })));
      return;
    }
    out.push({ source, body: value });
  });
  return out;
}

function toRaw(item: unknown, source: SourceRef): RawDocument {
  if (!isPlainObject(item)) throw new ManifestError(source, 'each list item must be a resource mapping');
  return { source, body: item };
}

const ENCAP_MODES: readonly EncapMode[] = ['Never', 'Always', 'CrossSubnet'];

/**
 * bpf-overlay reads any capitalisation of the modes (the seed document itself writes "Crosssubnet"); validation
 * warns about every spelling other than the canonical one, which is all Calico's own validator accepts. Empty
 * means Never. Returns null for a value that is no mode at all.
 */
export function normalizeEncapMode(value: unknown): EncapMode | null {
  if (value === undefined || value === null || value === '') return 'Never';
  if (typeof value !== 'string') return null;
  return ENCAP_MODES.find((m) => m.toLowerCase() === value.toLowerCase()) ?? null;
}

/** True for the spellings Calico itself accepts: exactly Never, Always, CrossSubnet, or empty. */
export function isCanonicalEncapMode(value: unknown): boolean {
  return value === undefined || value === null || value === '' || (ENCAP_MODES as readonly unknown[]).includes(value);
}

export const DEFAULT_BLOCK_SIZE_V4 = 26;
export const DEFAULT_BLOCK_SIZE_V6 = 122;
export const DEFAULT_VXLAN_PORT = 4789;
export const DEFAULT_VXLAN_VNI = 4096;

/** Fills IPPool defaults the way Calico's defaulting does; values already present are kept. */
export function ippoolSpecWithDefaults(spec: Record<string, unknown>): IPPoolSpec {
  const cidr = typeof spec.cidr === 'string' ? spec.cidr : '';
  const family = parseCidr(cidr)?.family ?? 4;
  const out: IPPoolSpec = {
    cidr: canonicalCidrText(cidr) ?? cidr,
    ipipMode: normalizeEncapMode(spec.ipipMode) ?? 'Never',
    vxlanMode: normalizeEncapMode(spec.vxlanMode) ?? 'Never',
    natOutgoing: spec.natOutgoing === true,
    disabled: spec.disabled === true,
    blockSize: typeof spec.blockSize === 'number' ? spec.blockSize : family === 6 ? DEFAULT_BLOCK_SIZE_V6 : DEFAULT_BLOCK_SIZE_V4,
    nodeSelector: typeof spec.nodeSelector === 'string' && spec.nodeSelector.trim() !== '' ? spec.nodeSelector : 'all()',
  };
  if (typeof spec.disableBGPExport === 'boolean') out.disableBGPExport = spec.disableBGPExport;
  if (Array.isArray(spec.allowedUses)) out.allowedUses = spec.allowedUses.map(String);
  if (typeof spec.assignmentMode === 'string') out.assignmentMode = spec.assignmentMode;
  if (typeof spec.namespaceSelector === 'string' && spec.namespaceSelector.trim() !== '') out.namespaceSelector = spec.namespaceSelector;
  return out;
}

/** OverlayConfiguration values with defaults, as the compiler consumes them. */
export function overlayConfigWithDefaults(spec: OverlayConfigurationSpec = {}): Required<OverlayConfigurationSpec> {
  return {
    vxlanPort: spec.vxlanPort ?? DEFAULT_VXLAN_PORT,
    vxlanVNI: spec.vxlanVNI ?? DEFAULT_VXLAN_VNI,
    mtu: spec.mtu ?? 0,
    decapHook: spec.decapHook ?? 'tc',
  };
}

/**
 * FelixConfiguration fields that bpf-overlay maps onto OverlayConfiguration. Felix's vxlanMTU and ipipMTU
 * are the MTUs of its tunnel devices, which are also what workloads get; bpf-overlay has one workload MTU, so
 * when both are set the smaller wins (Felix likewise hands the CNI the smallest MTU of the enabled
 * encapsulations). Every other Felix field is reported as ignored by validation, never silently applied.
 */
export const FELIX_MAPPED_FIELDS = ['vxlanPort', 'vxlanVNI', 'vxlanMTU', 'ipipMTU'] as const;

export function felixToOverlaySpec(spec: Record<string, unknown>): OverlayConfigurationSpec {
  const out: OverlayConfigurationSpec = {};
  if (typeof spec.vxlanPort === 'number') out.vxlanPort = spec.vxlanPort;
  if (typeof spec.vxlanVNI === 'number') out.vxlanVNI = spec.vxlanVNI;
  const mtus = [spec.vxlanMTU, spec.ipipMTU].filter((m): m is number => typeof m === 'number' && m > 0);
  if (mtus.length > 0) out.mtu = Math.min(...mtus);
  return out;
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (!isPlainObject(v)) return undefined;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]));
}

/** Stored CIDRs and addresses are canonical, so that every reader (and every string comparison) agrees. */
function cidrText(text: string): string {
  return canonicalCidrText(text) ?? text;
}

function ipText(text: string): string {
  return canonicalIpText(text) ?? text;
}

// BGP specs are kept as written (calicoctl shows them so); defaults are applied where they are used.
function pickFields(spec: Record<string, unknown>, fields: readonly string[]): never {
  return Object.fromEntries(fields.filter((f) => spec[f] !== undefined && spec[f] !== '').map((f) => [f, spec[f]])) as never;
}

function normalizeMac(mac: string): string {
  return mac.toLowerCase().replace(/-/g, ':');
}

/**
 * Converts a document that validation accepted into a typed resource with defaults filled and modes
 * normalized. FelixConfiguration becomes an OverlayConfiguration with the Felix resource's name.
 */
export function toResource(doc: RawDocument): Resource {
  const body = doc.body;
  const meta = isPlainObject(body.metadata) ? body.metadata : {};
  const spec = isPlainObject(body.spec) ? body.spec : {};
  const metadata: Resource['metadata'] = { name: String(meta.name ?? '') };
  const labels = stringRecord(meta.labels);
  const annotations = stringRecord(meta.annotations);
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;
  if (typeof meta.resourceVersion === 'string') metadata.resourceVersion = meta.resourceVersion;
  if (typeof meta.creationTimestamp === 'string') metadata.creationTimestamp = meta.creationTimestamp;
  const kind = body.kind as ResourceKind | 'FelixConfiguration';
  switch (kind) {
    case 'IPPool':
      return { apiVersion: API_VERSION, kind, metadata, spec: ippoolSpecWithDefaults(spec) };
    case 'Node': {
      const nodeSpec: Record<string, unknown> = {};
      if (isPlainObject(spec.bgp)) {
        const bgp: Record<string, string | number> = {};
        if (typeof spec.bgp.ipv4Address === 'string') bgp.ipv4Address = cidrText(spec.bgp.ipv4Address);
        if (typeof spec.bgp.ipv4IPIPTunnelAddr === 'string') bgp.ipv4IPIPTunnelAddr = ipText(spec.bgp.ipv4IPIPTunnelAddr);
        if (typeof spec.bgp.asNumber === 'string' || typeof spec.bgp.asNumber === 'number') bgp.asNumber = spec.bgp.asNumber;
        if (typeof spec.bgp.routeReflectorClusterID === 'string') bgp.routeReflectorClusterID = ipText(spec.bgp.routeReflectorClusterID);
        nodeSpec.bgp = bgp;
      }
      if (typeof spec.ipv4VXLANTunnelAddr === 'string') nodeSpec.ipv4VXLANTunnelAddr = ipText(spec.ipv4VXLANTunnelAddr);
      if (typeof spec.vxlanTunnelMACAddr === 'string') nodeSpec.vxlanTunnelMACAddr = normalizeMac(spec.vxlanTunnelMACAddr);
      return { apiVersion: API_VERSION, kind, metadata, spec: nodeSpec };
    }
    case 'BlockAffinity':
      return {
        apiVersion: API_VERSION,
        kind,
        metadata,
        spec: {
          node: String(spec.node ?? ''),
          cidr: cidrText(String(spec.cidr ?? '')),
          ...(typeof spec.state === 'string' ? { state: spec.state as 'confirmed' | 'pending' | 'pendingDeletion' } : {}),
          ...(typeof spec.deleted === 'boolean' ? { deleted: spec.deleted } : {}),
        },
      };
    case 'OverlayConfiguration':
      return { apiVersion: API_VERSION, kind, metadata, spec: { ...(spec as OverlayConfigurationSpec) } };
    case 'FelixConfiguration':
      return { apiVersion: API_VERSION, kind: 'OverlayConfiguration', metadata, spec: felixToOverlaySpec(spec) };
    case 'BGPConfiguration':
      return { apiVersion: API_VERSION, kind, metadata, spec: pickFields(spec, BGP_CONFIGURATION_FIELDS) };
    case 'BGPPeer':
      return { apiVersion: API_VERSION, kind, metadata, spec: pickFields(spec, BGP_PEER_FIELDS) };
    case 'WorkloadEndpoint': {
      const wep = { ...spec } as Record<string, unknown>;
      if (typeof wep.mac === 'string') wep.mac = normalizeMac(wep.mac);
      if (typeof wep.hostMac === 'string') wep.hostMac = normalizeMac(wep.hostMac);
      if (Array.isArray(wep.ipNetworks)) wep.ipNetworks = wep.ipNetworks.map((n) => (typeof n === 'string' ? cidrText(n) : n));
      return { apiVersion: API_VERSION, kind, metadata, spec: wep as never };
    }
    default:
      throw new ManifestError(doc.source, `unsupported kind ${JSON.stringify(body.kind)}`);
  }
}

export type OutputFormat = 'yaml' | 'json';

function dropUndefined(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

/**
 * Renders resources for `get -o yaml|json` like calicoctl: one resource prints as itself, several as a
 * `<Kind>List` (or `List` when kinds are mixed) with `items`.
 */
export function serializeResources(resources: readonly Resource[], format: OutputFormat): string {
  let value: unknown;
  if (resources.length === 1) {
    value = dropUndefined(resources[0]);
  } else {
    const kinds = new Set(resources.map((r) => r.kind));
    const kind = kinds.size === 1 ? `${[...kinds][0]}List` : 'List';
    value = { apiVersion: API_VERSION, kind, items: resources.map(dropUndefined) };
  }
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : YAML.stringify(value);
}
