// Host state for the control layer: tools run without a shell, policy
// routing, sysctls, interface and prefix discovery, startup checks, and
// ingress steering for host-address mode.
export { run, hasTool, assertIfname, ipBatch, ipJson, HostCommandError, type BatchResult } from './run.js';
export { SIXGATE_TABLE, SIXGATE_RULE_PRIORITY, SIXGATE_PROTO, SIXGATE_TC_PRIORITY } from './tags.js';
export { readSysctl, writeSysctl, parsePortList, formatPortList, coversRange } from './sysctl.js';
export {
  parseIfInet6, readAddresses, linkLocalAddresses, globalAddresses, interfaceGlobals, parseRoutes, readRoutes,
  routeReplaceLines, routeRemoveLine, watchRoutes, type IfAddress, type HostRoute,
} from './interfaces.js';
export {
  readPolicy, diffPolicy, applyPolicy, cleanupPolicy, canonicalPrefix, ruleKey, routeKey, EMPTY_POLICY,
  type PolicyRule, type PolicyRoute, type PolicyState, type PolicyDiff,
} from './policy.js';
export { checkHost, kernelNatSubnets, effectiveCaps, hasCap, CAP_NET_ADMIN, CAP_NET_RAW, type CheckResult } from './checks.js';
export { applySteering, hookKey, removeSteering, removeAllSteering, steeringFilters, portBlocks, ICMP_ERRORS, ICMP_ECHO_REPLY, type SteerSpec, type SteerHook, type SteeringState } from './steering.js';
export { applyPeerRoutes, readPeerRoutes, peerRouteLines, type PeerRouteTable } from './peer-routes.js';
