// Link-layer framing of captured packets: where the IP header starts.
// A capture says once (per file or per pcapng interface) what framing its
// records use; https://www.tcpdump.org/linktypes.html lists the numbers.
//
//  NULL (0), LOOP (108): BSD loopback, a 4-byte address family, then the IP packet.
//    NULL writes it in the capturing host's byte order, LOOP in network order;
//    like libpcap and tcpdump, a value with its upper 16 bits set is read swapped.
//    IPv6 has three numbers there (24 NetBSD/OpenBSD, 28 FreeBSD, 30 Darwin).
//  EN10MB (1): Ethernet II, see src/wire/ethernet.ts (one 802.1Q tag allowed)
//  RAW (101), IPV6 (229): a bare IP packet, what a TUN opened with IFF_NO_PI hands over
//  LINUX_SLL (113), "Linux cooked" v1, what `tcpdump -i any` writes:
//  +----------+--------+--------+------------------+----------+
//  | pkt type | hatype | halen  | link address (8) | protocol |
//  +----------+--------+--------+------------------+----------+
//   0          2        4        6                  14         16
import * as ethernet from '../wire/ethernet.js';
import { EtherType } from '../wire/ethernet.js';
import { WireError } from '../wire/error.js';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV6 = 229;

/** Byte offsets in the Linux cooked header. */
export const F = {
  NULL_HEADER_LEN: 4,
  SLL_PROTOCOL: 14,
  SLL_HEADER_LEN: 16,
} as const;

/** BSD address families in a NULL/LOOP header. */
const AddressFamily = { INET: 2, INET6_BSD: 24, INET6_FREEBSD: 28, INET6_DARWIN: 30 } as const;

/**
 * Why `ipOffset` found no IP header. Negative, so one number carries either an
 * offset or a reason and the caller needs no result object.
 */
export const LinkError = {
  /** The frame carries something else (ARP, LLDP, ...); `linkEtherType` says what. */
  NOT_IP: -1,
  /** The capture ends inside the link header. */
  TRUNCATED: -2,
  /** A link type this reader does not frame. */
  UNSUPPORTED_LINKTYPE: -3,
} as const;

export function linktypeName(linktype: number): string {
  switch (linktype) {
    case LINKTYPE_NULL: return 'NULL';
    case LINKTYPE_ETHERNET: return 'EN10MB';
    case LINKTYPE_LOOP: return 'LOOP';
    case LINKTYPE_RAW: return 'RAW';
    case LINKTYPE_LINUX_SLL: return 'LINUX_SLL';
    case LINKTYPE_IPV6: return 'IPV6';
    default: return `linktype ${linktype}`;
  }
}

export function linkErrorName(code: number): string {
  switch (code) {
    case LinkError.NOT_IP: return 'not-ip';
    case LinkError.TRUNCATED: return 'link-truncated';
    case LinkError.UNSUPPORTED_LINKTYPE: return 'unsupported-linktype';
    default: return `link-error-${code}`;
  }
}

/**
 * The EtherType of the network-layer payload (0x86dd, 0x0800, 0x0806, ...),
 * or a negative `LinkError`. For the bare-IP link types nothing but the
 * version nibble tells the IPs apart: RAW may carry either, while IPV6 (229)
 * promises IPv6, so a 4 there is left for the IPv6 gate to refuse.
 */
export function linkEtherType(linktype: number, data: Uint8Array): number {
  switch (linktype) {
    case LINKTYPE_RAW:
      if (data.length === 0) return LinkError.TRUNCATED;
      return data[0] >> 4 === 4 ? EtherType.Ipv4 : EtherType.Ipv6;
    case LINKTYPE_IPV6:
      return data.length === 0 ? LinkError.TRUNCATED : EtherType.Ipv6;
    case LINKTYPE_LINUX_SLL:
      if (data.length < F.SLL_HEADER_LEN) return LinkError.TRUNCATED;
      return (data[F.SLL_PROTOCOL] << 8) | data[F.SLL_PROTOCOL + 1];
    case LINKTYPE_ETHERNET:
      if (ethernet.check(data, 0, data.length) !== WireError.Ok) return LinkError.TRUNCATED;
      return ethernet.etherType(data, 0);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP:
      if (data.length < F.NULL_HEADER_LEN) return LinkError.TRUNCATED;
      return addressFamilyEtherType(data);
    default:
      return LinkError.UNSUPPORTED_LINKTYPE;
  }
}

/**
 * Offset of the IP (v4 or v6) header in a captured frame, or a negative
 * `LinkError`; `linkEtherType` says which IP it is.
 */
export function ipOffset(linktype: number, data: Uint8Array): number {
  const type = linkEtherType(linktype, data);
  if (type < 0) return type;
  if (type !== EtherType.Ipv6 && type !== EtherType.Ipv4) return LinkError.NOT_IP;
  switch (linktype) {
    case LINKTYPE_ETHERNET: return ethernet.headerLength(data, 0);
    case LINKTYPE_LINUX_SLL: return F.SLL_HEADER_LEN;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: return F.NULL_HEADER_LEN;
    default: return 0;
  }
}

/** The EtherType a NULL/LOOP header's address family stands for; NOT_IP for any other family. */
function addressFamilyEtherType(data: Uint8Array): number {
  // Little-endian when the upper half (bytes 2-3) is zero, else read as big-endian.
  const family = (data[2] | data[3]) === 0 ? data[0] | (data[1] << 8)
    : (data[0] | data[1]) === 0 ? (data[2] << 8) | data[3] : -1;
  switch (family) {
    case AddressFamily.INET: return EtherType.Ipv4;
    case AddressFamily.INET6_BSD:
    case AddressFamily.INET6_FREEBSD:
    case AddressFamily.INET6_DARWIN: return EtherType.Ipv6;
    default: return LinkError.NOT_IP;
  }
}
