// SPDX-License-Identifier: Apache-2.0
// IPAM entry points for the agent, the CNI plugin and the CLI.
export { addressesOfHandle, assignAddress, assignInTxn, releaseByHandle, releaseInTxn } from './allocate.js';
export { affinityName, blockName } from './blocks.js';
export { checkIpam, type IpamCheckInput, type IpamProblem, type IpamReport } from './check.js';
export { planNodeDeletion, type NodeRelease } from './delete-node.js';
export { planPoolDeletion, poolUsage, PoolInUseError, type DeletePoolResult, type PoolUsage } from './delete-pool.js';
export { runSteps, type Step } from './steps.js';
export { ensureTunnelAddress, ensureTunnelAddressInTxn, tunnelHandle } from './tunnel.js';
export * from './types.js';
export { assignRequestedAddress, RequestedAddressError } from './request.js';
