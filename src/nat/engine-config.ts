// NAT66 configuration: plain value types the control plane fills in (from
// Docker networks and port bindings, or a config file), and their compiled
// form, where everything the packet path needs is precomputed into typed
// arrays once (address words, subnet masks, NPTv6 adjustments, timers in ticks).
//
// Addresses are words: four big-endian 32-bit numbers per IPv6 address, the
// form the connection table stores and compares.

import { ConfigError } from '../errors.js';
import { parseIpv6, parseIpv6Prefix } from '../wire/address.js';
import { ProtoClass } from './types.js';
import { nptAdjustment } from './nptv6.js';
import type { RefuseMode } from './refuse.js';

/** Idle timeouts in milliseconds. Defaults follow RFC 6146 §4 (RFC 4787, 5382, 5508 minimums). */
export interface NatTimers {
  /** Established TCP (RFC 5382 REQ-5: at least 2 h 4 min). */
  tcpEstablished: number;
  /** TCP during SYN, FIN, after RST (RFC 5382 REQ-5: at least 4 min). */
  tcpTransitory: number;
  /** TCP opened from outside (published port, full cone) until the inside answers (RFC 6146 TCP_INCOMING_SYN). */
  tcpIncomingSyn: number;
  /** UDP (RFC 4787 REQ-5: never under 2 min, 5 min recommended). */
  udp: number;
  /** ICMPv6 echo (RFC 5508 REQ-1: at least 60 s). */
  icmp: number;
  /** SCTP: treated like established TCP without state tracking. */
  sctp: number;
  /** How long later fragments follow a first fragment (RFC 6146 FRAGMENT_MIN: at least 2 s). */
  fragment: number;
  /** Under pressure, a UDP/ICMP session idle at least this long may be reclaimed for a new flow. */
  reclaimIdle: number;
  /**
   * Unreplied sessions (lone SYN, one-way UDP/ICMP) made or used while the
   * table is over 3/4 full live at most this long: RFC 5382's 4-minute
   * minimum is for connections that exist, and a SYN unanswered for 5 s
   * that retries simply opens its session again.
   */
  unrepliedUnderPressure: number;
}

export const DEFAULT_TIMERS: Readonly<NatTimers> = {
  tcpEstablished: 7440_000,
  tcpTransitory: 240_000,
  tcpIncomingSyn: 6_000,
  udp: 300_000,
  icmp: 60_000,
  sctp: 7440_000,
  fragment: 2_000,
  reclaimIdle: 30_000,
  unrepliedUnderPressure: 5_000,
};

export type NatMode = 'masquerade' | 'nptv6';
export type FilteringMode = 'address-and-port-dependent' | 'endpoint-independent';
export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface NatNetwork {
  /** For messages and counters (a Docker network name). */
  name: string;
  /**
   * Inside subnets ("fd00:dead:beef::/48"); a packet from the network with another source is dropped.
   * Empty only for a masquerading network whose addresses take published ports alone (nothing leaves from them).
   */
  insideSubnets: string[];
  /** Stateful NAPT66 (default) or stateless RFC 6296 prefix translation. */
  mode?: NatMode;
  /** masquerade: the external addresses sources are rewritten to (paired by inside address, RFC 4787 REQ-2). */
  externalAddresses?: string[];
  /**
   * masquerade: external addresses being retired (their uplink prefix is
   * deprecated): their sessions, mappings and published ports carry on, but
   * no new mapping is made on them.
   */
  drainingAddresses?: string[];
  /** nptv6: the external prefix, same length as the single inside subnet, at most /112. */
  externalPrefix?: string;
  /** masquerade: external ports handed out for TCP/UDP/SCTP [low, high]; default [1024, 65535]. */
  portRange?: [number, number];
  /** masquerade: inbound filtering; default address-and-port-dependent. */
  filtering?: FilteringMode;
  /**
   * masquerade: the external addresses are the host's own. A hairpinned
   * packet (from an inside subnet, translated) to a port sixgate does not
   * own there is the host's, and goes on to it, not dropped: a published
   * container answering the host's own connection to its published port.
   */
  hostOwned?: boolean;
}

export interface PublishedPort {
  protocol: PortProtocol;
  /** External address, or "::"/undefined for every external address of the container's network. */
  externalAddress?: string;
  externalPort: number;
  insideAddress: string;
  insidePort: number;
}

export interface NatConfig {
  networks: NatNetwork[];
  published?: PublishedPort[];
  timers?: Partial<NatTimers>;
  /** Sessions the table holds (default 262,144). */
  capacity?: number;
  /** Inside addresses with counters (default capacity/64, 1,024..65,535). */
  hostCapacity?: number;
  /** Sessions one inside address may hold (default: a quarter of the capacity). */
  addressQuota?: number;
  /** Sessions one network may hold (default: 3/4 of the capacity with two masquerading networks or more, else all of it). */
  networkQuota?: number;
  /** First fragments remembered at once (default 1,024). */
  fragmentFlows?: number;
  /** Out-of-order fragments held at once (default 32) and the largest one (default 2,048 bytes). */
  fragmentHoldSlots?: number;
  fragmentHoldBytes?: number;
  /** Hash seed (tests pass one for reproducible port choices; default random). */
  seed?: number;
  /** Inbound packets to no mapping: answered with a RST or an ICMPv6 port unreachable (default 'reply'), or dropped ('silent'); see refuse.ts. */
  refuse?: RefuseMode;
  /** Refusals sent per second and the burst above it (defaults 1,000 and 50). */
  refuseRate?: number;
  refuseBurst?: number;
  /**
   * This engine is worker `index` of `count`, each with a shard of the
   * connections (src/datapath/workers.ts): it hands out only its slice of
   * every network's port range and of the ICMPv6 echo identifiers
   * (shardSlice), so a reply is steered to it by its destination port alone.
   */
  shard?: { index: number; count: number };
}

/** ICMPv6 echo identifiers a mapping may take. */
export const ICMP_ID_RANGE: readonly [number, number] = [1, 65535];

/**
 * Worker `index`'s slice of [lo, hi] split among `count` workers: equal
 * consecutive slices of ceil(size / count) ports, the last one shorter. The
 * steering program computes the inverse: (port - lo) / sliceSize.
 */
export function shardSlice(lo: number, hi: number, index: number, count: number): [number, number] {
  const size = Math.ceil((hi - lo + 1) / count);
  return [lo + index * size, Math.min(hi, lo + (index + 1) * size - 1)];
}

export const MODE_MASQUERADE = 0;
export const MODE_NPTV6 = 1;

export const TICK_MS = 1000;

/** The compiled configuration the translator reads per packet. */
export interface CompiledConfig {
  netCount: number;
  netNames: string[];
  netMode: Uint8Array;
  /** 1 = endpoint-independent filtering. */
  netEif: Uint8Array;
  /** 1 = the network's external addresses are the host's own (NatNetwork.hostOwned). */
  netHost: Uint8Array;
  netPortLo: Uint16Array;
  netPortHi: Uint16Array;
  /** ICMPv6 echo identifiers new mappings take (all of them, or a worker's slice). */
  icmpIdLo: number;
  icmpIdHi: number;
  /**
   * A network's external addresses: netExtList[netExtFirst[n] .. + netExtCount[n]] are their indexes,
   * the first netExtNew[n] of them the ones new mappings are made on (the rest are draining).
   */
  netExtFirst: Uint16Array;
  netExtCount: Uint16Array;
  netExtNew: Uint16Array;
  netExtList: Uint16Array;
  /** Subnets: prefix words (4) then mask words (4) per subnet. */
  subnetCount: number;
  subnetWords: Uint32Array;
  subnetNet: Int32Array;
  /**
   * Masquerade external addresses: 4 words each, and their network. Sessions
   * name their external address by this index, so a reconfiguration keeps
   * each address's index (compileConfig's `previous`); a removed address
   * leaves a hole (words ::, network -1) that only a later reconfiguration,
   * after its sessions went, fills again.
   */
  extCount: number;
  extWords: Uint32Array;
  extNet: Int32Array;
  /**
   * By the low byte of an address's last word: 0 = no external address
   * ends so, k + 1 = only external address k does, -1 = several (scan).
   * Every inbound packet and every outbound one (hairpin check) asks.
   */
  extHint: Int32Array;
  /** NPTv6 per network: inside prefix, external prefix, mask (4 words each), adjustment words, prefix length. */
  nptInside: Uint32Array;
  nptExternal: Uint32Array;
  nptMask: Uint32Array;
  /** One's-complement value added to the adjusting word outbound (inbound adds its complement). */
  nptAdjust: Uint16Array;
  nptLength: Uint8Array;
  /** Timeouts in ticks, indexed by ProtoClass (TCP: established). */
  ticksTcpEstablished: number;
  ticksTcpTransitory: number;
  ticksTcpIncomingSyn: number;
  ticksUdp: number;
  ticksIcmp: number;
  ticksSctp: number;
  ticksReclaimIdle: number;
  ticksUnrepliedPressure: number;
  /** Session quotas as configured; 0 = the default for the table's capacity (sessions.ts). */
  addressQuota: number;
  networkQuota: number;
  fragmentMs: number;
  /** Fingerprint of the external side, stored in snapshots. */
  fingerprint: number;
}

export function addressWords(bytes: Uint8Array, out: Uint32Array, at: number): void {
  for (let i = 0; i < 4; i++) {
    out[at + i] = ((bytes[4 * i] << 24) | (bytes[4 * i + 1] << 16) | (bytes[4 * i + 2] << 8) | bytes[4 * i + 3]) >>> 0;
  }
}

export function maskWords(length: number, out: Uint32Array, at: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, length - 32 * i));
    out[at + i] = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  }
}

function where(net: NatNetwork | undefined, field: string): string {
  return net === undefined ? field : `network ${JSON.stringify(net.name)}: ${field}`;
}

function parseAddress(text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string') throw new ConfigError(`${what} must be an IPv6 address string`);
  return parseIpv6(text);
}

export function protoClassOf(protocol: PortProtocol): number {
  if (protocol === 'tcp') return ProtoClass.Tcp;
  if (protocol === 'udp') return ProtoClass.Udp;
  if (protocol === 'sctp') return ProtoClass.Sctp;
  throw new ConfigError(`published port protocol must be tcp, udp or sctp, got ${JSON.stringify(protocol)}`);
}

function timerTicks(ms: number, name: string, minimumMs: number): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < minimumMs) {
    throw new ConfigError(`timer ${name} must be a number of milliseconds >= ${minimumMs}, got ${String(ms)}`);
  }
  return Math.max(1, Math.ceil(ms / TICK_MS));
}

function quota(value: number | undefined, name: string): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${name} must be a positive integer (sessions), got ${String(value)}`);
  return value;
}

/**
 * Validate and precompute. Throws ConfigError naming the network and field.
 * With `previous` (the configuration in force), every external address keeps
 * its index, and a new one takes an index that was already a hole in
 * `previous` or a new one at the end: never one freed by this change, whose
 * sessions may still be in the table.
 */
export function compileConfig(config: NatConfig, previous?: CompiledConfig): CompiledConfig {
  if (config === null || typeof config !== 'object' || !Array.isArray(config.networks)) {
    throw new ConfigError('NAT configuration needs a networks array');
  }
  const nets = config.networks;
  const n = nets.length;
  const timers: NatTimers = { ...DEFAULT_TIMERS, ...(config.timers ?? {}) };
  const subnets: Array<{ words: Uint32Array; net: number }> = [];
  const exts: Array<{ words: Uint32Array; net: number; draining: boolean }> = [];
  const c: CompiledConfig = {
    netCount: n,
    netNames: nets.map((x) => String(x?.name)),
    netMode: new Uint8Array(n),
    netEif: new Uint8Array(n),
    netHost: new Uint8Array(n),
    netPortLo: new Uint16Array(n),
    netPortHi: new Uint16Array(n),
    icmpIdLo: ICMP_ID_RANGE[0],
    icmpIdHi: ICMP_ID_RANGE[1],
    netExtFirst: new Uint16Array(n),
    netExtCount: new Uint16Array(n),
    netExtNew: new Uint16Array(n),
    netExtList: new Uint16Array(0),
    subnetCount: 0,
    subnetWords: new Uint32Array(0),
    subnetNet: new Int32Array(0),
    extCount: 0,
    extWords: new Uint32Array(0),
    extNet: new Int32Array(0),
    extHint: new Int32Array(256),
    nptInside: new Uint32Array(n * 4),
    nptExternal: new Uint32Array(n * 4),
    nptMask: new Uint32Array(n * 4),
    nptAdjust: new Uint16Array(n),
    nptLength: new Uint8Array(n),
    ticksTcpEstablished: timerTicks(timers.tcpEstablished, 'tcpEstablished', 1000),
    ticksTcpTransitory: timerTicks(timers.tcpTransitory, 'tcpTransitory', 1000),
    ticksTcpIncomingSyn: timerTicks(timers.tcpIncomingSyn, 'tcpIncomingSyn', 1000),
    ticksUdp: timerTicks(timers.udp, 'udp', 1000),
    ticksIcmp: timerTicks(timers.icmp, 'icmp', 1000),
    ticksSctp: timerTicks(timers.sctp, 'sctp', 1000),
    ticksReclaimIdle: timerTicks(timers.reclaimIdle, 'reclaimIdle', 0),
    ticksUnrepliedPressure: timerTicks(timers.unrepliedUnderPressure, 'unrepliedUnderPressure', 1000),
    addressQuota: quota(config.addressQuota, 'addressQuota'),
    networkQuota: quota(config.networkQuota, 'networkQuota'),
    fragmentMs: timerTicks(timers.fragment, 'fragment', 0) * TICK_MS,
    fingerprint: 0,
  };
  const shard = config.shard;
  if (shard !== undefined) {
    if (!Number.isInteger(shard.count) || shard.count < 1 || !Number.isInteger(shard.index) || shard.index < 0 || shard.index >= shard.count) {
      throw new ConfigError(`shard must be { index, count } with 0 <= index < count, got ${JSON.stringify(shard)}`);
    }
    [c.icmpIdLo, c.icmpIdHi] = shardSlice(ICMP_ID_RANGE[0], ICMP_ID_RANGE[1], shard.index, shard.count);
  }
  const names = new Set<string>();
  for (let i = 0; i < n; i++) {
    const net = nets[i];
    if (net === null || typeof net !== 'object') throw new ConfigError(`networks[${i}] must be an object`);
    if (typeof net.name !== 'string' || net.name === '') throw new ConfigError(`networks[${i}].name must be a non-empty string`);
    if (names.has(net.name)) throw new ConfigError(`network ${JSON.stringify(net.name)} is defined twice`);
    names.add(net.name);
    const mode = net.mode ?? 'masquerade';
    if (mode !== 'masquerade' && mode !== 'nptv6') throw new ConfigError(where(net, `mode must be masquerade or nptv6, got ${JSON.stringify(mode)}`));
    if (!Array.isArray(net.insideSubnets) || (net.insideSubnets.length === 0 && mode !== 'masquerade')) {
      throw new ConfigError(where(net, 'insideSubnets must list at least one prefix'));
    }
    c.netHost[i] = mode === 'masquerade' && net.hostOwned === true ? 1 : 0;
    c.netMode[i] = mode === 'nptv6' ? MODE_NPTV6 : MODE_MASQUERADE;
    for (const text of net.insideSubnets) {
      if (typeof text !== 'string') throw new ConfigError(where(net, 'insideSubnets entries must be strings'));
      const p = parseIpv6Prefix(text);
      const words = new Uint32Array(8);
      addressWords(p.address, words, 0);
      maskWords(p.length, words, 4);
      for (let w = 0; w < 4; w++) words[w] = (words[w] & words[4 + w]) >>> 0;
      subnets.push({ words, net: i });
    }
    const filtering = net.filtering ?? 'address-and-port-dependent';
    if (filtering !== 'address-and-port-dependent' && filtering !== 'endpoint-independent') {
      throw new ConfigError(where(net, `filtering must be address-and-port-dependent or endpoint-independent, got ${JSON.stringify(filtering)}`));
    }
    c.netEif[i] = filtering === 'endpoint-independent' ? 1 : 0;
    if (mode === 'masquerade') {
      const range = net.portRange ?? [1024, 65535];
      if (!Array.isArray(range) || range.length !== 2 || !range.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535) || range[0] > range[1]) {
        throw new ConfigError(where(net, `portRange must be [low, high] within 1..65535, got ${JSON.stringify(range)}`));
      }
      [c.netPortLo[i], c.netPortHi[i]] = shard === undefined ? range : shardSlice(range[0], range[1], shard.index, shard.count);
      if (shard !== undefined && range[1] - range[0] + 1 < shard.count) {
        throw new ConfigError(where(net, `portRange ${range[0]}-${range[1]} has fewer ports than the ${shard.count} workers it is split among`));
      }
      const list = net.externalAddresses ?? [];
      const draining = net.drainingAddresses ?? [];
      if (!Array.isArray(list) || list.length === 0) throw new ConfigError(where(net, 'masquerade needs at least one external address'));
      if (!Array.isArray(draining)) throw new ConfigError(where(net, 'drainingAddresses must be a list'));
      c.netExtCount[i] = list.length + draining.length;
      c.netExtNew[i] = list.length;
      for (const [k, text] of [...list, ...draining].entries()) {
        const words = new Uint32Array(4);
        addressWords(parseAddress(text, where(net, k < list.length ? 'externalAddresses entry' : 'drainingAddresses entry')), words, 0);
        exts.push({ words, net: i, draining: k >= list.length });
      }
    } else {
      if (net.insideSubnets.length !== 1) throw new ConfigError(where(net, 'nptv6 maps exactly one inside subnet'));
      if (typeof net.externalPrefix !== 'string') throw new ConfigError(where(net, 'nptv6 needs externalPrefix'));
      const inside = parseIpv6Prefix(net.insideSubnets[0]);
      const external = parseIpv6Prefix(net.externalPrefix);
      if (inside.length !== external.length) {
        throw new ConfigError(where(net, `nptv6 prefixes must have the same length (/${inside.length} inside, /${external.length} external)`));
      }
      if (inside.length > 112 || inside.length < 1) throw new ConfigError(where(net, `nptv6 prefixes must be /1../112, got /${inside.length}`));
      maskWords(inside.length, c.nptMask, i * 4);
      addressWords(inside.address, c.nptInside, i * 4);
      addressWords(external.address, c.nptExternal, i * 4);
      for (let w = 0; w < 4; w++) {
        c.nptInside[i * 4 + w] &= c.nptMask[i * 4 + w];
        c.nptExternal[i * 4 + w] &= c.nptMask[i * 4 + w];
      }
      c.nptLength[i] = inside.length;
      c.nptAdjust[i] = nptAdjustment(c.nptInside, c.nptExternal, i * 4);
    }
  }
  const slots = externalSlots(exts, previous);
  if (slots.length > 65535) throw new ConfigError('at most 65,535 external addresses');
  c.subnetCount = subnets.length;
  c.subnetWords = new Uint32Array(subnets.length * 8);
  c.subnetNet = new Int32Array(subnets.length);
  subnets.forEach((s, k) => { c.subnetWords.set(s.words, k * 8); c.subnetNet[k] = s.net; });
  c.extCount = slots.length;
  c.extWords = new Uint32Array(slots.length * 4);
  c.extNet = new Int32Array(slots.length).fill(-1);
  const byNet: number[][] = nets.map(() => []);
  const drainingByNet: number[][] = nets.map(() => []);
  let fp = 0x9e3779b9 ^ slots.length;
  slots.forEach((e, k) => {
    if (e !== undefined) {
      c.extWords.set(e.words, k * 4);
      c.extNet[k] = e.net;
      (e.draining ? drainingByNet : byNet)[e.net]!.push(k);
      const low = e.words[3] & 0xff;
      c.extHint[low] = c.extHint[low] === 0 ? k + 1 : -1;
    }
    for (let w = 0; w < 4; w++) fp = Math.imul(fp ^ c.extWords[k * 4 + w], 0x01000193);
  });
  c.netExtList = new Uint16Array(exts.length);
  let at = 0;
  byNet.forEach((list, i) => {
    c.netExtFirst[i] = at;
    // The addresses new mappings are made on first, then the draining ones.
    for (const k of [...list, ...drainingByNet[i]!]) c.netExtList[at++] = k;
  });
  c.fingerprint = fp >>> 0;
  for (let k = 0; k < c.extCount; k++) {
    if (c.extNet[k] >= 0 && subnetOf(c, c.extWords, k * 4) >= 0) {
      throw new ConfigError(where(nets[c.extNet[k]], 'an external address lies inside an inside subnet'));
    }
  }
  return c;
}

/** Index of the first subnet containing the address words at w[o..o+3], or -1. */
export function subnetOf(c: CompiledConfig, w: Uint32Array, o: number): number {
  const s = c.subnetWords;
  for (let k = 0; k < c.subnetCount; k++) {
    const b = k * 8;
    if (((w[o] & s[b + 4]) >>> 0) === s[b] && ((w[o + 1] & s[b + 5]) >>> 0) === s[b + 1] &&
        ((w[o + 2] & s[b + 6]) >>> 0) === s[b + 2] && ((w[o + 3] & s[b + 7]) >>> 0) === s[b + 3]) {
      return k;
    }
  }
  return -1;
}

/** Network whose inside subnets contain the address words, or -1. */
export function networkOf(c: CompiledConfig, w: Uint32Array, o: number): number {
  const k = subnetOf(c, w, o);
  return k < 0 ? -1 : c.subnetNet[k];
}

/** Whether the address words lie in one of network `net`'s inside subnets. */
export function inNetwork(c: CompiledConfig, net: number, w: Uint32Array, o: number): boolean {
  const s = c.subnetWords;
  for (let k = 0; k < c.subnetCount; k++) {
    if (c.subnetNet[k] !== net) continue;
    const b = k * 8;
    if (((w[o] & s[b + 4]) >>> 0) === s[b] && ((w[o + 1] & s[b + 5]) >>> 0) === s[b + 1] &&
        ((w[o + 2] & s[b + 6]) >>> 0) === s[b + 2] && ((w[o + 3] & s[b + 7]) >>> 0) === s[b + 3]) {
      return true;
    }
  }
  return false;
}

/** Global index of the masquerade external address equal to the words, or -1. */
export function externalIndexOf(c: CompiledConfig, w: Uint32Array, o: number): number {
  const e = c.extWords;
  const hint = c.extHint[w[o + 3] & 0xff];
  if (hint === 0) return -1;
  if (hint > 0) {
    const b = (hint - 1) * 4;
    return e[b + 3] === w[o + 3] && e[b + 2] === w[o + 2] && e[b + 1] === w[o + 1] && e[b] === w[o] ? hint - 1 : -1;
  }
  for (let k = 0; k < c.extCount; k++) {
    const b = k * 4;
    if (e[b + 3] === w[o + 3] && e[b + 2] === w[o + 2] && e[b + 1] === w[o + 1] && e[b] === w[o] && c.extNet[k] >= 0) return k;
  }
  return -1;
}

/** The index of network `net`'s i-th external address. */
export function networkExternal(c: CompiledConfig, net: number, i: number): number {
  return c.netExtList[c.netExtFirst[net] + i];
}

interface ExternalSlot {
  readonly words: Uint32Array;
  readonly net: number;
  readonly draining: boolean;
}

// Indexes for the external addresses (see compileConfig); undefined = a hole.
function externalSlots(exts: readonly ExternalSlot[], previous: CompiledConfig | undefined): Array<ExternalSlot | undefined> {
  if (previous === undefined) return [...exts];
  const key = (w: Uint32Array, o: number): string => `${w[o]}:${w[o + 1]}:${w[o + 2]}:${w[o + 3]}`;
  const before = new Map<string, number>();
  const holes: number[] = [];
  for (let k = 0; k < previous.extCount; k++) {
    if (previous.extNet[k] >= 0) before.set(key(previous.extWords, k * 4), k);
    else holes.push(k);
  }
  const slots: Array<ExternalSlot | undefined> = new Array(previous.extCount).fill(undefined);
  const fresh: ExternalSlot[] = [];
  for (const e of exts) {
    const k = before.get(key(e.words, 0));
    if (k !== undefined && slots[k] === undefined) slots[k] = e;
    else fresh.push(e);
  }
  for (const e of fresh) {
    const hole = holes.shift();
    if (hole !== undefined) slots[hole] = e;
    else slots.push(e);
  }
  // Trailing holes need no index (a session on one fails every lookup of its network).
  while (slots.length > 0 && slots[slots.length - 1] === undefined) slots.pop();
  return slots;
}

/** NPTv6 network whose external prefix contains the address words, or -1. */
export function nptNetworkOfExternal(c: CompiledConfig, w: Uint32Array, o: number): number {
  for (let i = 0; i < c.netCount; i++) {
    if (c.netMode[i] !== MODE_NPTV6) continue;
    const b = i * 4;
    const m = c.nptMask;
    if (((w[o] & m[b]) >>> 0) === c.nptExternal[b] && ((w[o + 1] & m[b + 1]) >>> 0) === c.nptExternal[b + 1] &&
        ((w[o + 2] & m[b + 2]) >>> 0) === c.nptExternal[b + 2] && ((w[o + 3] & m[b + 3]) >>> 0) === c.nptExternal[b + 3]) {
      return i;
    }
  }
  return -1;
}

export { parseAddress };
