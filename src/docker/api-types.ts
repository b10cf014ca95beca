// The parts of Docker Engine API responses the feed reads (API 1.41, Docker
// 20.10, through 1.48+). Every field is optional: engines differ between
// versions and the feed must keep serving what it can from a partial answer.

export interface ApiIpamConfig {
  Subnet?: string;
  Gateway?: string;
}

/** GET /networks and GET /networks/{id} */
export interface ApiNetwork {
  Name?: string;
  Id?: string;
  Driver?: string;
  Scope?: string;
  EnableIPv6?: boolean;
  Internal?: boolean;
  IPAM?: { Config?: ApiIpamConfig[] | null } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/** One entry of NetworkSettings.Networks (container list and inspect). */
export interface ApiEndpoint {
  NetworkID?: string;
  EndpointID?: string;
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
  IPv6Gateway?: string;
  MacAddress?: string;
}

/** GET /containers/json entry: the allocated ports as a flat list. */
export interface ApiContainerSummary {
  Id?: string;
  Names?: string[];
  State?: string;
  Labels?: Record<string, string> | null;
  Ports?: Array<{ IP?: string; PrivatePort?: number; PublicPort?: number; Type?: string }> | null;
  NetworkSettings?: { Networks?: Record<string, ApiEndpoint> | null } | null;
}

export interface ApiPortBinding {
  HostIp?: string;
  HostPort?: string;
}

/** GET /containers/{id}/json */
export interface ApiContainerInspect {
  Id?: string;
  Name?: string;
  State?: { Running?: boolean; Status?: string } | null;
  Config?: { Labels?: Record<string, string> | null } | null;
  HostConfig?: { PortBindings?: Record<string, ApiPortBinding[] | null> | null } | null;
  NetworkSettings?: {
    Ports?: Record<string, ApiPortBinding[] | null> | null;
    Networks?: Record<string, ApiEndpoint & { SecondaryIPv6Addresses?: Array<{ Addr?: string; PrefixLen?: number }> | null }> | null;
  } | null;
}

/** GET /version */
export interface ApiVersion {
  Version?: string;
  ApiVersion?: string;
  MinAPIVersion?: string;
}

/** GET /info */
export interface ApiInfo {
  ID?: string;
  ServerVersion?: string;
  ExperimentalBuild?: boolean;
  /** Docker 28.1+. */
  FirewallBackend?: { Driver?: string } | null;
}

/** One line of GET /events */
export interface ApiEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> | null } | null;
  time?: number;
  timeNano?: number;
}
