// Frames and engine set-ups shared by the NDP engine tests: NS/NA built with
// the wire builders, then bent into every malformed shape RFC 4861 §7.1.1
// names (checksum recomputed unless the test wants it wrong).
import { buildNa, buildNs } from '../../src/wire/ndp-build.js';
import { fillL4Checksum } from '../../src/wire/checksum.js';
import { writeHeader as writeEthernet, EtherType } from '../../src/wire/ethernet.js';
import { parseIpv6, parseMac, writeSolicitedNode } from '../../src/wire/address.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { NdpEngine, type UplinkSpec, type NdpEngineOptions } from '../../src/ndp/engine.js';
import { IP_OFFSET } from '../../src/ndp/actions.js';

export const ip = parseIpv6;
export const mac = parseMac;

export const UPLINK = 0;
export const INNER = 1;
export const BRIDGE = 2;
export const UPLINK_MAC = mac('02:00:00:00:00:01');
export const INNER_MAC = mac('02:00:00:00:00:02');
export const BRIDGE_MAC = mac('02:00:00:00:00:03');
export const ROUTER = ip('2001:db8:ff::1');
export const ROUTER_MAC = mac('0a:00:00:00:00:01');

export interface NsOptions {
  src?: Uint8Array;
  /** Default: the target's solicited-node group. */
  dst?: Uint8Array;
  /** Default: ROUTER_MAC; null = no SLLA option. */
  slla?: Uint8Array | null;
  hopLimit?: number;
  code?: number;
  badChecksum?: boolean;
  /** Raw option bytes appended after the SLLA (lengths in 8-octet units, as on the wire). */
  extraOptions?: number[];
  /** Ethernet source; default ROUTER_MAC. */
  frameSrc?: Uint8Array;
}

/** An Ethernet frame carrying an NS; the IPv6 packet starts at IP_OFFSET. */
export function nsFrame(target: Uint8Array, o: NsOptions = {}): Uint8Array {
  const src = o.src ?? ROUTER;
  const dst = o.dst ?? solicited(target);
  const slla = o.slla === undefined ? ROUTER_MAC : o.slla;
  const extra = o.extraOptions ?? [];
  const b = new Uint8Array(IP_OFFSET + 40 + 32 + extra.length).fill(0xee);
  const dstMac = Uint8Array.of(0x33, 0x33, dst[12]!, dst[13]!, dst[14]!, dst[15]!);
  writeEthernet(b, 0, dstMac, 0, o.frameSrc ?? ROUTER_MAC, 0, EtherType.Ipv6);
  let len = buildNs(b, IP_OFFSET, src, 0, dst, 0, target, 0, slla, 0);
  b.set(extra, IP_OFFSET + len);
  len += extra.length;
  return finish(b, len, o);
}

export interface NaOptions {
  src?: Uint8Array;
  dst?: Uint8Array;
  flags?: number;
  hopLimit?: number;
  tlla?: Uint8Array;
}

/** A frame carrying an NA (as the inner host sends it). */
export function naFrame(target: Uint8Array, o: NaOptions = {}): Uint8Array {
  const b = new Uint8Array(IP_OFFSET + 40 + 32);
  const dst = o.dst ?? ip('fe80::2');
  writeEthernet(b, 0, INNER_MAC, 0, mac('0a:00:00:00:00:99'), 0, EtherType.Ipv6);
  const len = buildNa(b, IP_OFFSET, o.src ?? target, 0, dst, 0, target, 0, o.flags ?? 0x60, o.tlla ?? mac('0a:00:00:00:00:99'), 0);
  return finish(b, len, { hopLimit: o.hopLimit });
}

function finish(b: Uint8Array, len: number, o: { hopLimit?: number; code?: number; badChecksum?: boolean; extraOptions?: number[] }): Uint8Array {
  // Payload length, hop limit and code are set after building, so fix the checksum again.
  b[IP_OFFSET + 4] = (len - 40) >> 8;
  b[IP_OFFSET + 5] = (len - 40) & 0xff;
  if (o.hopLimit !== undefined) b[IP_OFFSET + 7] = o.hopLimit;
  if (o.code !== undefined) b[IP_OFFSET + 41] = o.code;
  fillL4Checksum(b, IP_OFFSET, IP_OFFSET + 40, len - 40, Protocol.Icmpv6);
  if (o.badChecksum) b[IP_OFFSET + 42] ^= 0x55;
  return b.subarray(0, IP_OFFSET + len);
}

export function solicited(target: Uint8Array): Uint8Array {
  const g = new Uint8Array(16);
  writeSolicitedNode(target, 0, g, 0);
  return g;
}

/** Feeds a frame built above to the engine on `iface`. */
export function feed(engine: NdpEngine, now: number, iface: number, frame: Uint8Array): number {
  return engine.receive(now, iface, frame, IP_OFFSET, frame.length - IP_OFFSET, 6);
}

export const BASE_SPEC: UplinkSpec = {
  iface: UPLINK,
  router: true,
  timeout: 500,
  ttl: 30000,
  deadtime: 10000,
  retries: 3,
  keepalive: true,
  autowire: false,
  rules: [
    { prefix: ip('2001:db8:1::5'), prefixLength: 128, method: 'static', iface: -1, autovia: false },
    { prefix: ip('2001:db8:2::'), prefixLength: 64, method: 'static', iface: -1, autovia: false },
    { prefix: ip('2001:db8:3::'), prefixLength: 64, method: 'iface', iface: INNER, autovia: false },
    { prefix: ip('2001:db8:4::'), prefixLength: 64, method: 'auto', iface: -1, autovia: false },
  ],
  addresses: [ip('2001:db8:9::9')],
};

/** An engine with an uplink, an inner interface (iface rule) and a bridge (reached by route for the auto rule). */
export function makeEngine(spec: Partial<UplinkSpec> = {}, options: NdpEngineOptions = {}): NdpEngine {
  const engine = new NdpEngine({ seed: 1, ...options });
  engine.setInterface(UPLINK, { name: 'eth0', mac: UPLINK_MAC, linkLocal: ip('fe80::1') });
  engine.setInterface(INNER, { name: 'veth1', mac: INNER_MAC, linkLocal: ip('fe80::2') });
  engine.setInterface(BRIDGE, { name: 'br0', mac: BRIDGE_MAC, linkLocal: ip('fe80::3') });
  engine.setRoutes([
    { prefix: ip('::'), prefixLength: 0, iface: UPLINK },
    { prefix: ip('2001:db8:4::'), prefixLength: 64, iface: BRIDGE },
    { prefix: ip('2001:db8:4::100'), prefixLength: 120, iface: UPLINK },
  ]);
  engine.configure([{ ...BASE_SPEC, ...spec }]);
  engine.takeMembershipChanges();
  engine.actions.clear();
  return engine;
}

/** The IPv6 packet of Send action i (a copy). */
export function sent(engine: NdpEngine, i: number): Uint8Array {
  const a = engine.actions;
  const o = a.offset(i);
  return a.bytes.slice(o + IP_OFFSET, o + a.frameLength[i]!);
}

/** The Ethernet destination of Send action i. */
export function sentMac(engine: NdpEngine, i: number): Uint8Array {
  const o = engine.actions.offset(i);
  return engine.actions.bytes.slice(o, o + 6);
}

/**
 * A copy of `frame` (Ethernet + IPv6 + ICMPv6) with extension headers
 * inserted before the ICMPv6 header, in order: Hop-by-Hop (0), Destination
 * Options (60) and Routing (43, no segments left) as 8 bytes of padding,
 * Fragment (44) with `fragment` giving its offset (bytes) and M flag (an
 * atomic fragment by default). The ICMPv6 checksum stays valid: its pseudo
 * header has neither the payload length nor the extension headers.
 */
export function withExtensionHeaders(frame: Uint8Array, kinds: readonly number[], fragment: { offset?: number; more?: boolean } = {}): Uint8Array {
  const ip0 = IP_OFFSET;
  const out = new Uint8Array(frame.length + 8 * kinds.length);
  out.set(frame.subarray(0, ip0 + 40), 0);
  let pos = ip0 + 40;
  let field = ip0 + 6;
  for (const kind of kinds) {
    out[field] = kind;
    field = pos;
    if (kind === Protocol.Fragment) {
      const word = (fragment.offset ?? 0) | (fragment.more === true ? 1 : 0);
      out.set([0, 0, word >> 8, word & 0xff, 0x12, 0x34, 0x56, 0x78], pos);
    } else if (kind === Protocol.Routing) {
      out.set([0, 0, 4, 0, 0, 0, 0, 0], pos);
    } else {
      out.set([0, 0, 1, 4, 0, 0, 0, 0], pos); // one PadN option filling the header
    }
    pos += 8;
  }
  out[field] = frame[ip0 + 6]!;
  out.set(frame.subarray(ip0 + 40), pos);
  const payload = out.length - ip0 - 40;
  out[ip0 + 4] = payload >> 8;
  out[ip0 + 5] = payload & 0xff;
  return out;
}
