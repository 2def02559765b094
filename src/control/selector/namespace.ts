// SPDX-License-Identifier: Apache-2.0
// IPPool.namespaceSelector as the CNI plugin can honour it. The plugin knows the pod's namespace from CNI_ARGS
// (K8S_POD_NAMESPACE) but does not ask the Kubernetes API server for the namespace's labels. It matches the
// selector against the labels every Kubernetes namespace carries by definition:
//   kubernetes.io/metadata.name = NAMESPACE   (set by the API server on every namespace since Kubernetes 1.21)
//   projectcalico.org/name      = NAMESPACE   (Calico's own label for a namespace's name)
// so `kubernetes.io/metadata.name == 'team-a'` or `projectcalico.org/name in {'a', 'b'}` select namespaces by
// name. Selectors on other namespace labels match as if the label were absent. A workload without a namespace
// (no K8S_POD_NAMESPACE) has no labels at all.
import type { Labels } from './matcher.js';
import { selects } from './matcher.js';

export function knownNamespaceLabels(namespace: string | undefined): Labels {
  if (!namespace) return {};
  return { 'kubernetes.io/metadata.name': namespace, 'projectcalico.org/name': namespace };
}

/** Does a pool's namespaceSelector admit a workload of this namespace? An absent selector admits everyone. */
export function namespaceSelectorAdmits(namespaceSelector: string | undefined, namespace: string | undefined): boolean {
  if (namespaceSelector === undefined || namespaceSelector.trim() === '') return true;
  return selects(namespaceSelector, knownNamespaceLabels(namespace));
}
