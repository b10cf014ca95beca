// IPv6 extension-header chain (RFC 8200 §4) and the walk to the upper layer.
//
// Generic layout shared by Hop-by-Hop, Routing and Destination Options
// (length in 8-octet units, not counting the first 8):
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Next Header  |  Hdr Ext Len  |   type-specific (Routing:     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+   Routing Type, Segments Left)|
//  |                   ... (Hdr Ext Len + 1) * 8 bytes ...         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Fragment header (RFC 8200 §4.5), always 8 bytes:
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Identification                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Authentication Header (RFC 4302) is walked too; its length is in 4-octet
// units plus 2. ESP ends the walk (everything after it is encrypted), and so
// does any protocol that is not an extension header, including No Next
// Header (59), which is reported as the protocol with the rest as its bytes.
//
// Jumbo Payload (RFC 2675): a packet whose payload length is 0 and whose
// Hop-by-Hop header carries option 0xC2 takes its length (> 65535) from the
// option's 32-bit value instead:
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Option Type  |  Opt Data Len |    Jumbo Payload Length ...   |
//  |     0xC2      |       4       |  (bytes after the IPv6 header)|
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// No link sixgate forwards on carries one, so the data plane refuses it with
// its own reason (Jumbogram) rather than read it as an empty packet; a
// decoder asks for it to be walked (acceptJumbo).
//
// API: `walkChain(buf, off, len, out, allowTruncated, acceptJumbo)` fills a
// caller-owned, reused `Ipv6Chain` and returns a WireError. It does the
// ipv6.check() itself. Offsets in the result are absolute (indices into buf).
// With allowTruncated, the packet may be shorter than its payload length says
// -- the case of the invoking packet quoted inside an ICMPv6 error -- but
// every header walked must still be complete in the captured bytes.

import { WireError } from './error.js';
import { F as IP, HEADER_LEN as IP_HEADER_LEN, Protocol, payloadLength } from './ipv6.js';

export const F = {
  NEXT_HEADER: 0,
  HDR_EXT_LEN: 1,
  ROUTING_TYPE: 2,
  SEGMENTS_LEFT: 3,
  FRAG_OFFSET_FLAGS: 2,
  FRAG_ID: 4,
} as const;

/** Smallest extension header, and the fixed size of a Fragment header. */
export const HEADER_LEN = 8;
export const FRAGMENT_HEADER_LEN = HEADER_LEN;

/** Hop-by-Hop option types read here (RFC 8200 §4.2, RFC 2675). */
const HbhOption = { Pad1: 0, JumboPayload: 0xc2 } as const;
/** Opt Data Len of a Jumbo Payload option, and the smallest length it may announce. */
const JUMBO_DATA_LEN = 4;
const MIN_JUMBO_LENGTH = 65536;

export const RoutingType = {
  /** Deprecated by RFC 5095: a NAT must drop it when Segments Left > 0. */
  Type0: 0,
  Nimrod: 1,
  Type2: 2,
  Rpl: 3,
  SegmentRouting: 4,
} as const;

/** Result of walkChain; allocate once and pass it again for every packet. */
export class Ipv6Chain {
  /** Upper-layer protocol (TCP 6, UDP 17, ICMPv6 58, No Next Header 59, ESP 50, ...). */
  protocol = 0;
  /** Absolute offset of the upper-layer header (or, for a non-first fragment, of its data). */
  l4Offset = 0;
  /** Bytes from l4Offset to the end of the packet, or to the end of the capture when truncated. */
  l4Length = 0;
  /** Absolute offset of the byte that holds `protocol`: the IPv6 next-header field or the last extension header's. */
  protocolFieldOffset = 0;
  /** Absolute end of the packet as its payload length claims (off + 40 + payload length). */
  payloadEnd = 0;
  /** The Jumbo Payload length of an RFC 2675 jumbogram (walked with acceptJumbo), else 0. */
  jumboLength = 0;
  /** Set only with allowTruncated: the capture ends before payloadEnd. */
  truncated = false;
  /** Number of extension headers walked. */
  headerCount = 0;
  /** A Hop-by-Hop Options header was present. */
  hasHopByHop = false;
  /** A Fragment header was present and this is a real fragment (offset > 0 or more fragments follow); atomic fragments are not. */
  isFragment = false;
  /** Fragment offset in bytes (the field times 8). */
  fragmentOffset = 0;
  fragmentId = 0;
  moreFragments = false;
  /** Absolute offset of the first Fragment header, or -1 when there is none (atomic fragments included). */
  fragmentHeaderOffset = -1;
  /** Routing Type of the first Routing header, or -1 when there is none. */
  routingType = -1;
  segmentsLeft = 0;
  routingHeaderOffset = -1;
  /**
   * Absolute offset of the destination address the upper-layer checksum
   * covers (RFC 8200 §8.1): the IPv6 destination, except while a Routing
   * header still has segments left, when it is the final one listed there.
   * When this is not ipOff + 24, rewriting the IPv6 destination leaves the
   * L4 checksum alone.
   */
  pseudoDstOffset = 0;

  reset(): void {
    this.protocol = 0;
    this.l4Offset = 0;
    this.l4Length = 0;
    this.protocolFieldOffset = 0;
    this.payloadEnd = 0;
    this.jumboLength = 0;
    this.truncated = false;
    this.headerCount = 0;
    this.hasHopByHop = false;
    this.isFragment = false;
    this.fragmentOffset = 0;
    this.fragmentId = 0;
    this.moreFragments = false;
    this.fragmentHeaderOffset = -1;
    this.routingType = -1;
    this.segmentsLeft = 0;
    this.routingHeaderOffset = -1;
    this.pseudoDstOffset = 0;
  }
}

/** Whether `protocol` is an extension header this walk steps over. */
export function isExtensionHeader(protocol: number): boolean {
  return protocol === Protocol.HopByHop || protocol === Protocol.Routing ||
    protocol === Protocol.Fragment || protocol === Protocol.DestinationOptions ||
    protocol === Protocol.Ah;
}

/**
 * Walk the extension headers of the IPv6 packet at `off` (`len` captured
 * bytes) to the upper layer. Never throws; on error `out` is partly filled.
 */
export function walkChain(
  buf: Uint8Array, off: number, len: number, out: Ipv6Chain, allowTruncated = false, acceptJumbo = false,
): WireError {
  out.reset();
  if (len < 1) return WireError.Truncated;
  const ver = buf[off] >> 4;
  if (ver !== 6) return ver === 4 ? WireError.NotIpv6 : WireError.BadVersion;
  if (len < IP_HEADER_LEN) return WireError.Truncated;

  let payloadEnd = off + IP_HEADER_LEN + payloadLength(buf, off);
  if (payloadEnd === off + IP_HEADER_LEN && buf[off + IP.NEXT_HEADER] === Protocol.HopByHop) {
    const jumbo = jumboPayloadLength(buf, off + IP_HEADER_LEN, off + len);
    if (jumbo < 0) return WireError.BadLength;
    if (jumbo > 0) {
      if (!acceptJumbo) return WireError.Jumbogram;
      out.jumboLength = jumbo;
      payloadEnd += jumbo;
    }
  }
  const capturedEnd = off + len;
  let end = payloadEnd;
  if (payloadEnd > capturedEnd) {
    if (!allowTruncated) return WireError.BadLength;
    end = capturedEnd;
    out.truncated = true;
  }
  out.payloadEnd = payloadEnd;
  out.pseudoDstOffset = off + IP.DST;

  let next = buf[off + IP.NEXT_HEADER];
  let fieldAt = off + IP.NEXT_HEADER;
  let pos = off + IP_HEADER_LEN;
  // Every header is at least 8 bytes, so the loop ends within len / 8 steps.
  for (;;) {
    let hdrLen: number;
    if (next === Protocol.HopByHop || next === Protocol.Routing || next === Protocol.DestinationOptions) {
      if (next === Protocol.HopByHop) {
        if (pos !== off + IP_HEADER_LEN) return WireError.HopByHopNotFirst;
        out.hasHopByHop = true;
      }
      if (pos + HEADER_LEN > end) return cutShort(pos + HEADER_LEN, payloadEnd);
      hdrLen = (buf[pos + F.HDR_EXT_LEN] + 1) * 8;
      if (next === Protocol.Routing && out.routingHeaderOffset < 0) {
        out.routingHeaderOffset = pos;
        out.routingType = buf[pos + F.ROUTING_TYPE];
        out.segmentsLeft = buf[pos + F.SEGMENTS_LEFT];
        if (out.segmentsLeft > 0) out.pseudoDstOffset = finalDestination(buf, pos, out.pseudoDstOffset);
      }
    } else if (next === Protocol.Ah) {
      if (pos + HEADER_LEN > end) return cutShort(pos + HEADER_LEN, payloadEnd);
      hdrLen = (buf[pos + F.HDR_EXT_LEN] + 2) * 4;
    } else if (next === Protocol.Fragment) {
      if (pos + FRAGMENT_HEADER_LEN > end) return cutShort(pos + FRAGMENT_HEADER_LEN, payloadEnd);
      // RFC 2675 §3: a jumbogram cannot be fragmented; its length would be a lie.
      if (out.jumboLength !== 0) return WireError.BadLength;
      hdrLen = FRAGMENT_HEADER_LEN;
      if (out.fragmentHeaderOffset < 0) {
        const word = (buf[pos + F.FRAG_OFFSET_FLAGS] << 8) | buf[pos + F.FRAG_OFFSET_FLAGS + 1];
        out.fragmentHeaderOffset = pos;
        out.fragmentOffset = word & 0xfff8;
        out.moreFragments = (word & 1) === 1;
        out.fragmentId = ((buf[pos + F.FRAG_ID] << 24) | (buf[pos + F.FRAG_ID + 1] << 16) |
          (buf[pos + F.FRAG_ID + 2] << 8) | buf[pos + F.FRAG_ID + 3]) >>> 0;
        out.isFragment = out.fragmentOffset !== 0 || out.moreFragments;
      }
      if (out.fragmentOffset !== 0) {
        // Only the first fragment carries the rest of the chain; here the
        // bytes after the Fragment header are a slice of someone else's data.
        out.headerCount++;
        out.protocol = buf[pos + F.NEXT_HEADER];
        out.protocolFieldOffset = pos + F.NEXT_HEADER;
        out.l4Offset = pos + FRAGMENT_HEADER_LEN;
        out.l4Length = end - out.l4Offset;
        return WireError.Ok;
      }
    } else {
      out.protocol = next;
      out.protocolFieldOffset = fieldAt;
      out.l4Offset = pos;
      out.l4Length = end - pos;
      return WireError.Ok;
    }
    if (pos + hdrLen > end) return cutShort(pos + hdrLen, payloadEnd);
    out.headerCount++;
    fieldAt = pos + F.NEXT_HEADER;
    next = buf[fieldAt];
    pos += hdrLen;
  }
}

// The Jumbo Payload length in the Hop-by-Hop header at `hbh` (the captured
// bytes end at capturedEnd): 0 when the header has no such option or is not
// all captured (the walk then reports it), -1 when the option is malformed
// (wrong size, or a length a plain payload length could have said).
function jumboPayloadLength(buf: Uint8Array, hbh: number, capturedEnd: number): number {
  if (hbh + HEADER_LEN > capturedEnd) return 0;
  const end = hbh + (buf[hbh + F.HDR_EXT_LEN] + 1) * 8;
  if (end > capturedEnd) return 0;
  for (let at = hbh + 2; at < end;) {
    const type = buf[at];
    if (type === HbhOption.Pad1) {
      at++;
      continue;
    }
    if (at + 2 > end) return 0;
    const dataLen = buf[at + 1];
    if (type === HbhOption.JumboPayload) {
      if (dataLen !== JUMBO_DATA_LEN || at + 2 + JUMBO_DATA_LEN > end) return -1;
      const value = ((buf[at + 2] << 24) | (buf[at + 3] << 16) | (buf[at + 4] << 8) | buf[at + 5]) >>> 0;
      return value < MIN_JUMBO_LENGTH ? -1 : value;
    }
    at += 2 + dataLen;
  }
  return 0;
}

// Where a Routing header with segments left keeps the final destination:
// the last address for types 0 and 2, Segment List[0] for SRH (RFC 8754,
// the list is stored in reverse). Other types are opaque; keep `fallback`.
// The caller's length check rejects the packet if this lies past the header.
function finalDestination(buf: Uint8Array, pos: number, fallback: number): number {
  const addresses = buf[pos + F.HDR_EXT_LEN] >> 1;
  if (addresses === 0) return fallback;
  const type = buf[pos + F.ROUTING_TYPE];
  if (type === RoutingType.Type0 || type === RoutingType.Type2) return pos + HEADER_LEN + 16 * (addresses - 1);
  if (type === RoutingType.SegmentRouting) return pos + HEADER_LEN;
  return fallback;
}

// A header that does not fit is malformed if it overruns the packet's own
// length, and merely cut off by the capture (or ICMPv6 quoting) otherwise.
function cutShort(needEnd: number, payloadEnd: number): WireError {
  return needEnd > payloadEnd ? WireError.BadHeaderLength : WireError.Truncated;
}

/** Routing header Type 0 with segments left: RFC 5095 says drop it (a NAT must not forward it). */
export function hasActiveRoutingType0(chain: Ipv6Chain): boolean {
  return chain.routingType === RoutingType.Type0 && chain.segmentsLeft > 0;
}
