// Why the NAT66 translator drops a packet. Codes continue after the wire
// layer's (src/wire/error.ts), so one counter array holds both: a malformed
// header is counted under its WireError code, a policy refusal under NatDrop.
// A translate call returns -code for a dropped packet.

import { WIRE_ERROR_COUNT, WIRE_ERROR_NAMES } from '../wire/error.js';

export const NatDrop = {
  /** Inbound (a source in no inside subnet) and the destination is none of our external addresses or prefixes. */
  NotExternal: WIRE_ERROR_COUNT,
  /** Not TCP, UDP, SCTP or ICMPv6 (ESP, GRE, ...): there is no port to map. */
  UnsupportedProtocol: WIRE_ERROR_COUNT + 1,
  /** ICMPv6 that is neither echo nor an error (ND, MLD, router messages stay on their link). */
  IcmpNotTranslatable: WIRE_ERROR_COUNT + 2,
  /** Inbound packet that matches no session, mapping or published port. */
  NoMapping: WIRE_ERROR_COUNT + 3,
  /** A mapping exists but address-and-port-dependent filtering refuses this remote. */
  Filtered: WIRE_ERROR_COUNT + 4,
  /** A packet that may not open a session (TCP RST, echo reply) and has none. */
  NoSession: WIRE_ERROR_COUNT + 5,
  /** The session table is full and nothing idle could be reclaimed. */
  TableFull: WIRE_ERROR_COUNT + 6,
  /** No free external port in the network's range. */
  PortsExhausted: WIRE_ERROR_COUNT + 7,
  /** The per-inside-address table is full. */
  HostTableFull: WIRE_ERROR_COUNT + 8,
  /** Routing header type 0 with segments left (deprecated by RFC 5095). */
  RoutingHeader0: WIRE_ERROR_COUNT + 9,
  /** First fragment too short to hold the ports and checksum. */
  TinyFragment: WIRE_ERROR_COUNT + 10,
  /** Non-first fragment with no first fragment seen, and no room to hold it. */
  FragmentHoldFull: WIRE_ERROR_COUNT + 11,
  /** Held fragment whose first fragment never came. */
  FragmentTimeout: WIRE_ERROR_COUNT + 12,
  /** ICMPv6 error whose embedded packet matches no mapping. */
  IcmpErrorNoMapping: WIRE_ERROR_COUNT + 13,
  /** ICMPv6 error whose embedded packet is too short or malformed to translate. */
  IcmpErrorMalformed: WIRE_ERROR_COUNT + 14,
  /** NPTv6: every candidate adjustment word is 0xFFFF (RFC 6296 §3.5). */
  NptUntranslatable: WIRE_ERROR_COUNT + 15,
  /** A new session would collide with an existing one on its other side. */
  Conflict: WIRE_ERROR_COUNT + 16,
  /** Fragmented ICMPv6 error, or an error about a fragment we cannot follow. */
  IcmpErrorFragmented: WIRE_ERROR_COUNT + 17,
  /** A Routing header other than type 0 with segments left: the final destination is not the one we would rewrite. */
  RoutingHeaderActive: WIRE_ERROR_COUNT + 18,
  /** SCTP whose port must change but whose CRC32c cannot be recomputed (a fragment). */
  SctpFragment: WIRE_ERROR_COUNT + 19,
  /** The inside address holds its quota of sessions, none of them unreplied. */
  AddressQuota: WIRE_ERROR_COUNT + 20,
  /** The network holds its quota of sessions, none of the stalest unreplied ones its own. */
  NetworkQuota: WIRE_ERROR_COUNT + 21,
} as const;
export type NatDrop = (typeof NatDrop)[keyof typeof NatDrop];

const NAT_NAMES: readonly string[] = [
  'not-external', 'unsupported-protocol', 'icmp-not-translatable', 'no-mapping',
  'filtered', 'no-session', 'table-full', 'ports-exhausted', 'host-table-full', 'routing-header-0',
  'tiny-fragment', 'fragment-hold-full', 'fragment-timeout', 'icmp-error-no-mapping', 'icmp-error-malformed',
  'npt-untranslatable', 'conflict', 'icmp-error-fragmented', 'routing-header-active', 'sctp-fragment',
  'address-quota', 'network-quota',
];

/** Size of a drop counter array covering wire and NAT reasons. */
export const DROP_REASON_COUNT = WIRE_ERROR_COUNT + NAT_NAMES.length;

/** Every drop reason name, indexed by code (wire reasons first). */
export const DROP_REASON_NAMES: readonly string[] = [...WIRE_ERROR_NAMES, ...NAT_NAMES];
