// Capture file reader: classic pcap (µs and ns magic, either byte order) and
// pcapng, over one in-memory buffer. Records come out as zero-copy views.
//
// A file that cannot be read at all (unknown magic, short header, bad
// section header) is a PcapError from `readCapture`. A bad record inside a
// readable file (truncated, caplen over MAX_CAPLEN, corrupt block) ends the
// iteration instead, and `Capture.error` tells why: everything before it is
// still delivered, and no length read from the file is ever allocated.
//
// As libpcap does: a record longer than its snaplen is cut to the snaplen
// and reading goes on; the link-type field's upper 16 bits (FCS length and
// reserved bits, LT_LINKTYPE_EXT) do not change the framing and are dropped.
//
// Classic pcap, https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html
//   global header: magic(4) major(2) minor(2) thiszone(4) sigfigs(4) snaplen(4) linktype(4)
//   record header: ts_sec(4) ts_frac(4) caplen(4) origlen(4), then caplen bytes
// pcapng, https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html
//   every block: type(4) total_length(4) body... total_length(4), 32-bit aligned
import { PcapError } from '../errors.js';

/** No record may claim more than this, whatever the file's snaplen says (libpcap's own cap). */
export const MAX_CAPLEN = 256 * 1024;

/** The link type proper in a classic header's link-type field (LT_LINKTYPE); the bits above say FCS length. */
const LINKTYPE_MASK = 0xffff;

/** Classic pcap magic numbers: microsecond and nanosecond timestamps. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** pcapng block types read here; any other block is skipped by its length. */
const Block = { IDB: 1, PB: 2, SPB: 3, EPB: 6 } as const;
/** pcapng interface options read here. */
const IfOption = { END: 0, TSRESOL: 9, TSOFFSET: 14 } as const;
/** pcapng packet option read here. */
const OPT_COMMENT = 1;

/** Byte offsets: classic headers (shared with the writer), then pcapng block bodies (from the block start). */
export const F = {
  GLOBAL_MAGIC: 0,
  GLOBAL_VERSION_MAJOR: 4,
  GLOBAL_VERSION_MINOR: 6,
  GLOBAL_SNAPLEN: 16,
  GLOBAL_LINKTYPE: 20,
  GLOBAL_HEADER_LEN: 24,
  REC_TS_SEC: 0,
  REC_TS_FRAC: 4,
  REC_CAPLEN: 8,
  REC_ORIGLEN: 12,
  REC_HEADER_LEN: 16,
  BLOCK_TYPE: 0,
  BLOCK_LEN: 4,
  BLOCK_MIN_LEN: 12,
  SHB_BYTE_ORDER: 8,
  SHB_MIN_LEN: 28,
  IDB_LINKTYPE: 8,
  IDB_SNAPLEN: 12,
  IDB_OPTIONS: 16,
  EPB_INTERFACE: 8,
  EPB_TS_HIGH: 12,
  EPB_TS_LOW: 16,
  EPB_CAPLEN: 20,
  EPB_ORIGLEN: 24,
  EPB_DATA: 28,
  PB_INTERFACE: 8, // 16-bit, then a 16-bit drop count; the rest is laid out like EPB
  SPB_ORIGLEN: 8,
  SPB_DATA: 12,
} as const;

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CapturePacket {
  /** 0-based position among the packets of the file. */
  index: number;
  linktype: number;
  /** Capture time in nanoseconds since the epoch, whatever the file's resolution. */
  tsNs: bigint;
  caplen: number;
  /** Length on the wire; more than `caplen` when the capture cut the packet. */
  origlen: number;
  /** The captured bytes: a view into the file buffer, not a copy. */
  data: Uint8Array;
  /** A pcapng packet's first opt_comment (`sixgate capture` writes the drop reason there). */
  comment?: string;
}

/** What a pcapng Interface Description Block says about its packets. */
interface Interface {
  linktype: number;
  snaplen: number;
  /** Timestamp units to ns: ts * tsMul / tsDiv. */
  tsMul: bigint;
  tsDiv: bigint;
  tsOffsetNs: bigint;
}

export class Capture implements Iterable<CapturePacket> {
  readonly format: CaptureFormat;
  /** The first section's byte order (classic pcap has one section). */
  readonly littleEndian: boolean;
  /**
   * Why the last iteration stopped before the end of the file, or undefined
   * when it read every record. Set by iterating.
   */
  error: PcapError | undefined;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(bytes: Uint8Array, format: CaptureFormat, littleEndian: boolean) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.format = format;
    this.littleEndian = littleEndian;
  }

  /** The packets, in file order. May be iterated again. */
  get packets(): Iterable<CapturePacket> {
    return this;
  }

  [Symbol.iterator](): Iterator<CapturePacket> {
    this.error = undefined;
    return this.format === 'pcap' ? this.classic() : this.pcapng();
  }

  private *classic(): Generator<CapturePacket> {
    const { view, bytes } = this;
    const le = this.littleEndian;
    const ns = view.getUint32(F.GLOBAL_MAGIC, le) === PCAP_MAGIC_NS;
    const snaplen = caplenLimit(view.getUint32(F.GLOBAL_SNAPLEN, le));
    const linktype = view.getUint32(F.GLOBAL_LINKTYPE, le) & LINKTYPE_MASK;
    let at = F.GLOBAL_HEADER_LEN;
    for (let index = 0; at < bytes.length; index++) {
      if (bytes.length - at < F.REC_HEADER_LEN) {
        return this.fail(`record ${index + 1} at byte ${at}: truncated record header (${bytes.length - at} of ${F.REC_HEADER_LEN} bytes)`);
      }
      const caplen = view.getUint32(at + F.REC_CAPLEN, le);
      if (caplen > MAX_CAPLEN) {
        return this.fail(`record ${index + 1} at byte ${at}: caplen ${caplen} is over the limit of ${MAX_CAPLEN}`);
      }
      const start = at + F.REC_HEADER_LEN;
      if (start + caplen > bytes.length) {
        return this.fail(`record ${index + 1} at byte ${at}: truncated, ${bytes.length - start} of ${caplen} captured bytes present`);
      }
      const kept = Math.min(caplen, snaplen);
      const sec = BigInt(view.getUint32(at + F.REC_TS_SEC, le));
      const frac = BigInt(view.getUint32(at + F.REC_TS_FRAC, le));
      yield {
        index,
        linktype,
        tsNs: sec * 1_000_000_000n + (ns ? frac : frac * 1000n),
        caplen: kept,
        origlen: view.getUint32(at + F.REC_ORIGLEN, le),
        data: bytes.subarray(start, start + kept),
      };
      at = start + caplen;
    }
  }

  private *pcapng(): Generator<CapturePacket> {
    const { view, bytes } = this;
    let le = this.littleEndian;
    let interfaces: Interface[] = [];
    let index = 0;
    for (let at = 0, block = 1; at < bytes.length; block++) {
      const where = `block ${block} at byte ${at}`;
      if (bytes.length - at < F.BLOCK_MIN_LEN) return this.fail(`${where}: truncated block header`);
      if (view.getUint32(at + F.BLOCK_TYPE, le) === PCAPNG_SHB) {
        // A new section may switch byte order and starts a new interface list.
        const order = sectionByteOrder(view, at);
        if (order === undefined) return this.fail(`${where}: section header without a valid byte-order magic`);
        le = order;
        interfaces = [];
      }
      const type = view.getUint32(at + F.BLOCK_TYPE, le);
      const len = view.getUint32(at + F.BLOCK_LEN, le);
      if (len < F.BLOCK_MIN_LEN || len % 4 !== 0) return this.fail(`${where}: invalid block length ${len}`);
      if (len > bytes.length - at) return this.fail(`${where}: truncated, ${bytes.length - at} of ${len} bytes present`);
      if (view.getUint32(at + len - 4, le) !== len) return this.fail(`${where}: trailing block length does not match ${len}`);
      const end = at + len - 4; // where the body stops: the trailing length field

      if (type === Block.IDB) {
        if (end < at + F.IDB_OPTIONS) return this.fail(`${where}: interface description block too short`);
        const iface = readInterface(view, at, end, le);
        if (typeof iface === 'string') return this.fail(`${where}: ${iface}`);
        interfaces.push(iface);
      } else if (type === Block.EPB || type === Block.PB || type === Block.SPB) {
        const simple = type === Block.SPB;
        const ifIndex = simple ? 0 : type === Block.EPB ? view.getUint32(at + F.EPB_INTERFACE, le) : view.getUint16(at + F.PB_INTERFACE, le);
        const iface = interfaces[ifIndex];
        if (iface === undefined) return this.fail(`${where}: packet for undeclared interface ${ifIndex}`);
        const dataAt = at + (simple ? F.SPB_DATA : F.EPB_DATA);
        if (dataAt > end) return this.fail(`${where}: packet block too short`);
        const origlen = view.getUint32(at + (simple ? F.SPB_ORIGLEN : F.EPB_ORIGLEN), le);
        // A simple packet block has no caplen: the packet is cut by the snaplen and by the block.
        const caplen = simple
          ? Math.min(origlen, iface.snaplen === 0 ? origlen : iface.snaplen, end - dataAt)
          : view.getUint32(at + F.EPB_CAPLEN, le);
        if (caplen > MAX_CAPLEN) return this.fail(`${where}: caplen ${caplen} is over the limit of ${MAX_CAPLEN}`);
        if (caplen > end - dataAt) return this.fail(`${where}: caplen ${caplen} runs past the end of the block`);
        const kept = Math.min(caplen, caplenLimit(iface.snaplen));
        const ts = simple ? 0n
          : (BigInt(view.getUint32(at + F.EPB_TS_HIGH, le)) << 32n) | BigInt(view.getUint32(at + F.EPB_TS_LOW, le));
        const packet: CapturePacket = {
          index: index++,
          linktype: iface.linktype,
          tsNs: (ts * iface.tsMul) / iface.tsDiv + iface.tsOffsetNs,
          caplen: kept,
          origlen,
          data: bytes.subarray(dataAt, dataAt + kept),
        };
        // An enhanced packet block's options follow its data, padded to 32 bits.
        const comment = type === Block.EPB ? packetComment(view, dataAt + ((caplen + 3) & ~3), end, le) : undefined;
        if (comment !== undefined) packet.comment = comment;
        yield packet;
      }
      at += len;
    }
  }

  private fail(message: string): void {
    this.error = new PcapError(message);
  }
}

/**
 * Opens a capture held in memory. Throws PcapError when the file is not a
 * capture at all; problems in individual records surface through
 * `Capture.error` while iterating.
 */
export function readCapture(bytes: Uint8Array): Capture {
  if (bytes.length < 4) throw new PcapError(`not a capture file: ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, false) === PCAPNG_SHB) {
    if (bytes.length < F.SHB_MIN_LEN) throw new PcapError('pcapng file shorter than its section header block');
    const le = sectionByteOrder(view, 0);
    if (le === undefined) throw new PcapError('pcapng section header has no valid byte-order magic');
    return new Capture(bytes, 'pcapng', le);
  }
  const magicLe = view.getUint32(0, true);
  const magicBe = view.getUint32(0, false);
  const le = magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS;
  if (!le && magicBe !== PCAP_MAGIC_US && magicBe !== PCAP_MAGIC_NS) {
    throw new PcapError(`not a pcap or pcapng file (magic ${hex8(magicBe)})`);
  }
  if (bytes.length < F.GLOBAL_HEADER_LEN) throw new PcapError(`pcap file shorter than its ${F.GLOBAL_HEADER_LEN}-byte header`);
  const major = view.getUint16(F.GLOBAL_VERSION_MAJOR, le);
  if (major !== 2) throw new PcapError(`unsupported pcap version ${major}.${view.getUint16(F.GLOBAL_VERSION_MINOR, le)} (only 2.x)`);
  return new Capture(bytes, 'pcap', le);
}

/** Little-endian (true), big-endian (false), or undefined when the magic is wrong. */
function sectionByteOrder(view: DataView, at: number): boolean | undefined {
  if (view.byteLength - at < F.SHB_MIN_LEN) return undefined;
  if (view.getUint32(at + F.SHB_BYTE_ORDER, true) === PCAPNG_BYTE_ORDER_MAGIC) return true;
  if (view.getUint32(at + F.SHB_BYTE_ORDER, false) === PCAPNG_BYTE_ORDER_MAGIC) return false;
  return undefined;
}

/** The snaplen records are cut to: a snaplen of 0 is written by some tools to mean "none given". */
function caplenLimit(snaplen: number): number {
  return snaplen === 0 ? MAX_CAPLEN : Math.min(snaplen, MAX_CAPLEN);
}

/** Parses an IDB; returns an error message when its options are malformed. */
function readInterface(view: DataView, at: number, end: number, le: boolean): Interface | string {
  const iface: Interface = {
    linktype: view.getUint16(at + F.IDB_LINKTYPE, le),
    snaplen: view.getUint32(at + F.IDB_SNAPLEN, le),
    tsMul: 1000n, // default resolution: microseconds
    tsDiv: 1n,
    tsOffsetNs: 0n,
  };
  for (let opt = at + F.IDB_OPTIONS; opt + 4 <= end;) {
    const code = view.getUint16(opt, le);
    const len = view.getUint16(opt + 2, le);
    if (code === IfOption.END) break;
    const value = opt + 4;
    if (value + len > end) return `interface option ${code} runs past the end of the block`;
    if (code === IfOption.TSRESOL && len >= 1) {
      const resol = view.getUint8(value);
      const exponent = resol & 0x7f;
      // High bit set: units of 2^-exponent seconds; clear: 10^-exponent seconds.
      if (resol & 0x80) {
        if (exponent > 63) return `if_tsresol 2^-${exponent} is out of range`;
        iface.tsMul = 1_000_000_000n;
        iface.tsDiv = 1n << BigInt(exponent);
      } else if (exponent <= 9) {
        iface.tsMul = 10n ** BigInt(9 - exponent);
        iface.tsDiv = 1n;
      } else if (exponent <= 19) {
        iface.tsMul = 1n;
        iface.tsDiv = 10n ** BigInt(exponent - 9);
      } else {
        return `if_tsresol 10^-${exponent} is out of range`;
      }
    } else if (code === IfOption.TSOFFSET && len >= 8) {
      iface.tsOffsetNs = view.getBigInt64(value, le) * 1_000_000_000n;
    }
    opt = value + ((len + 3) & ~3);
  }
  return iface;
}

/** The first opt_comment among an EPB's options (from `at` to the block's end); a malformed option list ends the search. */
function packetComment(view: DataView, at: number, end: number, le: boolean): string | undefined {
  while (at + 4 <= end) {
    const code = view.getUint16(at, le);
    const len = view.getUint16(at + 2, le);
    if (code === IfOption.END || at + 4 + len > end) return undefined;
    if (code === OPT_COMMENT) return new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset + at + 4, len));
    at += 4 + ((len + 3) & ~3);
  }
  return undefined;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
