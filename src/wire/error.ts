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

export const WireError = {
  Ok: 0,
  /** The captured bytes end before a header that must be there. */
  Truncated: 1,
  /** IPv6 version nibble is not 6. */
  BadVersion: 2,
  /** A length field claims more bytes than were captured (IPv6 payload length, UDP length). */
  BadLength: 3,
  /** A header-length field is below the minimum or runs past its packet (TCP data offset, extension header). */
  BadHeaderLength: 4,
  /** A Neighbor Discovery option has length 0, runs past the message, or has the wrong size for its type. */
  BadOptionLength: 5,
  /** The L4 checksum does not verify (UDP checksum 0 counts as bad: it is invalid in IPv6). */
  BadChecksum: 6,
  /** A Neighbor Discovery message whose hop limit is not 255, so it may come from off-link (RFC 4861 §7.1.1). */
  BadHopLimit: 7,
  /** An ICMPv6 code that is not defined for its type (ND messages require code 0). */
  BadCode: 8,
  /** The frame does not carry IPv6 at all (another EtherType, or a bare IPv4 packet on a TUN). */
  NotIpv6: 9,
  /** A Hop-by-Hop Options header somewhere other than directly after the IPv6 header (RFC 8200 §4.1). */
  HopByHopNotFirst: 10,
  /** A Neighbor Discovery message that arrived fragmented; RFC 6980 requires dropping it. */
  Fragmented: 11,
  /** The message is not of the type the caller asked for (for example parseNd on an echo request). */
  BadType: 12,
  /** An address that RFC 4861 forbids in this position (multicast target, unspecified source with SLLA, ...). */
  BadAddress: 13,
  /** An option that is forbidden in this message (SLLA in a DAD solicitation). */
  BadOption: 14,
} as const;

export type WireError = (typeof WireError)[keyof typeof WireError];

/** Number of codes defined here; engine-specific reasons start at this value. */
export const WIRE_ERROR_COUNT = 15;

// Kebab-case names, indexed by code: used in decode output and counter names.
const NAMES: readonly string[] = [
  'ok',
  'truncated',
  'bad-version',
  'bad-length',
  'bad-header-length',
  'bad-option-length',
  'bad-checksum',
  'bad-hop-limit',
  'bad-code',
  'not-ipv6',
  'hop-by-hop-not-first',
  'fragmented',
  'bad-type',
  'bad-address',
  'bad-option',
];

/** Kebab-case name of a wire reason code ("bad-option-length"); `unknown-<n>` for codes defined elsewhere. */
export function wireErrorName(code: number): string {
  return code >= 0 && code < NAMES.length ? NAMES[code] : `unknown-${code}`;
}

/** Every wire reason name, indexed by code (for sizing and labelling counter arrays). */
export const WIRE_ERROR_NAMES: readonly string[] = NAMES;
