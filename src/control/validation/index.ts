// SPDX-License-Identifier: Apache-2.0
// Validation of a batch of manifest documents: every problem of every document is collected, each naming
// kind, name, field, value and source, so that one run shows everything to fix.
import {
  describeSource,
  isPlainObject,
  parseManifests,
  toResource,
  type RawDocument,
  type SourcedResource,
} from '../model/parse.js';
import type { IPAMBlock, StoredResource } from '../datastore/types.js';
import { parseCidr } from '../model/cidr.js';
import { CidrIndex } from './cidr-index.js';
import { API_VERSION, RESOURCE_KINDS, type IPPool, type Node, type WorkloadEndpoint } from '../model/types.js';
import { checkKnownFields, checkMetadata } from './common.js';
import { validateBlockAffinitySpec } from './blockaffinity.js';
import { validateIPPoolBatch, validateIPPoolSpec, type NodeAddress, type PoolCandidate } from './ippool.js';
import { validateNodeSpec } from './node.js';
import { validateFelixConfigurationSpec, validateOverlayConfigurationSpec } from './overlayconfig.js';
import { Reporter, ValidationFailedError, type Problem } from './problem.js';
import {
  addressOwners,
  checkWorkloadAddresses,
  validateWorkloadEndpointSpec,
  type AddressOwners,
} from './workloadendpoint.js';
import { validateBGPConfigurationSpec, validateBGPPeerSpec } from './bgp.js';

export { formatProblem, goFieldPath, ValidationFailedError, type Problem, type Severity } from './problem.js';
export { isDns1123Subdomain } from './common.js';
export { addressOwners, type AddressOwners } from './workloadendpoint.js';

export interface ValidationResult {
  /** True when no problem is an error (warnings allowed). */
  ok: boolean;
  problems: Problem[];
  /** Typed resources (defaults filled, modes normalized) of the documents without errors. */
  resources: SourcedResource[];
}

const ACCEPTED_KINDS: readonly string[] = [...RESOURCE_KINDS, 'FelixConfiguration'];

/** The kind a document becomes once accepted: FelixConfiguration turns into OverlayConfiguration. */
function storedKind(kind: string): string {
  return kind === 'FelixConfiguration' ? 'OverlayConfiguration' : kind;
}

export interface ValidationOptions {
  /**
   * Validation without the datastore (`validate --offline`): checks that need the datastore's records (a
   * WorkloadEndpoint's addresses held in IPAM) are skipped instead of failing.
   */
  offline?: boolean;
}

interface NodeDocument {
  name: string;
  spec: Record<string, unknown>;
  reporter: Reporter;
}

interface WorkloadDocument {
  metadata: unknown;
  spec: Record<string, unknown>;
  reporter: Reporter;
}

/** The underlay address of a Node spec (typed or raw), when it has a valid one. */
function nodeAddressOf(node: string, spec: { bgp?: unknown }): NodeAddress | null {
  const bgp = isPlainObject(spec.bgp) ? spec.bgp : {};
  const text = bgp.ipv4Address;
  const cidr = typeof text === 'string' ? parseCidr(text) : null;
  return cidr && typeof text === 'string' ? { node, text, family: cidr.family, value: cidr.addr } : null;
}

/**
 * Validates documents against each other and against `existing` (the datastore's current records: pools for
 * overlap and for the immutability of an existing pool's CIDR and blockSize, nodes whose addresses pools must
 * avoid, IPAM blocks that must hold a WorkloadEndpoint's addresses).
 */
export function validateDocuments(
  docs: readonly RawDocument[],
  existing: readonly StoredResource[] = [],
  options: ValidationOptions = {},
): ValidationResult {
  const problems: Problem[] = [];
  const accepted: RawDocument[] = [];
  const pools: PoolCandidate[] = [];
  const nodeDocs: NodeDocument[] = [];
  const workloadDocs: WorkloadDocument[] = [];
  const seen = new Map<string, RawDocument>();

  for (const doc of docs) {
    const body = doc.body;
    const kind = typeof body.kind === 'string' ? body.kind : '';
    const meta = isPlainObject(body.metadata) ? body.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : '';
    const r = new Reporter(kind || '<no kind>', name, doc.source, problems);

    if (body.apiVersion !== API_VERSION) {
      r.error('apiVersion', body.apiVersion, `unsupported apiVersion; bpf-overlay reads ${API_VERSION} resources`);
    }
    if (!ACCEPTED_KINDS.includes(kind)) {
      r.error('kind', body.kind, `unsupported kind; must be one of ${ACCEPTED_KINDS.join(', ')}`);
      continue;
    }
    checkKnownFields(r, '', body, kind === 'Node' ? ['apiVersion', 'kind', 'metadata', 'spec', 'status'] : ['apiVersion', 'kind', 'metadata', 'spec']);
    checkMetadata(r, body.metadata, kind === 'WorkloadEndpoint' ? ['namespace'] : []);

    const key = `${storedKind(kind)}/${name}`;
    const earlier = seen.get(key);
    if (name && earlier) {
      r.error('metadata.name', name, `${storedKind(kind)} "${name}" is also defined in ${describeSource(earlier.source)}`);
    } else if (name) {
      seen.set(key, doc);
    }

    const spec = body.spec ?? (kind === 'Node' || kind === 'OverlayConfiguration' || kind === 'FelixConfiguration' || kind === 'BGPConfiguration' ? {} : undefined);
    if (!isPlainObject(spec)) {
      r.error('spec', body.spec, 'spec must be a mapping');
      continue;
    }
    switch (kind) {
      case 'IPPool': {
        const cidr = validateIPPoolSpec(r, spec);
        if (cidr && name && !earlier) {
          pools.push({ name, cidrText: String(spec.cidr), cidr, spec, reporter: r, source: doc.source });
        }
        break;
      }
      case 'Node':
        validateNodeSpec(r, spec);
        if (name && !earlier) nodeDocs.push({ name, spec, reporter: r });
        break;
      case 'BlockAffinity':
        validateBlockAffinitySpec(r, spec);
        break;
      case 'OverlayConfiguration':
        validateOverlayConfigurationSpec(r, spec);
        break;
      case 'FelixConfiguration':
        validateFelixConfigurationSpec(r, spec);
        break;
      case 'WorkloadEndpoint':
        validateWorkloadEndpointSpec(r, spec);
        workloadDocs.push({ metadata: body.metadata, spec, reporter: r });
        break;
      case 'BGPConfiguration':
        validateBGPConfigurationSpec(r, name, spec);
        break;
      case 'BGPPeer':
        validateBGPPeerSpec(r, spec);
        break;
    }
    accepted.push(doc);
  }

  const existingPools = existing.filter((x): x is IPPool => x.kind === 'IPPool');
  const batchNodes = new Set(nodeDocs.map((n) => n.name));
  const keptNodes = existing.filter((x): x is Node => x.kind === 'Node' && !batchNodes.has(x.metadata.name));
  const nodeAddresses = [
    ...keptNodes.map((n) => nodeAddressOf(n.metadata.name, n.spec)),
    ...nodeDocs.map((n) => nodeAddressOf(n.name, n.spec)),
  ].filter((a): a is NodeAddress => a !== null);
  validateIPPoolBatch(pools, existingPools, nodeAddresses);
  const batchPools = new Set(pools.map((c) => c.name));
  checkNodesOutsidePools(nodeDocs, existingPools.filter((p) => !batchPools.has(p.metadata.name)));

  if (!options.offline && workloadDocs.length > 0) {
    const blocks = existing.filter((x): x is IPAMBlock => x.kind === 'IPAMBlock');
    const nodes = [...keptNodes, ...nodeDocs.map((n) => ({ metadata: { name: n.name }, spec: n.spec as Node['spec'] }))];
    const owners = addressOwners(blocks, nodes);
    for (const w of workloadDocs) checkWorkloadAddresses(w.reporter, w.metadata, w.spec, owners);
  }

  // A document is converted only when none of the problems above (including batch ones) belong to it.
  const failedSources = new Set(problems.filter((p) => p.severity === 'error').map((p) => p.source));
  const resources: SourcedResource[] = [];
  for (const doc of accepted) {
    if (!failedSources.has(doc.source)) resources.push({ resource: toResource(doc), source: doc.source });
  }
  // Batch rules report after the per-document ones: list every problem in document order (stable within one).
  problems.sort((a, b) => a.source.document - b.source.document || (a.source.item ?? -1) - (b.source.item ?? -1));
  return { ok: !problems.some((p) => p.severity === 'error'), problems, resources };
}

/** A new or changed Node may not sit inside a pool that stays (the batch's own pools are judged by their nodes). */
function checkNodesOutsidePools(nodeDocs: readonly NodeDocument[], pools: readonly IPPool[]): void {
  const index = new CidrIndex<IPPool>();
  for (const p of pools) {
    const cidr = parseCidr(p.spec.cidr);
    if (cidr) index.add(cidr, p);
  }
  for (const n of nodeDocs) {
    const address = nodeAddressOf(n.name, n.spec);
    if (!address) continue;
    for (const pool of index.containing(address.family, address.value, address.family === 4 ? 32 : 128)) {
      n.reporter.error(
        'spec.bgp.ipv4Address',
        address.text,
        `lies in IPPool(${pool.metadata.name}) CIDR ${pool.spec.cidr}; a node's underlay address may not be inside a pool`,
      );
    }
  }
}

/** Parse + validate. Syntax errors throw ManifestError (there are no documents to judge then). */
export function loadManifests(
  text: string,
  file: string,
  existing: readonly StoredResource[] = [],
  options: ValidationOptions = {},
): ValidationResult {
  return validateDocuments(parseManifests(text, file), existing, options);
}

/** Returns the resources, or throws ValidationFailedError listing every error. */
export function requireValid(result: ValidationResult): SourcedResource[] {
  if (!result.ok) throw new ValidationFailedError(result.problems);
  return result.resources;
}

/**
 * The errors of a WorkloadEndpoint already in the datastore (the CNI writes them directly), judged by the same
 * rules as `apply`: for the agent, which must not act on an endpoint that fails them.
 */
export function workloadEndpointProblems(wep: WorkloadEndpoint, owners: AddressOwners): Problem[] {
  const problems: Problem[] = [];
  const r = new Reporter('WorkloadEndpoint', wep.metadata.name, { file: 'datastore', document: 0 }, problems);
  const spec = wep.spec as unknown as Record<string, unknown>;
  validateWorkloadEndpointSpec(r, spec);
  checkWorkloadAddresses(r, wep.metadata, spec, owners);
  return problems.filter((p) => p.severity === 'error');
}
