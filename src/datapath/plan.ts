// Resolved model → the host state and NAT configuration it implies. Pure.
//
//  - policy routing (src/host/policy.ts): per network subnet a rule
//    `from SUBNET iif BRIDGE lookup sixgate`, for the network's own bridge
//    and every reply bridge (a container on two networks whose default
//    route is the other one: its replies from the NAT'd address arrive on
//    that bridge and must still be translated); sixgate's table holds the
//    default route into the TUN plus throw routes for every inside subnet,
//    link-local and the configured extra prefixes (traffic to the host
//    itself never gets that far: the local table is consulted first);
//    main-table routes send dedicated external addresses and NPTv6 external
//    prefixes into the TUN, a dedicated address's with the host's address on
//    the network's bridge as the source for the host's own connections
//    (resolve.ts: so published ports answer the host too); every TUN route has an unreachable twin with a
//    worse metric, so traffic is dropped, never forwarded untranslated, while
//    the TUN is gone (policy.ts);
//  - a delegated prefix: unreachable in the main table (its /64s in use are
//    routed into the TUN, more specific), as RFC 7084 WPD-5 asks of a
//    requesting router;
//  - NDP: dedicated external addresses are answered as exact /128s, NPTv6
//    external prefixes as static rules, on the uplink (not a delegated
//    prefix's: the router routes it to the host);
//  - host-address mode: ingress steering of the reserved range and the
//    published ports (one set per host address, whatever number of networks
//    it serves), and the reserved range kept out of the host's ephemeral ports;
//  - the NAT66 engine's NatConfig and published ports; networks in host mode
//    behind the same address are one engine network (their subnets
//    together), so one port allocator serves them all and an inbound packet
//    to the address finds its session whichever network it belongs to.
import type { NatConfig, NatNetwork, PublishedPort } from '../nat/engine-config.js';
import type { PolicyRoute, PolicyRule, PolicyState } from '../host/policy.js';
import type { SteerSpec } from '../host/steering.js';
import { parseIpv6, prefixesOverlap } from '../wire/address.js';
import { Protocol } from '../wire/ipv6.js';
import type { ResolvedModel } from './nat-model.js';

const PROTO_NUMBER = { tcp: Protocol.Tcp, udp: Protocol.Udp, sctp: Protocol.Sctp } as const;

export interface HostPlan {
  readonly policy: PolicyState;
  /** Exact addresses the NDP proxy answers on the uplink. */
  readonly ndpAddresses: readonly string[];
  /** Prefixes the NDP proxy answers for (static rules) on the uplink. */
  readonly ndpPrefixes: readonly string[];
  readonly steering: readonly SteerSpec[];
  /** Host ports to keep out of the host's ephemeral range, or undefined when no network uses host mode. */
  readonly reservedPorts?: readonly [number, number];
}

export function hostPlan(m: ResolvedModel): HostPlan {
  const rules: PolicyRule[] = [];
  const routes: PolicyRoute[] = [{ dst: 'default', type: 'unicast', dev: m.tun, table: 'sixgate' }];
  const throws = new Set<string>(['fe80::/10', ...m.throwPrefixes]);
  const ndpAddresses: string[] = [];
  const ndpPrefixes: string[] = [];
  const steering: SteerSpec[] = [];
  let reserved: [number, number] | undefined;
  const hostModeSubnets = new Map<string, string[]>();
  for (const n of m.networks) {
    const bridges = new Set([n.bridge, ...m.replyBridges]);
    for (const s of n.subnets) {
      for (const iif of bridges) rules.push({ from: s, iif });
      throws.add(s);
    }
    if (n.mode === 'nptv6') {
      routes.push({ dst: n.externalPrefix!, type: 'unicast', dev: m.tun, table: 'main' });
      if (n.prefixFrom !== 'delegated') ndpPrefixes.push(n.externalPrefix!);
    } else if (n.addressMode === 'dedicated') {
      for (const e of [...n.externalAddresses, ...(n.drainingAddresses ?? [])]) {
        routes.push({ dst: `${e}/128`, type: 'unicast', dev: m.tun, table: 'main', ...(n.localSource === undefined ? {} : { src: n.localSource }) });
        ndpAddresses.push(e);
      }
    } else if (n.addressMode === 'host') {
      reserved = [...(n.portRange ?? m.hostPortRange)];
      const address = n.externalAddresses[0]!;
      hostModeSubnets.set(address, [...(hostModeSubnets.get(address) ?? []), ...n.subnets]);
    }
  }
  for (const [address, subnets] of hostModeSubnets) {
    const [lo, hi] = reserved!;
    const ports: Array<{ protocol: number; lo: number; hi: number }> = [];
    for (const proto of Object.values(PROTO_NUMBER)) ports.push({ protocol: proto, lo, hi });
    for (const p of m.published) {
      if (p.externalAddress !== undefined && p.externalAddress !== address) continue;
      if (!subnets.some((s) => prefixesOverlap(s, p.insideAddress))) continue;
      ports.push({ protocol: PROTO_NUMBER[p.protocol], lo: p.externalPort, hi: p.externalPort });
    }
    steering.push({ address: parseIpv6(address), ports });
  }
  for (const t of throws) routes.push({ dst: t, type: 'throw', table: 'sixgate' });
  for (const r of [...routes]) if (r.type === 'unicast') routes.push({ dst: r.dst, type: 'unreachable', table: r.table });
  // The parts of a delegated prefix no network uses: dropped here, not routed back to the router that routes them here (a loop).
  for (const p of m.delegatedPrefixes ?? []) routes.push({ dst: p, type: 'unreachable', table: 'main' });
  return { policy: { rules, routes }, ndpAddresses, ndpPrefixes, steering, reservedPorts: reserved };
}

/** The engine's configuration (networks only; the published ports are natPublished). */
export function natConfig(m: ResolvedModel, extra: Partial<NatConfig> = {}): NatConfig {
  const networks: NatNetwork[] = [];
  /** Host address → the engine network serving it (named after every network it holds: "web+db"). */
  const behindHost = new Map<string, NatNetwork>();
  for (const n of m.networks) {
    if (n.mode === 'nptv6') {
      networks.push({ name: n.name, insideSubnets: [...n.subnets], mode: 'nptv6', externalPrefix: n.externalPrefix });
      continue;
    }
    const shared = n.addressMode === 'host' ? behindHost.get(n.externalAddresses[0]!) : undefined;
    if (shared !== undefined) {
      shared.name += `+${n.name}`;
      shared.insideSubnets.push(...n.subnets);
      continue;
    }
    const net: NatNetwork = {
      name: n.name, insideSubnets: [...n.subnets], mode: 'masquerade', externalAddresses: [...n.externalAddresses],
      ...(n.drainingAddresses === undefined ? {} : { drainingAddresses: [...n.drainingAddresses] }),
      ...(n.portRange ? { portRange: [n.portRange[0], n.portRange[1]] as [number, number] } : {}),
      ...(n.filtering ? { filtering: n.filtering } : {}),
    };
    if (n.addressMode === 'host') behindHost.set(n.externalAddresses[0]!, net);
    networks.push(net);
  }
  return { ...extra, networks, published: [] };
}

export function natPublished(m: ResolvedModel): PublishedPort[] {
  return m.published.map((p) => ({ ...p }));
}

export function publishedKey(p: PublishedPort): string {
  return `${p.protocol} [${p.externalAddress ?? '*'}]:${p.externalPort} -> [${p.insideAddress}]:${p.insidePort}`;
}
