// Neighbor Discovery options (RFC 4861 §4.6; Nonce RFC 3971 §5.3.2).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |    Length     |              ...              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  ~          Length * 8 bytes in all, type and length included    ~
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//  SLLA(1)/TLLA(2): 2 + 6-byte MAC.     MTU(5): 2 reserved + 32-bit MTU.
//  Nonce(14): at least 6 bytes.        Redirected Header(4): 6 reserved + packet.
//  Prefix Information(3), length 4:
//  |  Type = 3     |  Length = 4   | Prefix Length |L|A|R| Reserved|
//  |                         Valid Lifetime                        |
//  |                       Preferred Lifetime                      |
//  |                           Reserved2                           |
//  |                     Prefix (16 bytes)                         |
//
// API: `checkOptions(buf, off, end)` walks [off, end) once: every option
// must have length >= 1, fit before end, and have the size its type needs;
// unknown types are skipped. After Ok, `findOption` and the accessors over
// an option's offset are in bounds. Options only ever appear after an
// ND message body, so `off` comes from ndp.optionsOffset().

import { WireError } from './error.js';

export const F = {
  TYPE: 0,
  LENGTH: 1,
  /** SLLA/TLLA: the link-layer address. */
  LL_ADDR: 2,
  /** MTU: 2 reserved bytes, then the MTU. */
  MTU: 4,
  /** Nonce: the nonce bytes run to the end of the option. */
  NONCE: 2,
  /** Redirected Header: 6 reserved bytes, then the (cut) redirected packet. */
  REDIRECTED: 8,
  PREFIX_LEN: 2,
  PREFIX_FLAGS: 3,
  PREFIX_VALID: 4,
  PREFIX_PREFERRED: 8,
  PREFIX: 16,
} as const;

/** The smallest option: type, length and 6 bytes. */
export const HEADER_LEN = 8;
export const UNIT = 8;
export const LL_ADDR_OPTION_LEN = 8;
export const NONCE_LEN = 6;
export const NONCE_OPTION_LEN = F.NONCE + NONCE_LEN;
export const PREFIX_INFO_LEN = F.PREFIX + 16;

export const OptionType = {
  SourceLinkAddr: 1,
  TargetLinkAddr: 2,
  PrefixInformation: 3,
  RedirectedHeader: 4,
  Mtu: 5,
  Nonce: 14,
  RouteInformation: 24,
  Rdnss: 25,
  Dnssl: 31,
  Pref64: 38,
} as const;

export const PrefixFlag = {
  OnLink: 0x80,
  Autonomous: 0x40,
  RouterAddress: 0x20,
} as const;

// Required length in 8-octet units for the types we interpret: exact for
// fixed-size options, a minimum for the variable ones; 0 = no constraint.
function lengthRule(type: number, units: number): boolean {
  switch (type) {
    case OptionType.SourceLinkAddr:
    case OptionType.TargetLinkAddr:
    case OptionType.Nonce:
    case OptionType.RedirectedHeader:
      return units >= 1;
    case OptionType.PrefixInformation:
      return units === 4;
    case OptionType.Mtu:
      return units === 1;
    default:
      return true;
  }
}

/** Gate for the option area [off, end): no zero length, no overrun, sizes right for known types. */
export function checkOptions(buf: Uint8Array, off: number, end: number): WireError {
  let pos = off;
  while (pos < end) {
    if (pos + 2 > end) return WireError.BadOptionLength;
    const units = buf[pos + F.LENGTH];
    // Length 0 would loop forever; RFC 4861 §4.6 says drop the whole message.
    if (units === 0) return WireError.BadOptionLength;
    const next = pos + units * UNIT;
    if (next > end) return WireError.BadOptionLength;
    if (!lengthRule(buf[pos + F.TYPE], units)) return WireError.BadOptionLength;
    pos = next;
  }
  return WireError.Ok;
}

/** Offset of the first option of `type` in a checked area, or -1. */
export function findOption(buf: Uint8Array, off: number, end: number, type: number): number {
  let pos = off;
  while (pos < end) {
    if (buf[pos + F.TYPE] === type) return pos;
    const units = buf[pos + F.LENGTH];
    if (units === 0) return -1;
    pos += units * UNIT;
  }
  return -1;
}

export function optionType(buf: Uint8Array, pos: number): number {
  return buf[pos + F.TYPE];
}

/** Whole option length in bytes. */
export function optionLength(buf: Uint8Array, pos: number): number {
  return buf[pos + F.LENGTH] * UNIT;
}

/** SLLA/TLLA: where the MAC starts. */
export function linkAddrOffset(pos: number): number {
  return pos + F.LL_ADDR;
}

export function mtu(buf: Uint8Array, pos: number): number {
  const at = pos + F.MTU;
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function prefixLength(buf: Uint8Array, pos: number): number {
  return buf[pos + F.PREFIX_LEN];
}

export function prefixFlags(buf: Uint8Array, pos: number): number {
  return buf[pos + F.PREFIX_FLAGS];
}

export function validLifetime(buf: Uint8Array, pos: number): number {
  const at = pos + F.PREFIX_VALID;
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function preferredLifetime(buf: Uint8Array, pos: number): number {
  const at = pos + F.PREFIX_PREFERRED;
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function prefixOffset(pos: number): number {
  return pos + F.PREFIX;
}

/** Emit an SLLA or TLLA option for a 6-byte MAC; returns 8. */
export function writeLinkAddr(buf: Uint8Array, pos: number, type: number, mac: Uint8Array, macOff: number): number {
  buf[pos + F.TYPE] = type;
  buf[pos + F.LENGTH] = 1;
  for (let i = 0; i < 6; i++) buf[pos + F.LL_ADDR + i] = mac[macOff + i];
  return LL_ADDR_OPTION_LEN;
}

/** Emit a Nonce option with a 6-byte nonce; returns 8. */
export function writeNonce(buf: Uint8Array, pos: number, nonce: Uint8Array, nonceOff: number): number {
  buf[pos + F.TYPE] = OptionType.Nonce;
  buf[pos + F.LENGTH] = 1;
  for (let i = 0; i < NONCE_LEN; i++) buf[pos + F.NONCE + i] = nonce[nonceOff + i];
  return NONCE_OPTION_LEN;
}
