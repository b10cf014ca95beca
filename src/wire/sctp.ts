// SCTP common header (RFC 9260 §3.1) and its CRC32c checksum (App. B).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Source Port Number        |     Destination Port Number   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                      Verification Tag                         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                           Checksum                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum is a CRC32c over the whole packet with no pseudo-header, so
// an address rewrite leaves it alone and a port rewrite needs it recomputed
// over every byte (fillChecksum). Chunks are not parsed here.

import { WireError } from './error.js';

export const enum F {
  SRC_PORT = 0,
  DST_PORT = 2,
  VERIFICATION_TAG = 4,
  CHECKSUM = 8,
}

export const HEADER_LEN = F.CHECKSUM + 4;

/** Gate: the common header is present. */
export function check(_buf: Uint8Array, _off: number, len: number): WireError {
  return len < HEADER_LEN ? WireError.Truncated : WireError.Ok;
}

// CRC32c (Castagnoli, reflected polynomial 0x82F63B78), table built once at load.
const CRC32C = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC32C[n] = c >>> 0;
}

/** CRC32c of buf[off..off+len) as an int32 (`>>> 0` for the unsigned value), with the 4 bytes at skipAt (if >= 0) read as zero. */
export function crc32c(buf: Uint8Array, off: number, len: number, skipAt = -1): number {
  let c = 0xffffffff;
  const end = off + len;
  for (let i = off; i < end; i++) {
    const b = skipAt >= 0 && i >= skipAt && i < skipAt + 4 ? 0 : buf[i];
    c = CRC32C[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  // int32: a uint32 above 2^31 returned from a call would be a boxed double.
  return ~c;
}

/** Recompute the checksum of the SCTP packet at off (len bytes), stored least significant byte first (App. B). */
export function fillChecksum(buf: Uint8Array, off: number, len: number): void {
  const at = off + F.CHECKSUM;
  const crc = crc32c(buf, off, len, at);
  buf[at] = crc;
  buf[at + 1] = crc >>> 8;
  buf[at + 2] = crc >>> 16;
  buf[at + 3] = crc >>> 24;
}

/** Whether the stored checksum of the SCTP packet at off (len bytes) is its CRC32c. */
export function verifyChecksum(buf: Uint8Array, off: number, len: number): boolean {
  const at = off + F.CHECKSUM;
  const stored = buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24);
  return stored === crc32c(buf, off, len, at);
}
