// SPDX-License-Identifier: Apache-2.0
// Resources with test defaults, shared by the datastore contracts, unit tests and the namespace-cluster lab
// (which bench and demo use too, so nothing here may import vitest).
import { API_VERSION, type IPPool, type WorkloadEndpoint } from '../../src/control/model/types.js';

export function testPool(name: string, cidr: string, spec: Partial<IPPool['spec']> = {}): IPPool {
  return {
    apiVersion: API_VERSION,
    kind: 'IPPool',
    metadata: { name },
    spec: {
      cidr,
      ipipMode: 'Never',
      vxlanMode: 'Always',
      natOutgoing: false,
      disabled: false,
      blockSize: 26,
      nodeSelector: 'all()',
      ...spec,
    },
  };
}

/** A WorkloadEndpoint of a node with placeholder interface facts (datastore and cache tests). */
export function testEndpoint(name: string, node: string, spec: Partial<WorkloadEndpoint['spec']> = {}): WorkloadEndpoint {
  return {
    apiVersion: API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: { name },
    spec: {
      node,
      containerID: name,
      interfaceName: 'eth0',
      hostInterface: 'bo0',
      hostIfindex: 1,
      hostMac: '02:00:00:00:00:01',
      mac: '02:00:00:00:00:02',
      ipNetworks: ['10.9.0.1/32'],
      pool: 'p',
      ...spec,
    },
  };
}
