// SPDX-License-Identifier: Apache-2.0
export { BirdPaths, DEFAULT_STATE_DIR } from './paths.js';
export { bgpEnabledFor, peerSelectsNode, planBgp, type BgpInputs, type BgpPlan, type PeerPlan, type PeerType } from './plan.js';
export { ORIGIN_PROTOCOL, renderBirdConfig } from './render.js';
export { parseLearnedRoutes, parseProtocols, type LearnedRoute, type ProtocolStatus } from './birdc.js';
export { allPeersEstablished, bgpStatusOf, readProtocols, renderBgpStatusTable, type BgpPeerStatus, type BgpStatus } from './status.js';
export { BirdSupervisor, checkBirdConfig, killBirdNow, stopStaleBird } from './supervisor.js';
export { BGP_READY_CHECK, BgpSyncer, readBgpInputs, readLearnedRoutes } from './syncer.js';
