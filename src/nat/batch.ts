// Batches: one TUN read's packets translated by one call, and the batched
// lookups that make that call cheap at a large table (collect the keys of a
// batch and look them up together).
//
// At a million sessions nearly every lookup misses the caches and the TLB,
// and one packet's misses are dependent (hash → index slot → record), so
// translating packet after packet pays them in series. The warmer hashes the
// whole batch first; then the table's warm.wat kernel loads the index slots,
// then the records they name, each in a tiny loop of independent loads the
// CPU keeps in flight together; the translation that follows finds them in
// cache and reuses the hashes. One batch holds both directions, as a TUN
// read does: the more packets a loop of loads covers, the more misses
// overlap. The warm-up reuses the engine's classification of each packet
// (direction, and the external address of an inbound one) rather than
// deciding again. Below WARM_MIN_SESSIONS the table is cache-resident and the
// extra hashing would only cost.

import { F as IP, HEADER_LEN as IP_HEADER_LEN, Protocol } from '../wire/ipv6.js';
import { F as UDP, HEADER_LEN as UDP_HEADER_LEN } from '../wire/udp.js';
import { F as ICMP } from '../wire/icmpv6.js';
import type { ConnTable } from './table.js';
import { ProtoClass, Direction } from './types.js';
import { WARM_MAX } from './layout.js';

export { WARM_MIN_SESSIONS } from './layout.js';
/** Next header → protocol class of its lookup (TCP's for ones without). */
const CLASS_OF_NEXT = new Uint8Array(256);
CLASS_OF_NEXT[Protocol.Udp] = ProtoClass.Udp;
CLASS_OF_NEXT[Protocol.Icmpv6] = ProtoClass.Icmp;
CLASS_OF_NEXT[Protocol.Sctp] = ProtoClass.Sctp;
/** Next header → 1 for ICMPv6. */
const ICMP_OF_NEXT = new Uint8Array(256);
ICMP_OF_NEXT[Protocol.Icmpv6] = 1;
/**
 * Where the warm-up reads a packet's ports (or echo identifier), assuming no
 * extension headers: the L4 header right after the fixed one. TCP, UDP and
 * SCTP put their ports where UDP does.
 */
const PORTS_AT = IP_HEADER_LEN + UDP.SRC_PORT;
const ECHO_ID_AT = IP_HEADER_LEN + ICMP.ECHO_ID;
/** Bytes a packet needs for the warm-up to read its key. */
const KEY_BYTES = IP_HEADER_LEN + UDP_HEADER_LEN;

/**
 * The packets of one translateBatch call and their verdicts, preallocated
 * by the caller: packet i is buf[offsets[i] .. offsets[i] + lengths[i]).
 * The caller fills offsets, lengths and partial (add); the engine fills the rest.
 */
export class NatBatch {
  readonly capacity: number;
  readonly offsets: Int32Array;
  readonly lengths: Int32Array;
  /** 1 when the L4 checksum holds a NEEDS_CSUM pseudo-header sum (offload super-packet). */
  readonly partial: Uint8Array;
  /** The engine's classification: Direction.Out (source in an inside network) or Direction.In. */
  readonly dirs: Uint8Array;
  /** With dirs: out, the inside network (index in the configuration); in, the external address's index, or -1. */
  readonly match: Int32Array;
  /** With dirs: each packet's source and destination address as eight big-endian words, read once. */
  readonly words: Uint32Array;
  /** What Nat66.translate would have returned for each packet. For Verdict.Reply the engine sets lengths[i] to the reply's. */
  readonly verdicts: Int32Array;
  count = 0;
  /** Bytes from each packet's offset the engine may overwrite with a refusal's reply (translate's `room`); 0: refusals are drops. */
  room = 0;
  /**
   * When the packets were read, in the caller's monotonic milliseconds:
   * translateBatch translates at this time. A field, not an argument: a
   * fractional double passed to a call V8 does not inline is a heap number,
   * one allocation per batch.
   */
  now = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.offsets = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.partial = new Uint8Array(capacity);
    this.dirs = new Uint8Array(capacity);
    this.match = new Int32Array(capacity);
    this.words = new Uint32Array(capacity * 8);
    this.verdicts = new Int32Array(capacity);
  }

  /** Append a packet; false when the batch is full. */
  add(offset: number, length: number, partial = false): boolean {
    const i = this.count;
    if (i === this.capacity) return false;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.partial[i] = partial ? 1 : 0;
    this.count = i + 1;
    return true;
  }
}

/**
 * A DataView of the caller's packet buffer, for word loads (four per
 * address instead of sixteen byte loads): `previous` when it already views
 * `buf` (the data path and the bench keep one ring), else a new one.
 */
export function viewOf(buf: Uint8Array, previous: DataView<ArrayBufferLike>): DataView<ArrayBufferLike> {
  if (previous.buffer === buf.buffer && previous.byteOffset === buf.byteOffset && previous.byteLength === buf.byteLength) return previous;
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export class BatchWarmer {
  /** The warm loads' sum, kept so the loads cannot be optimised away. */
  sink = 0;

  /**
   * Warm the first min(count, 256) packets' lookups; returns how many
   * hashes are in table.warmHashes (0: none computed), which the
   * translation then reuses.
   */
  warm(table: ConnTable, buf: Uint8Array, view: DataView, batch: NatBatch): number {
    const n = Math.min(batch.count, WARM_MAX);
    const hashes = table.warmHashes;
    const warmDirs = table.warmDirs;
    const words = batch.words;
    const offsets = batch.offsets;
    const lengths = batch.lengths;
    const dirs = batch.dirs;
    const match = batch.match;
    // Read once: a DataView's byteLength is a builtin call.
    const end = view.byteLength - KEY_BYTES;
    for (let i = 0; i < n; i++) {
      const off = offsets[i];
      const out = dirs[i] === Direction.Out;
      hashes[i] = lengths[i] < KEY_BYTES || off < 0 || off > end ? 0
        : out ? this.hashOutbound(table, view, buf, off, words, i * 8) : this.hashInbound(table, view, buf, off, match[i], words, i * 8);
      warmDirs[i] = out ? 0 : 1;
    }
    this.sink = table.warm(n);
    return n;
  }

  // The hash of the lookup a packet will do, one small function per
  // direction so each is inlined with its table hash. Branch-free across
  // protocols: a batch mixes them, and a mispredicted branch per packet cost
  // more than the hashing. A packet that will not be looked up (extension
  // headers, ICMPv6 errors, other protocols) gets a meaningless hash; the
  // lookup compares whole keys, so a wrong hash only costs it a second probe.
  // The addresses come from the classification's words (w[o..o+7]), the ports from the packet.
  private hashOutbound(t: ConnTable, view: DataView, buf: Uint8Array, off: number, w: Uint32Array, o: number): number {
    const next = buf[off + IP.NEXT_HEADER];
    // All ones for ICMPv6, whose "port" is the echo identifier.
    const icmp = -ICMP_OF_NEXT[next];
    const ports = view.getUint32(off + PORTS_AT);
    const id = view.getUint16(off + ECHO_ID_AT);
    const k = t.key;
    k[0] = w[o]; k[1] = w[o + 1]; k[2] = w[o + 2]; k[3] = w[o + 3];
    k[4] = w[o + 4]; k[5] = w[o + 5]; k[6] = w[o + 6]; k[7] = w[o + 7];
    return t.hashInsideKey(CLASS_OF_NEXT[next], ((ports >>> 16) & ~icmp) | (id & icmp), ports & 0xffff & ~icmp);
  }

  // extIdx: the external address the engine's classification found the packet sent to.
  private hashInbound(t: ConnTable, view: DataView, buf: Uint8Array, off: number, extIdx: number, w: Uint32Array, o: number): number {
    if (extIdx < 0) return 0;
    const next = buf[off + IP.NEXT_HEADER];
    const icmp = -ICMP_OF_NEXT[next];
    const ports = view.getUint32(off + PORTS_AT);
    const id = view.getUint16(off + ECHO_ID_AT);
    const k = t.key;
    k[4] = w[o]; k[5] = w[o + 1]; k[6] = w[o + 2]; k[7] = w[o + 3];
    return t.hashOutsideKey(CLASS_OF_NEXT[next], extIdx, (ports & 0xffff & ~icmp) | (id & icmp), (ports >>> 16) & ~icmp);
  }
}
