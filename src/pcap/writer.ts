// Classic pcap writer (the libpcap file format, little-endian).
// Used by tests and the lab to hand captures to tcpdump/Wireshark, so it
// writes the most widely readable form: version 2.4, one link type per file.
//
//  global header (24 bytes)             record header (16 bytes) + data
//  +-------+-----+-----+------+------+  +--------+----------+--------+---------+
//  | magic | 2   | 4   | zone | sigf |  | ts_sec | ts_frac  | caplen | origlen |
//  +-------+-----+-----+------+------+  +--------+----------+--------+---------+
//  | snaplen        | linktype        |
//  +----------------+-----------------+
//
// ts_frac is microseconds under magic a1b2c3d4 and nanoseconds under a1b23c4d.

import { F, PCAP_MAGIC_NS, PCAP_MAGIC_US } from './reader.js';

const DEFAULT_SNAPLEN = 262144;

export interface PcapWriterOptions {
  /** Write nanosecond timestamps (magic a1b23c4d); default microseconds. */
  nanosecond?: boolean;
  /** Largest record kept; longer packets are cut and keep their original length. */
  snaplen?: number;
}

export class PcapWriter {
  readonly linktype: number;
  readonly nanosecond: boolean;
  readonly snaplen: number;
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  /** Used when `add` gets no timestamp, so records keep a stable order. */
  private nextTsNs = 0n;

  constructor(linktype: number, opts: PcapWriterOptions = {}) {
    this.linktype = linktype;
    this.nanosecond = opts.nanosecond ?? false;
    this.snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    const header = new Uint8Array(F.GLOBAL_HEADER_LEN);
    const view = new DataView(header.buffer);
    view.setUint32(F.GLOBAL_MAGIC, this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    view.setUint16(F.GLOBAL_VERSION_MAJOR, 2, true);
    view.setUint16(F.GLOBAL_VERSION_MINOR, 4, true);
    view.setUint32(F.GLOBAL_SNAPLEN, this.snaplen, true);
    view.setUint32(F.GLOBAL_LINKTYPE, linktype, true);
    this.push(header);
  }

  /** Appends one packet; without `tsNs` the records are 1 µs apart from time zero. */
  add(data: Uint8Array, tsNs?: bigint): void {
    const ts = tsNs ?? this.nextTsNs;
    this.nextTsNs = ts + 1000n;
    const caplen = Math.min(data.length, this.snaplen);
    const record = new Uint8Array(F.REC_HEADER_LEN + caplen);
    const view = new DataView(record.buffer);
    const sec = ts / 1_000_000_000n;
    const fracNs = ts % 1_000_000_000n;
    view.setUint32(F.REC_TS_SEC, Number(sec & 0xffffffffn), true);
    view.setUint32(F.REC_TS_FRAC, Number(this.nanosecond ? fracNs : fracNs / 1000n), true);
    view.setUint32(F.REC_CAPLEN, caplen, true);
    view.setUint32(F.REC_ORIGLEN, data.length, true);
    record.set(data.subarray(0, caplen), F.REC_HEADER_LEN);
    this.push(record);
  }

  /** The whole file so far, as one new buffer. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  private push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }
}
