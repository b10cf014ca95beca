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
//  - steering (src/host/steering.ts) of the host's own addresses: on the
//    uplink's ingress, per address, its published ports, and in host-address
//    mode the reserved range and the ICMPv6 that may be sixgate's; the
//    reserved range is kept out of the host's ephemeral ports. Locally
//    originated traffic to them is steered where it leaves: the host's own
//    connections at `lo`'s egress, containers' at their bridge's ingress,
//    where also a published container's answers to the host's connections
//    are caught before the local table delivers them untranslated;
//  - the NAT66 engine's NatConfig and published ports; networks in host mode
//    behind the same address are one engine network (their subnets
//    together), so one port allocator serves them all and an inbound packet
//    to the address finds its session whichever network it belongs to. The
//    host's other addresses that take published ports are one more engine
//    network, HOST_NETWORK, first (so networks coming and going never move
//    it), with no inside subnet: nothing leaves from them, and the sessions
//    of published ports on them count there.
import type { NatConfig, NatNetwork, PublishedPort } from '../nat/engine-config.js';
import type { PolicyRoute, PolicyRule, PolicyState } from '../host/policy.js';
import { ICMP_ECHO_REPLY, ICMP_ERRORS, type SteerHook, type SteerSpec } from '../host/steering.js';
import { parseIpv6 } from '../wire/address.js';
import { Protocol } from '../wire/ipv6.js';
import type { ResolvedModel, ResolvedPublished } from './nat-model.js';
import { networkOfAddress } from './resolve.js';

const PROTO_NUMBER = { tcp: Protocol.Tcp, udp: Protocol.Udp, sctp: Protocol.Sctp } as const;

export interface HostPlan {
  readonly policy: PolicyState;
  /** Exact addresses the NDP proxy answers on the uplink. */
  readonly ndpAddresses: readonly string[];
  /** Prefixes the NDP proxy answers for (static rules) on the uplink. */
  readonly ndpPrefixes: readonly string[];
  /** The uplink's ingress first, then `lo`'s egress and the bridges' ingress (locally originated traffic). */
  readonly steering: readonly SteerHook[];
  /** Host ports to keep out of the host's ephemeral range, or undefined when no network uses host mode. */
  readonly reservedPorts?: readonly [number, number];
}

/** The engine network holding the host's addresses that take published ports (not a Docker network name: those have no parentheses). */
export const HOST_NETWORK = '(host)';

export function hostPlan(m: ResolvedModel): HostPlan {
  const rules: PolicyRule[] = [];
  const routes: PolicyRoute[] = [{ dst: 'default', type: 'unicast', dev: m.tun, table: 'sixgate' }];
  const throws = new Set<string>(['fe80::/10', ...m.throwPrefixes]);
  const ndpAddresses: string[] = [];
  const ndpPrefixes: string[] = [];
  let reserved: [number, number] | undefined;
  /** Host-mode addresses: where sixgate also owns the reserved range. */
  const hostMode = new Set<string>();
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
      hostMode.add(n.externalAddresses[0]!);
    }
  }
  for (const t of throws) routes.push({ dst: t, type: 'throw', table: 'sixgate' });
  for (const r of [...routes]) if (r.type === 'unicast') routes.push({ dst: r.dst, type: 'unreachable', table: r.table });
  // The parts of a delegated prefix no network uses: dropped here, not routed back to the router that routes them here (a loop).
  for (const p of m.delegatedPrefixes ?? []) routes.push({ dst: p, type: 'unreachable', table: 'main' });
  return { policy: { rules, routes }, ndpAddresses, ndpPrefixes, steering: steeringHooks(m, hostMode, reserved), reservedPorts: reserved };
}

/** Every host address sixgate translates on → the published ports that answer there. */
function publishedOnHost(m: ResolvedModel, hostMode: ReadonlySet<string>): Map<string, ResolvedPublished[]> {
  const on = new Map<string, ResolvedPublished[]>([...hostMode, ...m.hostAddresses].map((a) => [a, []]));
  for (const p of m.published) {
    const net = networkOfAddress(m.networks, parseIpv6(p.insideAddress));
    for (const a of p.externalAddress !== undefined ? [p.externalAddress] : net?.externalAddresses ?? []) on.get(a)?.push(p);
  }
  return on;
}

function steeringHooks(m: ResolvedModel, hostMode: ReadonlySet<string>, reserved: readonly [number, number] | undefined): SteerHook[] {
  const uplink: SteerSpec[] = [];
  const loopback: SteerSpec[] = [];
  const bridges: SteerSpec[] = [];
  for (const [address, list] of publishedOnHost(m, hostMode)) {
    const own = hostMode.has(address);
    if (!own && list.length === 0) continue;
    const bytes = parseIpv6(address);
    const ports = list.map((p) => ({ protocol: PROTO_NUMBER[p.protocol], lo: p.externalPort, hi: p.externalPort }));
    const range = own ? Object.values(PROTO_NUMBER).map((protocol) => ({ protocol, lo: reserved![0], hi: reserved![1] })) : [];
    uplink.push({ address: bytes, ports: [...range, ...ports], icmpTypes: own ? [...ICMP_ERRORS, ICMP_ECHO_REPLY] : ICMP_ERRORS });
    if (list.length > 0) loopback.push({ address: bytes, ports });
    const from = list.map((p) => ({ protocol: PROTO_NUMBER[p.protocol], address: parseIpv6(p.insideAddress), port: p.insidePort }));
    bridges.push({ address: bytes, ports: [...range, ...ports], from });
  }
  if (uplink.length === 0) return [];
  const devices = [...new Set([...m.networks.map((n) => n.bridge), ...m.replyBridges])].sort();
  return [
    { dev: m.uplink, direction: 'ingress', specs: uplink },
    ...(loopback.length > 0 ? [{ dev: 'lo', direction: 'egress' as const, specs: loopback }] : []),
    ...devices.map((dev) => ({ dev, direction: 'ingress' as const, specs: bridges })),
  ];
}

/** The engine's configuration (networks only; the published ports are natPublished). */
export function natConfig(m: ResolvedModel, extra: Partial<NatConfig> = {}): NatConfig {
  const networks: NatNetwork[] = [];
  if (m.hostAddresses.length > 0) {
    networks.push({ name: HOST_NETWORK, insideSubnets: [], mode: 'masquerade', externalAddresses: [...m.hostAddresses], hostOwned: true });
  }
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
      ...(n.addressMode === 'host' ? { hostOwned: true } : {}),
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
