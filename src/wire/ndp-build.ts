// Builders for Neighbor Solicitations and Advertisements: a whole IPv6
// packet (header + ICMPv6 body + options + checksum) written into a
// caller-supplied buffer. The NDP proxy answers with these on its hot path,
// so they take addresses as (Uint8Array, offset) pairs, allocate nothing,
// write every byte they cover (no reliance on a zeroed buffer) and return
// the number of bytes written. For a frame, write ethernet.writeHeader at
// `off` first and build at off + ethernet.HEADER_LEN.
//
//  IPv6 (40) | ICMPv6 135/136 (24: type, code, checksum, flags/reserved, target)
//            | [SLLA or TLLA option (8)] | [Nonce option (8)]
//
// Hop limit is always 255 (RFC 4861 §7.1). Source, destination and target
// must not overlap the bytes being written.

import { IcmpType, F as ICMP } from './icmpv6.js';
import { HEADER_LEN as IP_HEADER_LEN, Protocol, writeHeader } from './ipv6.js';
import { F as ND, NS_LEN, ND_HOP_LIMIT } from './ndp.js';
import { LL_ADDR_OPTION_LEN, NONCE_OPTION_LEN, OptionType, writeLinkAddr, writeNonce } from './ndp-option.js';
import { fillL4Checksum } from './checksum.js';

/** Bytes buildNs/buildNa write for the given options. */
export function ndLength(withLinkAddr: boolean, withNonce: boolean): number {
  return IP_HEADER_LEN + NS_LEN + (withLinkAddr ? LL_ADDR_OPTION_LEN : 0) + (withNonce ? NONCE_OPTION_LEN : 0);
}

function writeNd(
  buf: Uint8Array, off: number, type: number, flags: number,
  src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  target: Uint8Array, targetOff: number,
  llType: number, mac: Uint8Array | null, macOff: number,
  nonce: Uint8Array | null, nonceOff: number,
): number {
  const icmpLen = ndLength(mac !== null, nonce !== null) - IP_HEADER_LEN;
  writeHeader(buf, off, 0, 0, icmpLen, Protocol.Icmpv6, ND_HOP_LIMIT, src, srcOff, dst, dstOff);
  const icmp = off + IP_HEADER_LEN;
  buf[icmp + ICMP.TYPE] = type;
  buf[icmp + ICMP.CODE] = 0;
  buf[icmp + ICMP.CHECKSUM] = 0;
  buf[icmp + ICMP.CHECKSUM + 1] = 0;
  buf[icmp + ND.NA_FLAGS] = flags;
  buf[icmp + ND.NA_FLAGS + 1] = 0;
  buf[icmp + ND.NA_FLAGS + 2] = 0;
  buf[icmp + ND.NA_FLAGS + 3] = 0;
  for (let i = 0; i < 16; i++) buf[icmp + ND.TARGET + i] = target[targetOff + i];
  let pos = icmp + NS_LEN;
  if (mac !== null) pos += writeLinkAddr(buf, pos, llType, mac, macOff);
  if (nonce !== null) pos += writeNonce(buf, pos, nonce, nonceOff);
  fillL4Checksum(buf, off, icmp, icmpLen, Protocol.Icmpv6);
  return IP_HEADER_LEN + icmpLen;
}

/**
 * Neighbor Solicitation for `target`. `dst` is normally the target's
 * solicited-node group (address.writeSolicitedNode) or, to re-confirm
 * reachability, the target itself. Pass `slla = null` for DAD (unspecified
 * source; RFC 4861 forbids the option then) and `nonce = null` to omit the
 * 6-byte Nonce option (RFC 7527 enhanced DAD uses it).
 */
export function buildNs(
  buf: Uint8Array, off: number,
  src: Uint8Array, srcOff: number,
  dst: Uint8Array, dstOff: number,
  target: Uint8Array, targetOff: number,
  slla: Uint8Array | null, sllaOff: number,
  nonce: Uint8Array | null = null, nonceOff = 0,
): number {
  return writeNd(buf, off, IcmpType.NeighborSolicitation, 0, src, srcOff, dst, dstOff, target, targetOff,
    OptionType.SourceLinkAddr, slla, sllaOff, nonce, nonceOff);
}

/**
 * Neighbor Advertisement for `target` with `flags` from ndp.NaFlag
 * (Router | Solicited | Override). Solicited must be clear when `dst` is
 * multicast (an unsolicited NA to ff02::1). `tlla = null` omits the TLLA.
 */
export function buildNa(
  buf: Uint8Array, off: number,
  src: Uint8Array, srcOff: number,
  dst: Uint8Array, dstOff: number,
  target: Uint8Array, targetOff: number,
  flags: number,
  tlla: Uint8Array | null, tllaOff: number,
  nonce: Uint8Array | null = null, nonceOff = 0,
): number {
  return writeNd(buf, off, IcmpType.NeighborAdvertisement, flags & 0xe0, src, srcOff, dst, dstOff, target, targetOff,
    OptionType.TargetLinkAddr, tlla, tllaOff, nonce, nonceOff);
}
