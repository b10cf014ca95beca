// The data path's model: what the control plane (a static config file now,
// the Docker feed later) says should exist. Plain values, no behaviour; the
// service diffs an old model against a new one and touches only what changed.
//
// A model is *declared* (what the user or Docker said, with "auto" choices
// left open) and then *resolved* against the host (resolve.ts): external
// address modes chosen, external addresses picked, host ports reserved.

import type { FilteringMode, PortProtocol } from '../nat/engine-config.js';

/** How a masquerading network's external addresses are obtained. */
export type AddressMode =
  /** dedicated when the uplink has an on-link prefix with room, else host. */
  | 'auto'
  /** Addresses of the uplink's on-link prefix, not assigned to the host, NDP-proxied and routed into the TUN. */
  | 'dedicated'
  /** The host's own uplink address, within a reserved port range steered into the TUN at ingress. */
  | 'host';

export interface NetworkModel {
  /** Docker network name (messages, counters, the auto-picked address). */
  readonly name: string;
  /** The bridge the network's containers sit behind (the policy rule's iif). */
  readonly bridge: string;
  /** Inside subnets, e.g. "fd66:1::/64". */
  readonly subnets: readonly string[];
  /** masquerade (default): stateful NAPT66; nptv6: RFC 6296 prefix translation. */
  readonly mode?: 'masquerade' | 'nptv6';
  /** masquerade: default 'auto'. */
  readonly addressMode?: AddressMode;
  /**
   * masquerade: the outbound source address(es) (Docker's com.docker.network.host_ipv6).
   * In dedicated mode they must not be assigned to the host; in host mode, one of its addresses.
   */
  readonly externalAddresses?: readonly string[];
  /**
   * nptv6: the external prefix (same length as the single inside subnet), or
   * "auto": derived from the upstream prefix, and again when it changes (resolve.ts).
   */
  readonly externalPrefix?: string;
  readonly filtering?: FilteringMode;
  /** masquerade, dedicated mode: external ports handed out (default 1024..65535). */
  readonly portRange?: readonly [number, number];
}

export interface PublishedModel {
  readonly protocol: PortProtocol;
  /** Docker's HostIp: "", "0.0.0.0" and "::" mean every external address; an IPv6 only that one; an IPv4 is skipped unless mapped. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerAddress: string;
  readonly containerPort: number;
}

export interface DatapathModel {
  /** The interface facing the world (NDP proxy, external prefix discovery, host-mode steering). */
  readonly uplink: string;
  /** TUN name (default sixgate0). */
  readonly tun?: string;
  readonly networks: readonly NetworkModel[];
  readonly published: readonly PublishedModel[];
  /** Host-address mode: the host's ports sixgate owns (default 61000..61999), reserved from the host's ephemeral range. */
  readonly hostPortRange?: readonly [number, number];
  /**
   * Published ports on every address ("", "::", "0.0.0.0") also answer on
   * each global address of the uplink, as with docker-ipv6nat and Docker's
   * own ip6tables (`sixgate run`); otherwise only on the networks' external
   * addresses. A port published on one address the host has answers there
   * either way.
   */
  readonly publishOnHostAddresses?: boolean;
  /** Optional IPv4 HostIp → external IPv6 mapping for published ports (docker-ipv6nat #48). */
  readonly ipv4Map?: Readonly<Record<string, string>>;
  /** Extra destinations that never enter the TUN (other local prefixes, e.g. routed to other hosts). */
  readonly throwPrefixes?: readonly string[];
  /**
   * Bridges besides a network's own where its containers' packets may
   * arrive: a container on two networks sends through its default route,
   * which may be the other network's bridge, yet replies from its NAT'd
   * address must still be translated (every Docker bridge, for `sixgate run`).
   */
  readonly replyBridges?: readonly string[];
}

export const DEFAULT_TUN = 'sixgate0';
export const DEFAULT_HOST_PORT_RANGE: readonly [number, number] = [61000, 61999];

/** A network after resolution: every choice made. */
export interface ResolvedNetwork {
  readonly name: string;
  readonly bridge: string;
  readonly subnets: readonly string[];
  readonly mode: 'masquerade' | 'nptv6';
  /** masquerade only: 'dedicated' or 'host'. */
  readonly addressMode: 'dedicated' | 'host' | 'none';
  readonly externalAddresses: readonly string[];
  /**
   * dedicated mode, addresses picked from the uplink: the ones of its other
   * on-link prefixes (deprecated, or left from before a renumbering), kept
   * for the sessions on them; no new mapping is made on them.
   */
  readonly drainingAddresses?: readonly string[];
  readonly externalPrefix?: string;
  /** nptv6 auto: where the external prefix was derived from (a delegated prefix is routed to the host, not NDP-proxied). */
  readonly prefixFrom?: 'delegated' | 'on-link';
  readonly filtering?: FilteringMode;
  readonly portRange?: readonly [number, number];
  /**
   * dedicated mode: the host's own address on the network's bridge, the
   * source the host's sockets use towards the external addresses (plan.ts).
   */
  readonly localSource?: string;
}

export interface ResolvedPublished {
  readonly protocol: PortProtocol;
  /** undefined = every external address of the container's network; else one of them or one of the model's hostAddresses. */
  readonly externalAddress?: string;
  readonly externalPort: number;
  readonly insideAddress: string;
  readonly insidePort: number;
}

export interface ResolvedModel {
  readonly uplink: string;
  readonly tun: string;
  readonly networks: readonly ResolvedNetwork[];
  readonly published: readonly ResolvedPublished[];
  /**
   * Addresses of the host that take published ports and that no network
   * translates to (those of host mode are its network's): the uplink's
   * global ones with publishOnHostAddresses, and any the host has that a
   * port is published on. Sorted.
   */
  readonly hostAddresses: readonly string[];
  readonly hostPortRange: readonly [number, number];
  readonly throwPrefixes: readonly string[];
  readonly replyBridges: readonly string[];
  /** Prefixes delegated to the host (DHCPv6-PD): what no network uses of them is unreachable, never sent back upstream. */
  readonly delegatedPrefixes?: readonly string[];
}
