// Link-layer framing of captured packets: where the IP header starts.
// A capture says once (per file or per pcapng interface) what framing its
// records use; https://www.tcpdump.org/linktypes.html lists the numbers.
//
// Ethernet (1)                       Linux cooked v1 (113)
// +---------+---------+-------+       +------+--------+--------+---------+----------+
// | dst (6) | src (6) | type  |       | pkt  | hatype | halen  | addr(8) | protocol |
// +---------+---------+-------+       | type |        |        |         |          |
//   with 802.1Q / 802.1ad tags       +------+--------+--------+---------+----------+
//   (4 bytes each) before the type      0      2        4        6         14   (16 bytes)
//
// RAW (101) and IPV6 (229) records are a bare IP packet: what a TUN device
// opened with IFF_NO_PI hands over.

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV6 = 229;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

/** Byte offsets in the link headers this module understands. */
export const F = {
  ETH_TYPE: 12,
  ETH_HEADER_LEN: 14,
  VLAN_TAG_LEN: 4,
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
    default: return `link-error ${code}`;
  }
}

/**
 * The EtherType of the network-layer payload: read from the frame for
 * Ethernet (after any VLAN tags) and Linux cooked captures, and inferred from
 * the version nibble for bare-IP link types. Negative `LinkError` otherwise.
 */
export function linkEtherType(linktype: number, data: Uint8Array): number {
  const at = etherTypeAt(linktype, data);
  if (at < 0) return at;
  if (linktype === LINKTYPE_RAW || linktype === LINKTYPE_IPV6) {
    // RAW may hold either IP; IPV6 (229) promises IPv6, so a version nibble of
    // 4 there is the IPv6 parser's bad-version verdict, not an IPv4 packet.
    return linktype === LINKTYPE_RAW && data[0] >> 4 === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
  }
  return (data[at] << 8) | data[at + 1];
}

/**
 * Offset of the IP (v4 or v6) header in a captured frame, or a negative
 * `LinkError`. The caller still checks the version nibble: for the bare-IP
 * link types nothing else says which IP it is.
 */
export function ipOffset(linktype: number, data: Uint8Array): number {
  const type = linkEtherType(linktype, data);
  if (type < 0) return type;
  if (type !== ETHERTYPE_IPV6 && type !== ETHERTYPE_IPV4) return LinkError.NOT_IP;
  switch (linktype) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV6:
      return 0;
    case LINKTYPE_LINUX_SLL:
      return F.SLL_HEADER_LEN;
    default:
      return etherTypeAt(linktype, data) + 2;
  }
}

/** Where the 2-byte EtherType sits (0 for bare IP, whose version nibble stands in for it). */
function etherTypeAt(linktype: number, data: Uint8Array): number {
  switch (linktype) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV6:
      return data.length === 0 ? LinkError.TRUNCATED : 0;
    case LINKTYPE_LINUX_SLL:
      return data.length < F.SLL_HEADER_LEN ? LinkError.TRUNCATED : F.SLL_PROTOCOL;
    case LINKTYPE_ETHERNET: {
      let at = F.ETH_TYPE;
      // Up to two tags (802.1ad outer + 802.1Q inner); a deeper stack is not IP we handle.
      for (let tags = 0; tags <= 2; tags++) {
        if (data.length < at + 2) return LinkError.TRUNCATED;
        const type = (data[at] << 8) | data[at + 1];
        if (type !== ETHERTYPE_VLAN && type !== ETHERTYPE_QINQ) return at;
        at += F.VLAN_TAG_LEN;
      }
      return LinkError.NOT_IP;
    }
    default:
      return LinkError.UNSUPPORTED_LINKTYPE;
  }
}
