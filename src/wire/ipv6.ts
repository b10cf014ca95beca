// IPv6 fixed header (RFC 8200 §3).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version| Traffic Class |           Flow Label                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                         Source Address                        +
//  |                          (16 bytes)                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +                      Destination Address                      +
//  |                          (16 bytes)                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// API: `check(buf, off, len)` gates a packet of `len` captured bytes at
// `off` (bare, as a TUN delivers it; strip the link header first). After Ok,
// every accessor below is in bounds and off + packetLength(buf, off) <= off + len.
// Bytes after packetLength (Ethernet padding) are not part of the packet.
// Addresses are never copied: srcOffset/dstOffset give where they live.
// Jumbograms (payload length 0 + Jumbo option, RFC 2675) are recognised by
// walkChain in src/wire/ipv6-ext.ts; here a payload length of 0 means an empty payload.

import { WireError } from './error.js';

export const enum F {
  VER_TC_FLOW = 0,
  PAYLOAD_LEN = 4,
  NEXT_HEADER = 6,
  HOP_LIMIT = 7,
  SRC = 8,
  DST = 24,
}

export const ADDRESS_LEN = 16;
export const HEADER_LEN = F.DST + ADDRESS_LEN;
/** RFC 8200 §5: every link carries this; an ICMPv6 error never exceeds it (RFC 4443 §2.4 (c)). */
export const MIN_MTU = 1280;

/** Next-header / protocol numbers (IANA "Assigned Internet Protocol Numbers"). */
export const Protocol = {
  HopByHop: 0,
  Tcp: 6,
  Udp: 17,
  Ipv6: 41,
  Routing: 43,
  Fragment: 44,
  Esp: 50,
  Ah: 51,
  Icmpv6: 58,
  NoNextHeader: 59,
  DestinationOptions: 60,
  Sctp: 132,
  Mobility: 135,
} as const;

/**
 * Gate: a whole IPv6 header with version 6, and a payload length that fits in
 * `len`. Version 4 gives NotIpv6, any other version BadVersion.
 */
export function check(buf: Uint8Array, off: number, len: number): WireError {
  if (len < 1) return WireError.Truncated;
  // Version first, so a bare IPv4 packet on a TUN is counted as IPv4 (harmless,
  // routed elsewhere) rather than as garbage, even when shorter than 40 bytes.
  const ver = buf[off] >> 4;
  if (ver !== 6) return ver === 4 ? WireError.NotIpv6 : WireError.BadVersion;
  if (len < HEADER_LEN) return WireError.Truncated;
  if (HEADER_LEN + payloadLength(buf, off) > len) return WireError.BadLength;
  return WireError.Ok;
}

/** The version nibble of the first byte (4 for IPv4): lets a TUN reader classify before checking. */
export function version(buf: Uint8Array, off: number): number {
  return buf[off] >> 4;
}

export function trafficClass(buf: Uint8Array, off: number): number {
  return ((buf[off] & 0x0f) << 4) | (buf[off + 1] >> 4);
}

export function flowLabel(buf: Uint8Array, off: number): number {
  return ((buf[off + 1] & 0x0f) << 16) | (buf[off + 2] << 8) | buf[off + 3];
}

export function payloadLength(buf: Uint8Array, off: number): number {
  return (buf[off + F.PAYLOAD_LEN] << 8) | buf[off + F.PAYLOAD_LEN + 1];
}

/** Header plus payload: the packet's real length, without link-layer padding. */
export function packetLength(buf: Uint8Array, off: number): number {
  return HEADER_LEN + payloadLength(buf, off);
}

export function nextHeader(buf: Uint8Array, off: number): number {
  return buf[off + F.NEXT_HEADER];
}

export function hopLimit(buf: Uint8Array, off: number): number {
  return buf[off + F.HOP_LIMIT];
}

export function srcOffset(off: number): number {
  return off + F.SRC;
}

export function dstOffset(off: number): number {
  return off + F.DST;
}

export function setPayloadLength(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.PAYLOAD_LEN] = value >> 8;
  buf[off + F.PAYLOAD_LEN + 1] = value;
}

export function setNextHeader(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.NEXT_HEADER] = value;
}

export function setHopLimit(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.HOP_LIMIT] = value;
}

/**
 * Emit a whole fixed header (every byte); the addresses are copied from
 * (src, srcOff) and (dst, dstOff), which may lie in `buf` itself as long as
 * they do not overlap the header being written. Returns HEADER_LEN.
 */
export function writeHeader(
  buf: Uint8Array, off: number,
  trafficClassValue: number, flowLabelValue: number,
  payloadLen: number, next: number, hops: number,
  src: Uint8Array, srcOff: number,
  dst: Uint8Array, dstOff: number,
): number {
  buf[off] = 0x60 | ((trafficClassValue >> 4) & 0x0f);
  buf[off + 1] = ((trafficClassValue & 0x0f) << 4) | ((flowLabelValue >> 16) & 0x0f);
  buf[off + 2] = flowLabelValue >> 8;
  buf[off + 3] = flowLabelValue;
  buf[off + F.PAYLOAD_LEN] = payloadLen >> 8;
  buf[off + F.PAYLOAD_LEN + 1] = payloadLen;
  buf[off + F.NEXT_HEADER] = next;
  buf[off + F.HOP_LIMIT] = hops;
  for (let i = 0; i < ADDRESS_LEN; i++) buf[off + F.SRC + i] = src[srcOff + i];
  for (let i = 0; i < ADDRESS_LEN; i++) buf[off + F.DST + i] = dst[dstOff + i];
  return HEADER_LEN;
}

/**
 * Emit a whole fixed header with traffic class and flow label 0 and the
 * addresses given as big-endian words (w[srcO..srcO+3], w[dstO..dstO+3]),
 * the form the NAT keeps them in: a reply swaps them without a copy of the
 * packet. Returns HEADER_LEN.
 */
export function writeHeaderWords(
  buf: Uint8Array, off: number, payloadLen: number, next: number, hops: number,
  w: Uint32Array, srcO: number, dstO: number,
): number {
  buf[off] = 0x60;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  setPayloadLength(buf, off, payloadLen);
  buf[off + F.NEXT_HEADER] = next;
  buf[off + F.HOP_LIMIT] = hops;
  for (let i = 0; i < 4; i++) {
    const s = w[srcO + i];
    const d = w[dstO + i];
    const at = 4 * i;
    buf[off + F.SRC + at] = s >>> 24;
    buf[off + F.SRC + at + 1] = s >>> 16;
    buf[off + F.SRC + at + 2] = s >>> 8;
    buf[off + F.SRC + at + 3] = s;
    buf[off + F.DST + at] = d >>> 24;
    buf[off + F.DST + at + 1] = d >>> 16;
    buf[off + F.DST + at + 2] = d >>> 8;
    buf[off + F.DST + at + 3] = d;
  }
  return HEADER_LEN;
}
