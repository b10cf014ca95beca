// pcapng writer (little-endian, one section), for `sixgate capture`: unlike
// classic pcap (writer.ts) one file holds packets of several link types
// (raw IPv6 from the TUN, Ethernet frames from packet sockets) and each
// packet may carry a comment (the drop reason), which Wireshark shows.
// Blocks go to a sink as they are made, so a capture streams into a pipe.
// libpcap (tcpdump) reads one link type per file, though: `linuxCooked`
// reframes raw IP and Ethernet alike as Linux cooked records for that.
//
//  every block: type(4) total_length(4) body... options... total_length(4)
//  SHB  0x0a0d0d0a  byte-order magic 0x1a2b3c4d, version 1.0, section length -1
//  IDB  1           linktype(2) reserved(2) snaplen(4), options if_name(2)
//  EPB  6           interface(4) ts_high(4) ts_low(4) caplen(4) origlen(4) data, options opt_comment(1)
//  option: code(2) length(2) value, padded to 4 bytes; code 0 ends the list
// https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html

import * as ethernet from '../wire/ethernet.js';
import { EtherType } from '../wire/ethernet.js';
import { F as SLL, LINKTYPE_ETHERNET, LINKTYPE_IPV6, LINKTYPE_RAW, linkEtherType } from './linktype.js';

const Block = { SHB: 0x0a0d0d0a, IDB: 1, EPB: 6 } as const;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const Option = { END: 0, COMMENT: 1, IF_NAME: 2, SHB_USERAPPL: 4 } as const;
/** No snaplen: packets are kept whole (a GSO super-packet is up to 64 KiB). */
const NO_SNAPLEN = 0;

const utf8 = new TextEncoder();
const pad4 = (n: number): number => (n + 3) & ~3;

/** One block: `fixed` body bytes, then the options, framed by the lengths. */
function block(type: number, fixed: Uint8Array, options: ReadonlyArray<readonly [number, string]>): Uint8Array {
  const values = options.map(([code, text]) => [code, utf8.encode(text)] as const);
  const optionsLen = values.length === 0 ? 0 : values.reduce((sum, [, v]) => sum + 4 + pad4(v.length), 4);
  const len = 8 + pad4(fixed.length) + optionsLen + 4;
  const out = new Uint8Array(len);
  const view = new DataView(out.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, len, true);
  out.set(fixed, 8);
  let at = 8 + pad4(fixed.length);
  for (const [code, value] of values) {
    view.setUint16(at, code, true);
    view.setUint16(at + 2, value.length, true);
    out.set(value, at + 4);
    at += 4 + pad4(value.length);
  }
  if (values.length !== 0) at += 4; // opt_endofopt: zeros
  view.setUint32(at, len, true);
  return out;
}

export interface PcapngPacket {
  /** Capture time, nanoseconds since the epoch (written in the default microseconds). */
  readonly tsNs: bigint;
  readonly data: Uint8Array;
  /** Length on the wire when `data` was cut (default: data.length). */
  readonly origlen?: number;
  readonly comment?: string;
}

export class PcapngWriter {
  private readonly sink: (block: Uint8Array) => void;
  private interfaces = 0;

  /** Writes the section header to `sink` at once; `application` names the writer (shb_userappl). */
  constructor(sink: (block: Uint8Array) => void, application = 'sixgate') {
    this.sink = sink;
    const shb = new Uint8Array(16);
    const view = new DataView(shb.buffer);
    view.setUint32(0, BYTE_ORDER_MAGIC, true);
    view.setUint16(4, 1, true);
    view.setUint16(6, 0, true);
    view.setBigInt64(8, -1n, true); // section length not given
    sink(block(Block.SHB, shb, [[Option.SHB_USERAPPL, application]]));
  }

  /** Declares an interface; returns its number for `add`. */
  addInterface(linktype: number, name: string): number {
    const idb = new Uint8Array(8);
    const view = new DataView(idb.buffer);
    view.setUint16(0, linktype, true);
    view.setUint32(4, NO_SNAPLEN, true);
    this.sink(block(Block.IDB, idb, [[Option.IF_NAME, name]]));
    return this.interfaces++;
  }

  add(iface: number, packet: PcapngPacket): void {
    if (!Number.isInteger(iface) || iface < 0 || iface >= this.interfaces) throw new RangeError(`interface ${iface} not declared`);
    const { data } = packet;
    const fixed = new Uint8Array(20 + data.length);
    const view = new DataView(fixed.buffer);
    const us = packet.tsNs / 1000n;
    view.setUint32(0, iface, true);
    view.setUint32(4, Number(us >> 32n), true);
    view.setUint32(8, Number(us & 0xffffffffn), true);
    view.setUint32(12, data.length, true);
    view.setUint32(16, packet.origlen ?? data.length, true);
    fixed.set(data, 20);
    this.sink(block(Block.EPB, fixed, packet.comment === undefined ? [] : [[Option.COMMENT, packet.comment]]));
  }
}

/** Linux cooked header fields written by `linuxCooked` (if_packet.h, if_arp.h). */
const SLL_PACKET_HOST = 0;
const SLL_PACKET_MULTICAST = 2;
const ARPHRD_ETHER = 1;
const ARPHRD_NONE = 0xfffe;

/**
 * A raw IP packet (RAW, IPV6) or an Ethernet frame as a Linux cooked (v1)
 * record: the one link type that holds both, as `tcpdump -i any` writes it
 * (libpcap reads one link type per file). An Ethernet frame keeps its source
 * MAC as the link address. Returns undefined for other link types.
 */
export function linuxCooked(linktype: number, data: Uint8Array): Uint8Array | undefined {
  const ethernetFrame = linktype === LINKTYPE_ETHERNET;
  if (!ethernetFrame && linktype !== LINKTYPE_RAW && linktype !== LINKTYPE_IPV6) return undefined;
  const linkLen = ethernetFrame ? ethernet.HEADER_LEN : 0;
  if (data.length < linkLen) return undefined;
  const out = new Uint8Array(SLL.SLL_HEADER_LEN + data.length - linkLen);
  const view = new DataView(out.buffer);
  if (ethernetFrame) {
    view.setUint16(0, (data[0]! & 1) !== 0 ? SLL_PACKET_MULTICAST : SLL_PACKET_HOST);
    view.setUint16(2, ARPHRD_ETHER);
    view.setUint16(4, 6);
    out.set(data.subarray(ethernet.F.SRC, ethernet.F.SRC + 6), 6);
    out.set(data.subarray(ethernet.F.ETHERTYPE, ethernet.HEADER_LEN), SLL.SLL_PROTOCOL);
  } else {
    view.setUint16(0, SLL_PACKET_HOST);
    view.setUint16(2, ARPHRD_NONE);
    view.setUint16(SLL.SLL_PROTOCOL, linkEtherType(linktype, data) === EtherType.Ipv4 ? EtherType.Ipv4 : EtherType.Ipv6);
  }
  out.set(data.subarray(linkLen), SLL.SLL_HEADER_LEN);
  return out;
}
