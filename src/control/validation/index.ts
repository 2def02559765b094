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
import { API_VERSION, RESOURCE_KINDS, type IPPool, type Resource } from '../model/types.js';
import { checkKnownFields, checkMetadata } from './common.js';
import { validateBlockAffinitySpec } from './blockaffinity.js';
import { validateIPPoolBatch, validateIPPoolSpec, type PoolCandidate } from './ippool.js';
import { validateNodeSpec } from './node.js';
import { validateFelixConfigurationSpec, validateOverlayConfigurationSpec } from './overlayconfig.js';
import { Reporter, ValidationFailedError, type Problem } from './problem.js';
import { validateWorkloadEndpointSpec } from './workloadendpoint.js';
import { validateBGPConfigurationSpec, validateBGPPeerSpec } from './bgp.js';

export { formatProblem, goFieldPath, ValidationFailedError, type Problem, type Severity } from './problem.js';
export { isDns1123Subdomain } from './common.js';

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

/**
 * Validates documents against each other and against `existing` (the datastore's current resources, used
 * for pool overlap and for the immutability of an existing pool's CIDR and blockSize).
 */
export function validateDocuments(docs: readonly RawDocument[], existing: readonly Resource[] = []): ValidationResult {
  const problems: Problem[] = [];
  const accepted: RawDocument[] = [];
  const pools: PoolCandidate[] = [];
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
  validateIPPoolBatch(pools, existingPools);

  // A document is converted only when none of the problems above (including batch ones) belong to it.
  const failedSources = new Set(problems.filter((p) => p.severity === 'error').map((p) => p.source));
  const resources: SourcedResource[] = [];
  for (const doc of accepted) {
    if (!failedSources.has(doc.source)) resources.push({ resource: toResource(doc), source: doc.source });
  }
  return { ok: !problems.some((p) => p.severity === 'error'), problems, resources };
}

/** Parse + validate. Syntax errors throw ManifestError (there are no documents to judge then). */
export function loadManifests(text: string, file: string, existing: readonly Resource[] = []): ValidationResult {
  return validateDocuments(parseManifests(text, file), existing);
}

/** Returns the resources, or throws ValidationFailedError listing every error. */
export function requireValid(result: ValidationResult): SourcedResource[] {
  if (!result.ok) throw new ValidationFailedError(result.problems);
  return result.resources;
}
