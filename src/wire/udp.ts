// UDP header (RFC 768; IPv6 rules in RFC 8200 §8.1).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |            Length             |           Checksum            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// API: `check(buf, off, len)` (len = the L4 length from walkChain) gates the
// header and a length field within [8, len]; then accessors are in bounds.
// In IPv6 a checksum of 0 is invalid (checksum.verifyL4Checksum fails it) and
// a computed 0 is sent as 0xffff (checksum.computeL4Checksum does that).

import { WireError } from './error.js';

export const enum F {
  SRC_PORT = 0,
  DST_PORT = 2,
  LENGTH = 4,
  CHECKSUM = 6,
}

export const HEADER_LEN = F.CHECKSUM + 2;

/** Gate: header present and its length field between 8 and the bytes available. */
export function check(buf: Uint8Array, off: number, len: number): WireError {
  if (len < HEADER_LEN) return WireError.Truncated;
  const ulen = length(buf, off);
  if (ulen < HEADER_LEN || ulen > len) return WireError.BadLength;
  return WireError.Ok;
}

export function srcPort(buf: Uint8Array, off: number): number {
  return (buf[off + F.SRC_PORT] << 8) | buf[off + F.SRC_PORT + 1];
}

export function dstPort(buf: Uint8Array, off: number): number {
  return (buf[off + F.DST_PORT] << 8) | buf[off + F.DST_PORT + 1];
}

/** The length field: header plus data. */
export function length(buf: Uint8Array, off: number): number {
  return (buf[off + F.LENGTH] << 8) | buf[off + F.LENGTH + 1];
}

export function checksum(buf: Uint8Array, off: number): number {
  return (buf[off + F.CHECKSUM] << 8) | buf[off + F.CHECKSUM + 1];
}

export function checksumOffset(off: number): number {
  return off + F.CHECKSUM;
}

export function setSrcPort(buf: Uint8Array, off: number, port: number): void {
  buf[off + F.SRC_PORT] = port >> 8;
  buf[off + F.SRC_PORT + 1] = port;
}

export function setDstPort(buf: Uint8Array, off: number, port: number): void {
  buf[off + F.DST_PORT] = port >> 8;
  buf[off + F.DST_PORT + 1] = port;
}

export function setLength(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.LENGTH] = value >> 8;
  buf[off + F.LENGTH + 1] = value;
}

export function setChecksum(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.CHECKSUM] = value >> 8;
  buf[off + F.CHECKSUM + 1] = value;
}

/** Emit a header (every byte; checksum 0 until checksum.fillL4Checksum). Returns HEADER_LEN. */
export function writeHeader(buf: Uint8Array, off: number, src: number, dst: number, totalLength: number): number {
  setSrcPort(buf, off, src);
  setDstPort(buf, off, dst);
  setLength(buf, off, totalLength);
  setChecksum(buf, off, 0);
  return HEADER_LEN;
}
