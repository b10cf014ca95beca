// ICMPv6 (RFC 4443): common header, echo, and the four error messages.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |     Code      |          Checksum             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  echo: Identifier             |  echo: Sequence Number        |
//  |  error: Unused / MTU (type 2) / Pointer (type 4)              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  error: as much of the invoking packet as fits in 1280 bytes  |
//  |  echo: data                                                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// API: `check(buf, off, len)` (len = L4 length from walkChain) gates the
// 8-byte header every message we handle has. For errors, `checkError` also
// requires a whole quoted IPv6 header; walk the quoted packet with
//   walkChain(buf, embeddedOffset(off), len - EMBEDDED, chain, true)
// since the quote is normally cut short. Neighbor Discovery bodies reuse
// these offsets (see ndp.ts).

import { WireError } from './error.js';
import { HEADER_LEN as IP_HEADER_LEN } from './ipv6.js';

export const enum F {
  TYPE = 0,
  CODE = 1,
  CHECKSUM = 2,
  ECHO_ID = 4,
  ECHO_SEQ = 6,
  /** Packet Too Big: the next-hop MTU. */
  MTU = 4,
  /** Parameter Problem: offset of the offending byte in the invoking packet. */
  POINTER = 4,
  /** Error messages: the invoking packet starts here. */
  EMBEDDED = 8,
}

export const HEADER_LEN = 8;

export const enum IcmpType {
  DestinationUnreachable = 1,
  PacketTooBig = 2,
  TimeExceeded = 3,
  ParameterProblem = 4,
  EchoRequest = 128,
  EchoReply = 129,
  MldQuery = 130,
  MldReport = 131,
  MldDone = 132,
  RouterSolicitation = 133,
  RouterAdvertisement = 134,
  NeighborSolicitation = 135,
  NeighborAdvertisement = 136,
  Redirect = 137,
  Mldv2Report = 143,
}

export const DestUnreachableCode = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  AddressUnreachable: 3,
  PortUnreachable: 4,
  SourcePolicyFailed: 5,
  RejectRoute: 6,
} as const;

export const TimeExceededCode = {
  HopLimit: 0,
  FragmentReassembly: 1,
} as const;

export const ParameterProblemCode = {
  ErroneousHeaderField: 0,
  UnrecognizedNextHeader: 1,
  UnrecognizedOption: 2,
  IncompleteHeaderChain: 3,
} as const;

/** Gate: type, code, checksum and the 4-byte message header are present. */
export function check(_buf: Uint8Array, _off: number, len: number): WireError {
  return len < HEADER_LEN ? WireError.Truncated : WireError.Ok;
}

/** Gate for an error message: check() plus a complete quoted IPv6 header. */
export function checkError(buf: Uint8Array, off: number, len: number): WireError {
  if (len < HEADER_LEN) return WireError.Truncated;
  if (!isError(buf[off + F.TYPE])) return WireError.BadType;
  return len < F.EMBEDDED + IP_HEADER_LEN ? WireError.Truncated : WireError.Ok;
}

/** RFC 4443 §2.1: types below this (0..127) are errors, from it on (128..255) informational. */
export const FIRST_INFORMATIONAL_TYPE = 128;

/** RFC 4443 §2.1: whether the type is an error message. */
export function isError(type: number): boolean {
  return type < FIRST_INFORMATIONAL_TYPE;
}

export function type(buf: Uint8Array, off: number): number {
  return buf[off + F.TYPE];
}

export function code(buf: Uint8Array, off: number): number {
  return buf[off + F.CODE];
}

export function checksum(buf: Uint8Array, off: number): number {
  return (buf[off + F.CHECKSUM] << 8) | buf[off + F.CHECKSUM + 1];
}

export function checksumOffset(off: number): number {
  return off + F.CHECKSUM;
}

export function echoId(buf: Uint8Array, off: number): number {
  return (buf[off + F.ECHO_ID] << 8) | buf[off + F.ECHO_ID + 1];
}

export function echoSeq(buf: Uint8Array, off: number): number {
  return (buf[off + F.ECHO_SEQ] << 8) | buf[off + F.ECHO_SEQ + 1];
}

/** The 32-bit word after the checksum: MTU for Packet Too Big, pointer for Parameter Problem. */
export function word(buf: Uint8Array, off: number): number {
  return ((buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7]) >>> 0;
}

export function mtu(buf: Uint8Array, off: number): number {
  return word(buf, off);
}

export function pointer(buf: Uint8Array, off: number): number {
  return word(buf, off);
}

/** Where the quoted invoking packet starts (error messages only). */
export function embeddedOffset(off: number): number {
  return off + F.EMBEDDED;
}

export function setType(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.TYPE] = value;
}

export function setCode(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.CODE] = value;
}

export function setChecksum(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.CHECKSUM] = value >> 8;
  buf[off + F.CHECKSUM + 1] = value;
}

export function setEchoId(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.ECHO_ID] = value >> 8;
  buf[off + F.ECHO_ID + 1] = value;
}

export function setWord(buf: Uint8Array, off: number, value: number): void {
  buf[off + 4] = value >>> 24;
  buf[off + 5] = value >>> 16;
  buf[off + 6] = value >>> 8;
  buf[off + 7] = value;
}

/** Emit the 8-byte header (checksum 0 until checksum.fillL4Checksum). Returns HEADER_LEN. */
export function writeHeader(buf: Uint8Array, off: number, typeValue: number, codeValue: number, wordValue: number): number {
  buf[off + F.TYPE] = typeValue;
  buf[off + F.CODE] = codeValue;
  buf[off + F.CHECKSUM] = 0;
  buf[off + F.CHECKSUM + 1] = 0;
  setWord(buf, off, wordValue);
  return HEADER_LEN;
}
