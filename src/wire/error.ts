// Reason codes for packets the wire layer refuses.
//
// A malformed packet is ordinary input, not an exception: every gate in
// src/wire returns one of these numbers and the engines count drops per reason
// in typed arrays indexed by the code. `Ok` is 0 so `if (err !== WireError.Ok)`
// and `if (err)` both read naturally.
//
// Engines that add reasons of their own (NAT, NDP) number them from
// `WIRE_ERROR_COUNT` upwards in their own modules, so one counter array can
// hold wire and engine reasons side by side without renumbering either.
//
//   import { WireError, wireErrorName, WIRE_ERROR_COUNT } from './error.js';
//   const drops = new Float64Array(WIRE_ERROR_COUNT);
//   const err = ipv6.check(buf, off, len);
//   if (err !== WireError.Ok) { drops[err]++; return; }
import { describeCodes } from './names.js';

/** Why the wire layer refuses a packet: what each code means is its help text in WIRE below. */
export const WireError = {
  Ok: 0,
  Truncated: 1,
  BadVersion: 2,
  BadLength: 3,
  BadHeaderLength: 4,
  BadOptionLength: 5,
  BadChecksum: 6,
  BadHopLimit: 7,
  BadCode: 8,
  NotIpv6: 9,
  HopByHopNotFirst: 10,
  Fragmented: 11,
  BadType: 12,
  BadAddress: 13,
  BadOption: 14,
  Jumbogram: 15,
} as const;

export type WireError = (typeof WireError)[keyof typeof WireError];

/** Number of codes defined here; engine-specific reasons start at this value. */
export const WIRE_ERROR_COUNT = 16;

// Each code's counter name (decode output, metrics) and one-line help: the one place they are written.
const WIRE = describeCodes(WireError, {
  Ok: ['ok', 'Not a drop: the packet passed (never counted).'],
  Truncated: ['truncated', 'The captured bytes end before a header that must be there.'],
  BadVersion: ['bad-version', 'IPv6 version nibble is not 6.'],
  BadLength: ['bad-length', 'A length field claims more bytes than were captured (IPv6 payload length, UDP length).'],
  BadHeaderLength: ['bad-header-length', 'A header-length field is below the minimum or runs past its packet (TCP data offset, extension header).'],
  BadOptionLength: ['bad-option-length', 'A Neighbor Discovery option has length 0, runs past the message, or has the wrong size for its type.'],
  BadChecksum: ['bad-checksum', 'The L4 checksum does not verify (UDP checksum 0 counts as bad: it is invalid in IPv6).'],
  BadHopLimit: ['bad-hop-limit', 'A Neighbor Discovery message whose hop limit is not 255, so it may come from off-link (RFC 4861 §7.1.1).'],
  BadCode: ['bad-code', 'An ICMPv6 code that is not defined for its type (ND messages require code 0).'],
  NotIpv6: ['not-ipv6', 'The frame does not carry IPv6 at all (another EtherType, or a bare IPv4 packet on a TUN).'],
  HopByHopNotFirst: ['hop-by-hop-not-first', 'A Hop-by-Hop Options header somewhere other than directly after the IPv6 header (RFC 8200 §4.1).'],
  Fragmented: ['fragmented', 'A Neighbor Discovery message that arrived fragmented; RFC 6980 requires dropping it.'],
  BadType: ['bad-type', 'The message is not of the type the caller asked for (for example parseNd on an echo request).'],
  BadAddress: ['bad-address', 'An address that RFC 4861 forbids in this position (multicast target, unspecified source with SLLA, ...).'],
  BadOption: ['bad-option', 'An option that is forbidden in this message (SLLA in a DAD solicitation).'],
  Jumbogram: ['jumbogram', 'An RFC 2675 jumbogram (payload length 0 and a Jumbo Payload option): longer than any link sixgate serves carries.'],
});

/** Kebab-case name of a wire reason code ("bad-option-length"); `unknown-<n>` for codes defined elsewhere. */
export function wireErrorName(code: number): string {
  return code >= 0 && code < WIRE.names.length ? WIRE.names[code]! : `unknown-${code}`;
}

/** Every wire reason name, indexed by code (for sizing and labelling counter arrays). */
export const WIRE_ERROR_NAMES: readonly string[] = WIRE.names;
/** Every wire reason's one-line help, indexed by code. */
export const WIRE_ERROR_HELP: readonly string[] = WIRE.help;
