// Checksum arithmetic for rewrites driven by the connection table, whose
// addresses are 32-bit words rather than bytes, plus SCTP's CRC32c.
//
// A rewrite accumulates one unfolded RFC 1624 difference (sum of ~old + new
// over the changed 16-bit words) and applies it to the checksum field once:
//   complete checksum:  HC' = ~fold(~HC + diff)
//   partial (NEEDS_CSUM, virtio offload): HC' = fold(HC + diff), and only the
//     pseudo-header fields (addresses) may be in diff, never the ports: the
//     kernel sums the L4 bytes itself later. See src/wire/checksum.ts.
// ~old for one 16-bit word is 0xffff - old, so the difference for an
// address is 8 * 0xffff - sum(old words) + sum(new words), always >= 0.

import { fold } from '../wire/checksum.js';

/** Σ of 0xffff over the eight 16-bit words of an address (the "~old" constant). */
export const ADDRESS_ONES = 8 * 0xffff;

/** Read the address at buf[at..at+16) into out[o..o+3] as big-endian words; returns their unfolded 16-bit sum. */
export function readAddress(buf: Uint8Array, at: number, out: Uint32Array, o: number): number {
  let sum = 0;
  for (let i = 0; i < 4; i++) {
    const p = at + 4 * i;
    const hi = (buf[p] << 8) | buf[p + 1];
    const lo = (buf[p + 2] << 8) | buf[p + 3];
    out[o + i] = ((hi << 16) | lo) >>> 0;
    sum += hi + lo;
  }
  return sum;
}

/** Write the words w[o..o+3] to buf[at..at+16); returns their unfolded 16-bit sum. */
export function writeAddress(buf: Uint8Array, at: number, w: Uint32Array, o: number): number {
  let sum = 0;
  for (let i = 0; i < 4; i++) {
    const v = w[o + i];
    const p = at + 4 * i;
    buf[p] = v >>> 24;
    buf[p + 1] = v >>> 16;
    buf[p + 2] = v >>> 8;
    buf[p + 3] = v;
    sum += (v >>> 16) + (v & 0xffff);
  }
  return sum;
}

/** Unfolded 16-bit sum of the address words w[o..o+3]. */
export function addressSum(w: Uint32Array, o: number): number {
  return (w[o] >>> 16) + (w[o] & 0xffff) + (w[o + 1] >>> 16) + (w[o + 1] & 0xffff) +
    (w[o + 2] >>> 16) + (w[o + 2] & 0xffff) + (w[o + 3] >>> 16) + (w[o + 3] & 0xffff);
}

/**
 * Apply an unfolded difference to the checksum at csumAt. `udp`: a UDP
 * checksum of 0 (none) stays 0 and a 0 result is sent as 0xffff.
 */
export function applyComplete(buf: Uint8Array, csumAt: number, diff: number, udp: boolean): void {
  const hc = (buf[csumAt] << 8) | buf[csumAt + 1];
  if (udp && hc === 0) return;
  let v = ~fold((~hc & 0xffff) + diff) & 0xffff;
  if (udp && v === 0) v = 0xffff;
  buf[csumAt] = v >> 8;
  buf[csumAt + 1] = v;
}

/** Apply an address-only difference to a NEEDS_CSUM partial pseudo-header sum. */
export function applyPartial(buf: Uint8Array, csumAt: number, diff: number): void {
  const v = fold(((buf[csumAt] << 8) | buf[csumAt + 1]) + diff);
  buf[csumAt] = v >> 8;
  buf[csumAt + 1] = v;
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

/** Offset of the SCTP common header's checksum, and the minimum header (RFC 9260 §3.1). */
export const SCTP_CHECKSUM = 8;
export const SCTP_HEADER_LEN = 12;

/** Recompute the SCTP checksum of the packet at l4 (len bytes). RFC 9260 App. B stores the CRC least significant byte first. */
export function fillSctpChecksum(buf: Uint8Array, l4: number, len: number): void {
  const at = l4 + SCTP_CHECKSUM;
  const crc = crc32c(buf, l4, len, at);
  buf[at] = crc;
  buf[at + 1] = crc >>> 8;
  buf[at + 2] = crc >>> 16;
  buf[at + 3] = crc >>> 24;
}
