// The Docker feed's public surface, for the service (src/cli) to consume.
export { DockerFeed, type DockerFeedOptions, type DeltaBatch, type FeedSnapshot, type FeedState } from './feed.js';
export type { FeedDelta, ContainerAddress, PublishedPort, ModelIssue } from './docker-model.js';
export { DockerModel } from './docker-model.js';
export {
  NPTV6_LABEL, classifyNetwork, resolveDockerIp6tables,
  type DockerNetwork, type NetworkSubnet, type SubnetService, type Uplink, type Ip6tablesSetting, type ClassifyContext,
} from './classify.js';
export { EngineClient, CLIENT_API_VERSION, OLDEST_API_VERSION, type EngineEvent } from './client.js';
export { endpointFromEnv, parseDockerHost, describeEndpoint, DEFAULT_DOCKER_SOCKET, type DockerEndpoint } from './endpoint.js';
export { acquireInstanceLock, type InstanceLock } from './lock.js';
export type { ContainerInfo, PortBinding, PortProtocol } from './containers.js';
export { applyNdpDeltas, touchesNat, touchesShims, type NdpSink } from './consumers.js';
export type { ApiNetwork } from './api-types.js';
