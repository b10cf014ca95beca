// Link-layer framing of captured packets: where the IP header starts.
// A capture says once (per file or per pcapng interface) what framing its
// records use; https://www.tcpdump.org/linktypes.html lists the numbers.
//
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

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV6 = 229;

/** Byte offsets in the Linux cooked header. */
export const F = {
  SLL_PROTOCOL: 14,
  SLL_HEADER_LEN: 16,
} as const;

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
    case LINKTYPE_ETHERNET: return 'EN10MB';
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
    default: return 0;
  }
}
