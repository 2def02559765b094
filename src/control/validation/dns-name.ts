// SPDX-License-Identifier: Apache-2.0
// Kubernetes' name rules on their own: the CNI plugin checks network names with them and must not load the
// manifest parser (YAML) or the selector grammar that the rest of validation/ needs.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' DNS-1123 subdomain: lowercase labels of [a-z0-9-] joined by dots, at most 253 characters. */
export function isDns1123Subdomain(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => DNS1123_LABEL.test(l));
}
