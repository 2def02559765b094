// IPAM entry points for the agent and the CNI plugin.
export { addressesOfHandle, assignAddress, assignInTxn, releaseByHandle, releaseInTxn } from './allocate.js';
export { affinityName, blockName } from './blocks.js';
export { ensureTunnelAddress, ensureTunnelAddressInTxn, tunnelHandle } from './tunnel.js';
export * from './types.js';
export { assignRequestedAddress, RequestedAddressError } from './request.js';
