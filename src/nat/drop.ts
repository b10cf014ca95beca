// Why the NAT66 translator drops a packet. Codes continue after the wire
// layer's (src/wire/error.ts), so one counter array holds both: a malformed
// header is counted under its WireError code, a policy refusal under NatDrop.
// A translate call returns -code for a dropped packet.

import { WIRE_ERROR_COUNT, WIRE_ERROR_HELP, WIRE_ERROR_NAMES } from '../wire/error.js';
import { describeCodes } from '../wire/names.js';

/** What each code means is its help text in NAT below. */
export const NatDrop = {
  NotExternal: WIRE_ERROR_COUNT,
  UnsupportedProtocol: WIRE_ERROR_COUNT + 1,
  IcmpNotTranslatable: WIRE_ERROR_COUNT + 2,
  NoMapping: WIRE_ERROR_COUNT + 3,
  Filtered: WIRE_ERROR_COUNT + 4,
  NoSession: WIRE_ERROR_COUNT + 5,
  TableFull: WIRE_ERROR_COUNT + 6,
  PortsExhausted: WIRE_ERROR_COUNT + 7,
  HostTableFull: WIRE_ERROR_COUNT + 8,
  RoutingHeader0: WIRE_ERROR_COUNT + 9,
  TinyFragment: WIRE_ERROR_COUNT + 10,
  FragmentHoldFull: WIRE_ERROR_COUNT + 11,
  FragmentTimeout: WIRE_ERROR_COUNT + 12,
  IcmpErrorNoMapping: WIRE_ERROR_COUNT + 13,
  IcmpErrorMalformed: WIRE_ERROR_COUNT + 14,
  NptUntranslatable: WIRE_ERROR_COUNT + 15,
  Conflict: WIRE_ERROR_COUNT + 16,
  IcmpErrorFragmented: WIRE_ERROR_COUNT + 17,
  RoutingHeaderActive: WIRE_ERROR_COUNT + 18,
  SctpFragment: WIRE_ERROR_COUNT + 19,
  AddressQuota: WIRE_ERROR_COUNT + 20,
  NetworkQuota: WIRE_ERROR_COUNT + 21,
} as const;
export type NatDrop = (typeof NatDrop)[keyof typeof NatDrop];

// Each reason's counter name and one-line help: the one place they are written.
const NAT = describeCodes(NatDrop, {
  NotExternal: ['not-external', 'Inbound (a source in no inside subnet) and the destination is none of our external addresses or prefixes.'],
  UnsupportedProtocol: ['unsupported-protocol', 'Not TCP, UDP, SCTP or ICMPv6 (ESP, GRE, ...): there is no port to map.'],
  IcmpNotTranslatable: ['icmp-not-translatable', 'ICMPv6 that is neither echo nor an error (ND, MLD, router messages stay on their link).'],
  NoMapping: ['no-mapping', 'Inbound packet that matches no session, mapping or published port.'],
  Filtered: ['filtered', 'A mapping exists but address-and-port-dependent filtering refuses this remote.'],
  NoSession: ['no-session', 'A packet that may not open a session (TCP RST, echo reply) and has none.'],
  TableFull: ['table-full', 'The session table is full and nothing idle could be reclaimed.'],
  PortsExhausted: ['ports-exhausted', "No free external port in the network's range."],
  HostTableFull: ['host-table-full', 'The per-inside-address table is full.'],
  RoutingHeader0: ['routing-header-0', 'Routing header type 0 with segments left (deprecated by RFC 5095).'],
  TinyFragment: ['tiny-fragment', 'First fragment too short to hold the ports and checksum.'],
  FragmentHoldFull: ['fragment-hold-full', 'Non-first fragment with no first fragment seen, and no room to hold it.'],
  FragmentTimeout: ['fragment-timeout', 'Held fragment whose first fragment never came.'],
  IcmpErrorNoMapping: ['icmp-error-no-mapping', 'ICMPv6 error whose embedded packet matches no mapping.'],
  IcmpErrorMalformed: ['icmp-error-malformed', 'ICMPv6 error whose embedded packet is too short or malformed to translate.'],
  NptUntranslatable: ['npt-untranslatable', 'NPTv6: every candidate adjustment word is 0xFFFF (RFC 6296 §3.5).'],
  Conflict: ['conflict', 'A new session would collide with an existing one on its other side.'],
  IcmpErrorFragmented: ['icmp-error-fragmented', 'Fragmented ICMPv6 error, or an error about a fragment we cannot follow.'],
  RoutingHeaderActive: ['routing-header-active', 'A Routing header other than type 0 with segments left: the final destination is not the one we would rewrite.'],
  SctpFragment: ['sctp-fragment', 'SCTP whose port must change but whose CRC32c cannot be recomputed (a fragment).'],
  AddressQuota: ['address-quota', 'The inside address holds its quota of sessions, none of them unreplied.'],
  NetworkQuota: ['network-quota', 'The network holds its quota of sessions, none of the stalest unreplied ones its own.'],
}, WIRE_ERROR_COUNT);

/** Size of a drop counter array covering wire and NAT reasons. */
export const DROP_REASON_COUNT = WIRE_ERROR_COUNT + NAT.names.length;

/** Every drop reason name, indexed by code (wire reasons first). */
export const DROP_REASON_NAMES: readonly string[] = [...WIRE_ERROR_NAMES, ...NAT.names];
/** Every drop reason's one-line help, indexed by code. */
export const DROP_REASON_HELP: readonly string[] = [...WIRE_ERROR_HELP, ...NAT.help];
