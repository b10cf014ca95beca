// TCP header (RFC 9293 §3.1).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Acknowledgment Number                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Data |       |C|E|U|A|P|R|S|F|                               |
//  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//  |       |       |R|E|G|K|H|T|N|N|                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           Checksum            |         Urgent Pointer        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (data offset * 4 - 20 bytes)       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// API: `check(buf, off, len)` (len = the L4 length from walkChain) gates the
// fixed header and the data offset; then every accessor is in bounds.
// Inside an ICMPv6 error the quoted TCP header may be cut after 8 bytes: use
// `checkPorts` there, which only promises the ports and sequence number.

import { WireError } from './error.js';

export const enum F {
  SRC_PORT = 0,
  DST_PORT = 2,
  SEQ = 4,
  ACK = 8,
  DATA_OFFSET = 12,
  FLAGS = 13,
  WINDOW = 14,
  CHECKSUM = 16,
  URGENT = 18,
}

export const HEADER_LEN = F.URGENT + 2;
/** Bytes an ICMPv6 error must quote to reach the ports and sequence number. */
export const PORTS_LEN = F.ACK;

export const enum Flag {
  Fin = 0x01,
  Syn = 0x02,
  Rst = 0x04,
  Psh = 0x08,
  Ack = 0x10,
  Urg = 0x20,
  Ece = 0x40,
  Cwr = 0x80,
}

/** Gate: fixed header present, data offset >= 5 and within `len`. */
export function check(buf: Uint8Array, off: number, len: number): WireError {
  if (len < HEADER_LEN) return WireError.Truncated;
  const hlen = headerLength(buf, off);
  if (hlen < HEADER_LEN || hlen > len) return WireError.BadHeaderLength;
  return WireError.Ok;
}

/** Gate for a quoted (possibly cut) header: ports and sequence number present. */
export function checkPorts(len: number): WireError {
  return len < PORTS_LEN ? WireError.Truncated : WireError.Ok;
}

export function srcPort(buf: Uint8Array, off: number): number {
  return (buf[off + F.SRC_PORT] << 8) | buf[off + F.SRC_PORT + 1];
}

export function dstPort(buf: Uint8Array, off: number): number {
  return (buf[off + F.DST_PORT] << 8) | buf[off + F.DST_PORT + 1];
}

function u32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function seqNumber(buf: Uint8Array, off: number): number {
  return u32(buf, off + F.SEQ);
}

export function ackNumber(buf: Uint8Array, off: number): number {
  return u32(buf, off + F.ACK);
}

/** Header length in bytes (data offset * 4). */
export function headerLength(buf: Uint8Array, off: number): number {
  return (buf[off + F.DATA_OFFSET] >> 4) * 4;
}

/** The eight flag bits CWR..FIN (see Flag). */
export function flags(buf: Uint8Array, off: number): number {
  return buf[off + F.FLAGS];
}

export function window(buf: Uint8Array, off: number): number {
  return (buf[off + F.WINDOW] << 8) | buf[off + F.WINDOW + 1];
}

export function checksum(buf: Uint8Array, off: number): number {
  return (buf[off + F.CHECKSUM] << 8) | buf[off + F.CHECKSUM + 1];
}

export function urgentPointer(buf: Uint8Array, off: number): number {
  return (buf[off + F.URGENT] << 8) | buf[off + F.URGENT + 1];
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

export function setChecksum(buf: Uint8Array, off: number, value: number): void {
  buf[off + F.CHECKSUM] = value >> 8;
  buf[off + F.CHECKSUM + 1] = value;
}

/**
 * Emit a 20-byte header without options (data offset 5, urgent pointer 0,
 * checksum 0 until checksum.fillL4Checksum). Returns HEADER_LEN.
 */
export function writeHeader(
  buf: Uint8Array, off: number, src: number, dst: number, seq: number, ack: number, flagBits: number, windowValue: number,
): number {
  setSrcPort(buf, off, src);
  setDstPort(buf, off, dst);
  setU32(buf, off + F.SEQ, seq);
  setU32(buf, off + F.ACK, ack);
  buf[off + F.DATA_OFFSET] = (HEADER_LEN / 4) << 4;
  buf[off + F.FLAGS] = flagBits;
  buf[off + F.WINDOW] = windowValue >> 8;
  buf[off + F.WINDOW + 1] = windowValue;
  setChecksum(buf, off, 0);
  buf[off + F.URGENT] = 0;
  buf[off + F.URGENT + 1] = 0;
  return HEADER_LEN;
}

function setU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = value >>> 16;
  buf[at + 2] = value >>> 8;
  buf[at + 3] = value;
}
