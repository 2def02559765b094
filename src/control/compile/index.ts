// SPDX-License-Identifier: Apache-2.0
export { compile, encapName, nodeAddress, poolEncap, routeKindName } from './compile.js';
export { ENCAP_OVERHEAD, workloadMtu } from './mtu.js';
export { NFT_FAMILY, natOutgoingRuleset, natOutgoingTeardown, nftTableName, type NftOptions } from './nft.js';
export type { CompileInput, DesiredState, NatOutgoingState, RouteDecision } from './types.js';
