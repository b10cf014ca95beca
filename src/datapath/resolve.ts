// Declared model + what the host looks like → resolved model. Pure: the host
// facts come in as values (the service reads them), so every choice here is
// testable without a kernel.
//
// Address-mode choice for a masquerading network ('auto'):
//  - the uplink has a global address with an on-link prefix of /126 or
//    shorter → dedicated: an address of that prefix derived from the network
//    name (stable across restarts, so a snapshot stays valid), never one the
//    host holds;
//  - the uplink has only /128s (e.g. a cloud VM with one address) → host:
//    the host's own address within the reserved port range.
//
// A dedicated address picked from the uplink follows its prefixes: new
// mappings are made on the address of a preferred prefix; every other
// on-link prefix of the uplink (deprecated, or left over from before a
// renumbering) keeps its address as a draining one, so the sessions on it
// carry on while the kernel keeps the prefix (its valid lifetime) and end
// when it goes.
//
// An NPTv6 network whose external prefix is `auto` maps to a prefix derived
// from the upstream one, again after every change of it:
//  - a /64 of a delegated prefix (DHCPv6-PD) when there is one: the whole
//    /64 is the host's, routed to it by the router, so nothing on the link
//    can hold an address in it; which /64 is a hash of the network name
//    (stable across restarts), the next free one if another network has it;
//  - otherwise a range of the uplink's current on-link prefix, as long as
//    the inside subnet (which must be longer than the on-link prefix, e.g. a
//    /80 of a /64): the bits between the two are a hash of the network name,
//    never 0 and never a range holding one of the host's own addresses.
//    The NDP proxy answers for the whole range (a static rule), DAD probes
//    included, so no other host can configure an address in it while sixgate
//    runs (its duplicate address detection fails, RFC 4862 §5.4.5, and SLAAC
//    picks another); a host that configured one there before sixgate started
//    is the one case left (with random interface identifiers, one chance in
//    65,536 per host for a /80).
//
// Host mode serves every network that asks for it behind one host address:
// the engine gets them as one masquerading network (plan.ts), so one port
// allocator hands out the reserved range and the published ports of all of
// them, and an inbound packet finds its session whatever network it is for.
// The address is the one source selection prefers (RFC 6724 §5 rule 3, and
// Linux's default of public over temporary addresses): global, not
// deprecated, not temporary ("secondary" in `ip addr`); where several are
// left, the rules would only tell them apart by the destination (rule 8) or
// by the order they were added, so the lowest is taken: the same one after
// every restart, whatever order the addresses came in.
//
// Published ports: "", "::" and "0.0.0.0" mean the network's external
// addresses, and with publishOnHostAddresses each global address of the
// uplink as well (one entry per address, so each is steered and counted
// on its own; a port another container already has there is left to it,
// with a note); a specific address may be any one the host has.
import { ConfigError } from '../errors.js';
import { clearHostBits, compareAddress, formatIpv6, matchesPrefix, parseIpv6, parseIpv6Prefix, tryParseIpv6 } from '../wire/address.js';
import {
  DEFAULT_HOST_PORT_RANGE, DEFAULT_TUN,
  type DatapathModel, type NetworkModel, type PublishedModel, type ResolvedModel, type ResolvedNetwork, type ResolvedPublished,
} from './nat-model.js';

export interface UplinkAddress {
  readonly address: string;
  readonly prefixLength: number;
  /** The kernel's IFA_F_* flags (/proc/net/if_inet6); absent = a plain permanent address. */
  readonly flags?: number;
}

/** IFA_F_TEMPORARY (also IFA_F_SECONDARY) and IFA_F_DEPRECATED: never the source of choice. */
const IFA_F_TEMPORARY = 0x01;
export const IFA_F_DEPRECATED = 0x20;

/** The host address host mode translates to: the preferred global one (see above), or undefined. */
export function preferredHostAddress(addresses: readonly UplinkAddress[]): string | undefined {
  const usable = addresses.filter((a) => ((a.flags ?? 0) & (IFA_F_TEMPORARY | IFA_F_DEPRECATED)) === 0);
  const pool = (usable.length > 0 ? usable : addresses).map((a) => parseIpv6(a.address));
  pool.sort((x, y) => compareAddress(x, 0, y, 0));
  return pool[0] === undefined ? undefined : formatIpv6(pool[0], 0);
}

/**
 * The uplink's on-link prefixes ("2001:db8:1::/64"), the current one first:
 * the first with an address that is not deprecated (where every one is,
 * the first); then the others in the order the kernel lists them.
 */
export function onLinkPrefixes(addresses: readonly UplinkAddress[]): string[] {
  const preferred: string[] = [];
  const deprecated: string[] = [];
  for (const a of addresses) {
    if (a.prefixLength > 126) continue;
    const prefix = `${formatIpv6(clearHostBits(parseIpv6(a.address), a.prefixLength), 0)}/${a.prefixLength}`;
    ((a.flags ?? 0) & IFA_F_DEPRECATED) === 0 ? preferred.push(prefix) : deprecated.push(prefix);
  }
  return [...new Set([...preferred, ...deprecated])];
}

export interface HostFacts {
  /** Global addresses on the uplink. */
  readonly uplinkAddresses: readonly UplinkAddress[];
  /** Prefixes delegated to the host (DHCPv6-PD), the current one first. */
  readonly delegatedPrefixes?: readonly string[];
  /** Global and ULA addresses of every interface (bridges among them). */
  readonly localAddresses?: ReadonlyArray<{ readonly dev: string; readonly address: string }>;
}

/**
 * The host's own address on `bridge` inside one of `subnets` (Docker's
 * gateway address), or undefined. The host's connections to a dedicated
 * address leave from it, so they come into the TUN from inside the network
 * and the engine hairpins them like a container's: the container's answer
 * then goes back through the TUN as well. From any other host address the
 * answer, addressed to the host, would be delivered straight to the host
 * untranslated (the local table comes before sixgate's rules) and the
 * host's TCP would reset it.
 */
function bridgeAddress(facts: HostFacts, bridge: string, subnets: readonly string[]): string | undefined {
  for (const a of facts.localAddresses ?? []) {
    if (a.dev !== bridge) continue;
    const bytes = parseIpv6(a.address);
    if (subnets.some((s) => { const p = parseIpv6Prefix(s); return matchesPrefix(bytes, 0, p.address, 0, p.length); })) return a.address;
  }
  return undefined;
}

export interface Resolution {
  readonly model: ResolvedModel;
  /** Things skipped or chosen, for log lines (never fatal). */
  readonly notes: readonly string[];
}

function fnv16(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return ((h >>> 16) ^ h) & 0xffff;
}

/** The dedicated address sixgate picks for `name` inside prefix/length (avoiding `taken`). */
export function pickDedicated(prefix: Uint8Array, length: number, name: string, taken: readonly Uint8Array[]): Uint8Array {
  const hostBits = 128 - length;
  for (let attempt = 0; attempt < 64; attempt++) {
    const h = (fnv16(name) + attempt * 0x9e37) & 0xffff;
    // ::5167:HHHH where there is room ("S6" + a hash); just the hash in small prefixes.
    let iid = hostBits >= 32 ? (0x51670000 | h) >>> 0 : h;
    if (hostBits < 32) iid &= (2 ** hostBits) - 1;
    if (iid === 0) continue;
    const addr = prefix.slice();
    for (let byte = 0; byte < 16; byte++) {
      const keep = Math.max(0, Math.min(8, length - byte * 8));
      const mask = (0xff << (8 - keep)) & 0xff;
      const iidByte = byte >= 12 ? (iid >>> (8 * (15 - byte))) & 0xff : 0;
      addr[byte] = (addr[byte]! & mask) | (iidByte & ~mask);
    }
    if (!taken.some((t) => formatIpv6(t, 0) === formatIpv6(addr, 0))) return addr;
  }
  throw new ConfigError(`no free address for network ${name} in ${formatIpv6(prefix, 0)}/${length}`);
}

function netWhere(n: { readonly name: string }): string {
  return `network ${JSON.stringify(n.name)}`;
}

/** The external prefix an NPTv6 network declares to derive from the upstream prefix. */
export const AUTO_PREFIX = 'auto';

/** `base` with the `bits` bits after its first `from` set to `value` (the rest of the address left as it is). */
function withBits(base: Uint8Array, from: number, bits: number, value: number): Uint8Array {
  const out = base.slice();
  for (let i = 0; i < bits; i++) {
    const bit = from + i;
    const on = ((value >>> (bits - 1 - i)) & 1) === 1;
    out[bit >> 3] = on ? out[bit >> 3]! | (0x80 >> (bit & 7)) : out[bit >> 3]! & ~(0x80 >> (bit & 7));
  }
  return out;
}

/**
 * The external prefix of an `auto` NPTv6 network (see the file comment):
 * `taken` holds the prefixes other auto networks already have.
 */
export function autoNptPrefix(name: string, inside: string, facts: HostFacts, taken: readonly string[]): { prefix: string; from: 'delegated' | 'on-link' } {
  const length = parseIpv6Prefix(inside).length;
  const delegated = facts.delegatedPrefixes?.[0];
  const base = delegated ?? onLinkPrefixes(facts.uplinkAddresses)[0];
  const where = `network ${JSON.stringify(name)}: nptv6 auto`;
  if (base === undefined) throw new ConfigError(`${where} needs a delegated prefix or an on-link prefix on the uplink (it has neither)`);
  const b = parseIpv6Prefix(base);
  if (delegated !== undefined) {
    if (b.length > 64) throw new ConfigError(`${where}: the delegated prefix ${base} is longer than /64`);
    if (length < 64) throw new ConfigError(`${where} maps a /64 of the delegated prefix; the subnet ${inside} is shorter`);
  } else if (length <= b.length) {
    throw new ConfigError(`${where} on the on-link prefix ${base} needs an inside subnet longer than /${b.length} (e.g. /${Math.min(b.length + 16, 112)}), or a delegated prefix`);
  }
  // The bits chosen: which /64 of a delegated prefix, which range of an on-link one.
  const bits = Math.min(16, (delegated !== undefined ? 64 : length) - b.length);
  const own = facts.uplinkAddresses.map((a) => parseIpv6(a.address));
  for (let attempt = 0; attempt < 64; attempt++) {
    const value = ((fnv16(name) + attempt * 0x9e37) & 0xffff) >>> (16 - bits);
    if (value === 0 && delegated === undefined) continue;
    const prefix = `${formatIpv6(clearHostBits(withBits(b.address, b.length, bits, value), length), 0)}/${length}`;
    const p = parseIpv6Prefix(prefix);
    if (taken.includes(prefix) || own.some((a) => matchesPrefix(a, 0, p.address, 0, p.length))) continue;
    return { prefix, from: delegated !== undefined ? 'delegated' : 'on-link' };
  }
  throw new ConfigError(`${where}: no free range in ${base}`);
}

function resolveNetwork(n: NetworkModel, facts: HostFacts, hostRange: readonly [number, number], notes: string[], taken: string[]): ResolvedNetwork {
  const mode = n.mode ?? 'masquerade';
  if (mode === 'nptv6') {
    if (n.externalPrefix === undefined) throw new ConfigError(`${netWhere(n)}: nptv6 needs externalPrefix`);
    if (n.externalPrefix === AUTO_PREFIX) {
      const auto = autoNptPrefix(n.name, n.subnets[0]!, facts, taken);
      taken.push(auto.prefix);
      return { name: n.name, bridge: n.bridge, subnets: n.subnets, mode, addressMode: 'none', externalAddresses: [], externalPrefix: auto.prefix, prefixFrom: auto.from, filtering: n.filtering };
    }
    return { name: n.name, bridge: n.bridge, subnets: n.subnets, mode, addressMode: 'none', externalAddresses: [], externalPrefix: n.externalPrefix, filtering: n.filtering };
  }
  const hostAddrs = facts.uplinkAddresses.map((a) => parseIpv6(a.address));
  const onLink = facts.uplinkAddresses.find((a) => a.prefixLength <= 126);
  let addressMode = n.addressMode ?? 'auto';
  const explicit = n.externalAddresses ?? [];
  if (addressMode === 'auto') {
    if (explicit.length > 0) {
      addressMode = explicit.every((e) => hostAddrs.some((h) => formatIpv6(h, 0) === formatIpv6(parseIpv6(e), 0))) ? 'host' : 'dedicated';
    } else {
      addressMode = onLink !== undefined ? 'dedicated' : 'host';
    }
    notes.push(`${netWhere(n)}: ${addressMode} external address mode (auto)`);
  }
  if (addressMode === 'dedicated') {
    let externals = explicit.map((e) => formatIpv6(parseIpv6(e), 0));
    let draining: string[] = [];
    for (const e of externals) {
      if (hostAddrs.some((h) => formatIpv6(h, 0) === e)) {
        throw new ConfigError(`${netWhere(n)}: dedicated external address ${e} is assigned to the host; use addressMode host or another address`);
      }
    }
    if (externals.length === 0) {
      if (onLink === undefined) {
        throw new ConfigError(`${netWhere(n)}: dedicated mode needs externalAddresses or an on-link prefix on the uplink (it has only /128s)`);
      }
      const [current, ...retiring] = onLinkPrefixes(facts.uplinkAddresses);
      const pick = (p: string): string => { const q = parseIpv6Prefix(p); return formatIpv6(pickDedicated(q.address, q.length, n.name, hostAddrs), 0); };
      externals = [pick(current!)];
      draining = retiring.map(pick);
    }
    const localSource = bridgeAddress(facts, n.bridge, n.subnets);
    return { name: n.name, bridge: n.bridge, subnets: n.subnets, mode, addressMode, externalAddresses: externals, filtering: n.filtering, portRange: n.portRange,
      ...(draining.length === 0 ? {} : { drainingAddresses: draining }),
      ...(localSource === undefined ? {} : { localSource }) };
  }
  const host = explicit.length > 0 ? formatIpv6(parseIpv6(explicit[0]!), 0) : preferredHostAddress(facts.uplinkAddresses);
  if (host === undefined) throw new ConfigError(`${netWhere(n)}: host-address mode needs a global address on the uplink`);
  return { name: n.name, bridge: n.bridge, subnets: n.subnets, mode, addressMode: 'host', externalAddresses: [host], filtering: n.filtering, portRange: hostRange };
}

/**
 * Networks in host mode behind one address become one engine network, so
 * they must agree on what the engine keeps per network: the inbound filtering.
 */
function sharedHostAddressesAgree(nets: readonly ResolvedNetwork[]): void {
  const first = new Map<string, ResolvedNetwork>();
  for (const n of nets) {
    if (n.addressMode !== 'host') continue;
    const address = n.externalAddresses[0]!;
    const other = first.get(address);
    if (other === undefined) { first.set(address, n); continue; }
    if ((other.filtering ?? 'address-and-port-dependent') !== (n.filtering ?? 'address-and-port-dependent')) {
      throw new ConfigError(`${netWhere(n)}: shares host address ${address} with network ${JSON.stringify(other.name)} but not its filtering; give both the same`);
    }
  }
}

/** The network whose subnets hold `addr`, if any. */
export function networkOfAddress(nets: readonly ResolvedNetwork[], addr: Uint8Array): ResolvedNetwork | undefined {
  return nets.find((n) => n.subnets.some((s) => {
    const p = parseIpv6Prefix(s);
    return matchesPrefix(addr, 0, p.address, 0, p.length);
  }));
}

/** Resolves a declared model against host facts. Throws ConfigError for contradictions; skips (with a note) what cannot apply. */
export function resolveModel(model: DatapathModel, facts: HostFacts): Resolution {
  const notes: string[] = [];
  const hostRange = model.hostPortRange ?? DEFAULT_HOST_PORT_RANGE;
  const taken: string[] = [];
  const networks = model.networks.map((n) => resolveNetwork(n, facts, hostRange, notes, taken));
  sharedHostAddressesAgree(networks);
  const translated = new Set(networks.flatMap((n) => n.externalAddresses));
  const canonical = (text: string): string => formatIpv6(parseIpv6(text), 0);
  const hostHas = new Set([...facts.uplinkAddresses.map((a) => canonical(a.address)), ...(facts.localAddresses ?? []).map((a) => canonical(a.address))]);
  const everyHostAddress = model.publishOnHostAddresses === true ? [...new Set(facts.uplinkAddresses.map((a) => canonical(a.address)))].sort() : [];
  const hostAddresses = new Set(everyHostAddress.filter((a) => !translated.has(a)));
  const published: ResolvedPublished[] = [];
  const seen = new Set<string>();
  const add = (p: PublishedModel, what: string, net: ResolvedNetwork, inside: Uint8Array, externalAddress: string | undefined): void => {
    // Docker lists a port once for 0.0.0.0 and once for ::; both mean the same here.
    const key = `${p.protocol} ${externalAddress ?? `* ${net.name}`} ${p.hostPort}`;
    if (seen.has(key)) {
      if (externalAddress !== undefined) notes.push(`${what}: not on ${externalAddress}, where another container has that port`);
      return;
    }
    seen.add(key);
    published.push({ protocol: p.protocol, externalAddress, externalPort: p.hostPort, insideAddress: formatIpv6(inside, 0), insidePort: p.containerPort });
  };
  // An address a port is published on: one the network translates to, or one the host has (outside every NAT subnet).
  const usable = (text: string, net: ResolvedNetwork): boolean => {
    if (net.externalAddresses.includes(text)) return true;
    if (!hostHas.has(text) || networkOfAddress(networks, parseIpv6(text)) !== undefined) return false;
    if (!translated.has(text)) hostAddresses.add(text);
    return true;
  };
  for (const p of model.published) {
    const what = `published ${p.protocol} ${p.hostIp === '' ? '*' : p.hostIp}:${p.hostPort} -> [${p.containerAddress}]:${p.containerPort}`;
    const inside = tryParseIpv6(p.containerAddress);
    const net = inside === undefined ? undefined : networkOfAddress(networks, inside);
    if (net === undefined) { notes.push(`${what}: skipped, the container address is in no NAT network`); continue; }
    if (net.mode === 'nptv6') { notes.push(`${what}: skipped, ${net.name} is nptv6 (every port is reachable)`); continue; }
    if (p.hostIp === '' || p.hostIp === '0.0.0.0' || p.hostIp === '::') {
      add(p, what, net, inside!, undefined);
      for (const a of everyHostAddress) if (!net.externalAddresses.includes(a)) add(p, what, net, inside!, a);
    } else if (p.hostIp.includes(':')) {
      const a = tryParseIpv6(p.hostIp);
      const text = a === undefined ? '' : formatIpv6(a, 0);
      if (!usable(text, net)) { notes.push(`${what}: skipped, ${p.hostIp} is neither an external address of ${net.name} nor an address of the host`); continue; }
      add(p, what, net, inside!, text);
    } else {
      const mapped = model.ipv4Map?.[p.hostIp];
      if (mapped === undefined) { notes.push(`${what}: skipped, IPv4 HostIp (map it with ipv4Map to publish on IPv6)`); continue; }
      const text = formatIpv6(parseIpv6(mapped), 0);
      if (!usable(text, net)) { notes.push(`${what}: skipped, mapped ${text} is neither an external address of ${net.name} nor an address of the host`); continue; }
      add(p, what, net, inside!, text);
    }
  }
  return {
    model: { uplink: model.uplink, tun: model.tun ?? DEFAULT_TUN, networks, published, hostAddresses: [...hostAddresses].sort(), hostPortRange: hostRange,
      throwPrefixes: model.throwPrefixes ?? [], replyBridges: model.replyBridges ?? [], delegatedPrefixes: facts.delegatedPrefixes ?? [] },
    notes,
  };
}
