// The NAT66 connection table: every byte of state in one flat buffer.
//
// One session per (protocol, inside address:port, remote address:port), as
// conntrack keeps it, so filtering can be address-and-port dependent. Sessions
// that share an inside address:port share one external address:port
// (endpoint-independent mapping, RFC 4787 REQ-1, RFC 5382 REQ-1): they form a
// ring (the mapLink column) whose "anchor" member is what the mapping index
// and the port-owner array point at.
//
// Layout (section offsets 64-byte multiples; N = capacity, M = index slots, W = wheel
// slots, E = external addresses, H = host capacity):
//
//   meta      64 × u32            magic, version, geometry, free lists, clock, boot id
//   rec       (N+1) × 16 × u32    one 64-byte record per session (id 0 = none)
//   bytesHi   (N+1) × 2 × u32     high words of the byte counters (out, in)
//   mapLink   (N+1) × 2 × u32     mapping ring links (next, prev)
//   unreplied (N+1) × 2 × u32     unreplied-session list links (next, prev);
//                                 id 0's pair is the list's head and tail
//   hostUnrep (N+1) × 2 × u32     the same per inside address: a ring whose
//                                 stalest member the host record names
//   wNext     (N+1+W) × u32       timing-wheel ring links; ids N+1.. are the
//   wPrev     (N+1+W) × u32       wheel's sentinels, so unlinking needs no slot
//   idxIn     M × u32             inside 5-tuple  → id   (linear probing,
//   idxOut    M × u32             outside 5-tuple → id    slot = tag<<24 | id,
//   idxMap    M × u32             inside addr:port → mapping anchor)  0 = empty
//   owner     E × 4 × 65536 × u32 (external address, protocol class, port) →
//                                 mapping anchor id, or PUBLISHED | port index
//   extSess   E × u32             live sessions per external address
//   hostRec   (H+1) × 16 × u32    inside address, session counts (hosts.ts)
//   hostCnt   (H+1) × 4 × f64     packets out/in, bytes out/in per inside address
//   hostIdx   2H' × u32           inside address → host id
//   warm*     256 × (u32+u32+u8)  the warm-up kernel's hashes, slots, directions
// Indexes are sized to the next power of two above N / 0.6 (load at most 0.6).
//
// Why one 64-byte record instead of one typed array per field: a packet
// touches the key, ports, external side, state, expiry and counters of its
// session together; packed in one record that is one cache miss per packet
// at a million sessions (two with the index slot) instead of about eight.
// What a packet does not touch lives in separate columns: the mapping ring
// links (insert/remove only) and the high words of the byte counters (bumped
// when the low word wraps, every 4 GiB). The columns are all typed arrays
// over the one buffer (records are a Uint32Array with stride 16), so the
// whole table snapshots with one copy.
//
// A table that can hold WARM_MIN_SESSIONS or more lives in WebAssembly
// memory (warm-kernel.ts): page aligned, so a record is exactly one cache
// line, and a batch's index and record loads run in the warm.wat kernel.
// Smaller tables never warm and use a plain ArrayBuffer, unless the table is
// to be mapped to a state file (`mappable`): then every size lives in
// WebAssembly memory, page aligned and never moved or grown, so the wiring
// can map the file over it (src/io/statefile.ts) and the state outlives the
// process.
//
// Expiry: a timing wheel of 1-second ticks (wheel.ts); refreshing a session
// per packet only raises its EXPIRY word.
//
// Unreplied sessions (no packet yet in the direction opposite to the one
// that opened them: a lone SYN, one-way UDP) are also on a list in the
// order they were last used, least recent first, so the engine can evict
// the stalest of them in O(1) when the table or a port pool runs out
// (sessions.ts); and, in the same order, on a ring per inside address, so
// an address at its quota finds its own stalest one in O(1) too. A session
// leaves both for good with its first reply.
//
// Index deletion is backward-shift (no tombstones), so lookups stay short
// however long the table runs.

import { HostTable, HOST_WORDS, H_UNREPLIED, H_UNREPLIED_COUNT } from './hosts.js';
import { TimingWheel, WHEEL_SIZE } from './wheel.js';
import { layoutOf, REC_WORDS, META_WORDS, MAX_CAPACITY, PORTS_PER_CLASS, WARM_MIN_SESSIONS, WARM_MAX, type TableGeometry } from './layout.js';
import { kernelMemory, type WarmLoads } from './warm-kernel.js';

export { REC_WORDS, MAX_CAPACITY, type TableGeometry };

export const SNAPSHOT_MAGIC = 0x53364e54; // "S6NT"
export const SNAPSHOT_VERSION = 3;

/** What each word of a session record holds. */
export const R = {
  /** Inside address, four big-endian words. */
  IN_ADDR: 0,
  /** Remote address, four big-endian words. */
  REM_ADDR: 4,
  /** inside port << 16 | remote port (ICMP echo: identifier << 16 | 0). */
  PORTS: 8,
  /** external port << 16 | external address index. */
  EXT: 9,
  /** host id << 16 | protocol class << 12 | TCP state << 8 | flags. */
  META: 10,
  /** Tick (second) at which the session dies. */
  EXPIRY: 11,
  /** Packets out and in (wrap at 2^32). */
  PKTS_OUT: 12,
  PKTS_IN: 13,
  /** Bytes out and in, low 32 bits; the high words are in bytesHi. */
  BYTES_OUT: 14,
  BYTES_IN: 15,
} as const;

/** Session flags (low byte of META). */
export const Flag = {
  /** In use (free records have META 0). */
  LIVE: 0x01,
  /** Made for a published port: its external port belongs to the port, not to a dynamic mapping. */
  PUBLISHED: 0x02,
  /** Created by an inbound packet (published port or endpoint-independent filtering). */
  INBOUND: 0x04,
  /** A packet came back the other way (for INBOUND sessions: out): not on the unreplied list. */
  REPLIED: 0x08,
  /**
   * Offered to the fast path, and offloaded unless it was refused (candidates.ts):
   * not offered again until the offload layer clears it. A session made anew
   * in the record starts without it; a restart's rebuild and a move to a new
   * table drop it (the fast path's map died with the process, or is reset).
   */
  OFFERED: 0x10,
  /** Its packets are translated by the fast path now (set and cleared by the offload layer: Nat66.setOffloaded). */
  OFFLOADED: 0x20,
} as const;

/** The fast path's marks: they name entries of one process's map, so a rebuild or a move drops them. */
export const FAST_PATH_FLAGS = Flag.OFFERED | Flag.OFFLOADED;

/** Owner-array marker for a published port; the low bits hold the published port's index. */
export const OWNER_PUBLISHED = 0x80000000;

const M = {
  MAGIC: 0, VERSION: 1, CAPACITY: 2, INDEX_SIZE: 3, WHEEL_SIZE: 4, EXT_COUNT: 5,
  HOST_CAPACITY: 6, HOST_INDEX_SIZE: 7, COUNT: 8, FREE_HEAD: 9, LAST_TICK: 10,
  HOST_COUNT: 11, HOST_FREE_HEAD: 12, HOST_HAND: 13, CHECKSUM: 14, BYTE_LENGTH: 15,
  SNAPSHOT_TICK: 16, FINGERPRINT: 17, TICK_STARTED: 18,
  /** The boot the table's monotonic ticks belong to (four words of /proc/sys/kernel/random/boot_id). */
  BOOT_ID: 19,
} as const;

const ID_BITS = 24;
const ID_MASK = (1 << ID_BITS) - 1;

// Multiply-xorshift mixing (murmur3 finaliser constants): cheap, no allocation,
// and every input bit reaches the index bits and the 8-bit tag.
function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0xcc9e2d51);
  return (h << 15) | (h >>> 17);
}

function fin(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  // int32, not uint32: a double would be boxed when a hash crosses a call.
  return h ^ (h >>> 16);
}

export class ConnTable {
  readonly capacity: number;
  readonly indexSize: number;
  readonly wheelSize = WHEEL_SIZE;
  readonly externalCount: number;
  readonly hostCapacity: number;
  readonly hostIndexSize: number;
  readonly buffer: ArrayBuffer;
  readonly byteLength: number;

  readonly meta: Uint32Array;
  readonly rec: Uint32Array;
  readonly bytesHi: Uint32Array;
  readonly mapLink: Uint32Array;
  /** Unreplied list links (next, prev) per id; id 0 is the sentinel (head = [0], tail = [1]). */
  readonly unreplied: Uint32Array;
  /** Per-host unreplied ring links (next, prev) per id. */
  readonly hostUnreplied: Uint32Array;
  readonly wNext: Uint32Array;
  readonly wPrev: Uint32Array;
  readonly idxIn: Uint32Array;
  readonly idxOut: Uint32Array;
  readonly idxMap: Uint32Array;
  readonly owner: Uint32Array;
  /** Live sessions per external address (the engine's per-network quota sums them). */
  readonly extSessions: Uint32Array;
  /** Per inside address counters (same buffer); hostCnt is its Float64 counter column, for the hot path. */
  readonly hosts: HostTable;
  readonly hostCnt: Float64Array;
  private readonly wheel: TimingWheel;
  /**
   * The warm-up's per-packet inputs (BatchWarmer fills them): the lookup
   * hash, and 0 (inside index) or 1 (outside index). Int32 hashes: a uint32
   * above 2^31 is a heap number once it leaves the array.
   */
  readonly warmHashes: Int32Array;
  readonly warmDirs: Uint8Array;
  /** The warm-up's result per packet: the index slot its lookup compares first (as int32, like warmHashes). */
  readonly warmSlots: Int32Array;
  /** warm.wat bound to this table's memory; null for tables too small to warm. */
  private readonly warmLoads: WarmLoads | null;
  private readonly offsets: ReturnType<typeof layoutOf>['offsets'];

  /**
   * Scratch key the find/insert calls read: words 0..3 the inside address,
   * 4..7 the remote address (big-endian words as DataView.getUint32 reads them).
   */
  readonly key = new Uint32Array(8);

  private readonly mask: number;
  private readonly seed: number;

  /**
   * `mappable`: allocate WebAssembly memory whatever the size (see the
   * header); `buffer.byteLength` is then whole pages, at least byteLength.
   */
  constructor(geometry: TableGeometry, seed = 0x2545f491, options: { mappable?: boolean } = {}) {
    const l = layoutOf(geometry);
    this.capacity = l.capacity;
    this.externalCount = l.ext;
    this.hostCapacity = l.hosts;
    this.indexSize = l.indexSize;
    this.hostIndexSize = l.hostGeometry.indexSize;
    this.mask = this.indexSize - 1;
    this.seed = seed | 0;
    this.byteLength = l.byteLength;
    if (l.capacity >= WARM_MIN_SESSIONS || options.mappable === true) {
      const memory = kernelMemory(l.byteLength);
      this.buffer = memory.buffer;
      this.warmLoads = l.capacity >= WARM_MIN_SESSIONS ? memory.warm : null;
    } else {
      this.buffer = new ArrayBuffer(l.byteLength);
      this.warmLoads = null;
    }
    const b = this.buffer;
    const n1 = l.capacity + 1;
    const o = l.offsets;
    this.offsets = o;
    this.meta = new Uint32Array(b, o.meta, META_WORDS);
    this.rec = new Uint32Array(b, o.rec, n1 * REC_WORDS);
    this.bytesHi = new Uint32Array(b, o.bytesHi, n1 * 2);
    this.mapLink = new Uint32Array(b, o.mapLink, n1 * 2);
    this.unreplied = new Uint32Array(b, o.unreplied, n1 * 2);
    this.hostUnreplied = new Uint32Array(b, o.hostUnreplied, n1 * 2);
    this.wNext = new Uint32Array(b, o.wNext, n1 + WHEEL_SIZE);
    this.wPrev = new Uint32Array(b, o.wPrev, n1 + WHEEL_SIZE);
    this.idxIn = new Uint32Array(b, o.idxIn, this.indexSize);
    this.idxOut = new Uint32Array(b, o.idxOut, this.indexSize);
    if (o.idxOut !== o.idxIn + this.indexSize * 4) throw new Error('layout: idxOut must follow idxIn');
    this.idxMap = new Uint32Array(b, o.idxMap, this.indexSize);
    this.owner = new Uint32Array(b, o.owner, l.ext * 4 * PORTS_PER_CLASS);
    this.extSessions = new Uint32Array(b, o.extSessions, l.ext);
    const hg = l.hostGeometry;
    this.hosts = new HostTable(l.hosts,
      new Uint32Array(b, o.hostRec, hg.recBytes >>> 2),
      new Float64Array(b, o.hostCnt, hg.cntBytes >>> 3),
      new Uint32Array(b, o.hostIdx, hg.indexSize),
      this.meta, { count: M.HOST_COUNT, freeHead: M.HOST_FREE_HEAD, hand: M.HOST_HAND }, this.seed);
    this.hostCnt = this.hosts.cnt;
    this.warmHashes = new Int32Array(b, o.warmHashes, WARM_MAX);
    this.warmDirs = new Uint8Array(b, o.warmDirs, WARM_MAX);
    this.warmSlots = new Int32Array(b, o.warmSlots, WARM_MAX);
    this.wheel = new TimingWheel(this.wNext, this.wPrev, l.capacity, this);
    // A new buffer is all zeros: only what an empty table does not hold as
    // zeros is written, so a table about to be mapped over a state file
    // touches a few pages instead of every one (restart time).
    this.writeHeader();
    this.hosts.clear();
    this.wheel.reset();
    this.chainAllFree();
  }

  /** Bytes a table of this geometry needs (for handing in a buffer). */
  static byteLengthFor(geometry: TableGeometry): number {
    return layoutOf(geometry).byteLength;
  }

  /** Bytes of the whole table per session of capacity (indexes, wheel, owner and host tables included). */
  get bytesPerSession(): number {
    return this.byteLength / this.capacity;
  }

  get count(): number {
    return this.meta[M.COUNT];
  }

  get hostCount(): number {
    return this.hosts.count;
  }

  /** Forget every session and host; keeps the geometry. */
  clear(): void {
    this.meta.fill(0);
    this.writeHeader();
    this.rec.fill(0);
    this.bytesHi.fill(0);
    this.clearDerived();
    this.hosts.clear();
    this.chainAllFree();
  }

  // The geometry words of the header.
  private writeHeader(): void {
    const m = this.meta;
    m[M.MAGIC] = SNAPSHOT_MAGIC;
    m[M.VERSION] = SNAPSHOT_VERSION;
    m[M.CAPACITY] = this.capacity;
    m[M.INDEX_SIZE] = this.indexSize;
    m[M.WHEEL_SIZE] = WHEEL_SIZE;
    m[M.EXT_COUNT] = this.externalCount;
    m[M.HOST_CAPACITY] = this.hostCapacity;
    m[M.HOST_INDEX_SIZE] = this.hostIndexSize;
    m[M.BYTE_LENGTH] = this.byteLength;
  }

  // Every record free, in id order (the free list of an empty table, made without reading it).
  private chainAllFree(): void {
    const next = this.wNext;
    for (let id = 1; id < this.capacity; id++) next[id] = id + 1;
    next[this.capacity] = 0;
    this.meta[M.FREE_HEAD] = 1;
  }

  // ---- hashing ---------------------------------------------------------------

  private hashInside(pc: number, ports: number, k: Uint32Array, ko: number, r: Uint32Array, ro: number): number {
    let h = this.seed ^ pc;
    h = mix(h, k[ko] | 0); h = mix(h, k[ko + 1] | 0); h = mix(h, k[ko + 2] | 0); h = mix(h, k[ko + 3] | 0);
    h = mix(h, r[ro] | 0); h = mix(h, r[ro + 1] | 0); h = mix(h, r[ro + 2] | 0); h = mix(h, r[ro + 3] | 0);
    return fin(mix(h, ports));
  }

  private hashOutside(pc: number, ext: number, remPort: number, r: Uint32Array, ro: number): number {
    let h = this.seed ^ (0x100 | pc);
    h = mix(h, ext);
    h = mix(h, r[ro] | 0); h = mix(h, r[ro + 1] | 0); h = mix(h, r[ro + 2] | 0); h = mix(h, r[ro + 3] | 0);
    return fin(mix(h, remPort));
  }

  private hashMapping(pc: number, inPort: number, k: Uint32Array, ko: number): number {
    let h = this.seed ^ (0x200 | pc);
    h = mix(h, k[ko] | 0); h = mix(h, k[ko + 1] | 0); h = mix(h, k[ko + 2] | 0); h = mix(h, k[ko + 3] | 0);
    return fin(mix(h, inPort));
  }

  // ---- lookups (read this.key) ------------------------------------------------

  /**
   * Warm-up for batches: the hash findInside would use for these arguments.
   * The batch path hashes a whole batch first, then loads the index slots
   * and the records they name (warm), so the cache misses of a large table
   * overlap instead of queueing one packet after another.
   */
  hashInsideKey(pc: number, inPort: number, remPort: number): number {
    const k = this.key;
    return this.hashInside(pc, inPort << 16 | remPort, k, 0, k, 4);
  }

  /** hashInsideKey for the outside index (key words 4..7 = remote). */
  hashOutsideKey(pc: number, extIdx: number, extPort: number, remPort: number): number {
    return this.hashOutside(pc, extPort << 16 | extIdx, remPort, this.key, 4);
  }

  /**
   * Load the index slot and the session record that the lookups of the
   * first n packets in warmHashes/warmDirs will read (warm.wat); returns a
   * sum that only keeps the loads alive. For tables of WARM_MIN_SESSIONS or more.
   */
  warm(n: number): number {
    const o = this.offsets;
    return this.warmLoads!(n, o.warmHashes, o.warmDirs, o.warmSlots, o.idxIn, this.indexSize, o.rec);
  }

  /** Session for (pc, key inside address, inPort, key remote address, remPort), or 0. */
  findInside(pc: number, inPort: number, remPort: number): number {
    const k = this.key;
    return this.findInsideHashed(this.hashInside(pc, inPort << 16 | remPort, k, 0, k, 4), pc, inPort, remPort);
  }

  /** findInside with the hash already computed (hashInsideKey, by the batch warm-up). */
  findInsideHashed(h: number, pc: number, inPort: number, remPort: number): number {
    const ports = inPort << 16 | remPort;
    const tag = h >>> 24;
    const idx = this.idxIn;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = idx[i];
      if (s === 0) return 0;
      if (s >>> ID_BITS === tag && this.isInside(s & ID_MASK, pc, ports)) return s & ID_MASK;
    }
  }

  /**
   * findInsideHashed, first trying the session the warm-up's slot names
   * (warmSlots[i] for the batch's packet i): usually it is the one, and
   * the probe is skipped.
   */
  findInsideFrom(slot: number, h: number, pc: number, inPort: number, remPort: number): number {
    const id = slot & ID_MASK;
    if (id !== 0 && this.isInside(id, pc, inPort << 16 | remPort)) return id;
    return this.findInsideHashed(h, pc, inPort, remPort);
  }

  /** Whether session `id` has this inside key (this.key, the protocol class, inPort << 16 | remPort). */
  private isInside(id: number, pc: number, ports: number): boolean {
    const k = this.key;
    const rec = this.rec;
    const o = id * REC_WORDS;
    return (rec[o + R.PORTS] | 0) === ports && rec[o + R.REM_ADDR + 3] === k[7] && rec[o + R.REM_ADDR + 2] === k[6] &&
      rec[o + R.REM_ADDR + 1] === k[5] && rec[o + R.REM_ADDR] === k[4] && rec[o + R.IN_ADDR + 3] === k[3] &&
      rec[o + R.IN_ADDR + 2] === k[2] && rec[o + R.IN_ADDR + 1] === k[1] && rec[o + R.IN_ADDR] === k[0] &&
      ((rec[o + R.META] >>> 12) & 0xf) === pc;
  }

  /** Session for (pc, external address index, extPort, key remote address, remPort), or 0. */
  findOutside(pc: number, extIdx: number, extPort: number, remPort: number): number {
    return this.findOutsideHashed(this.hashOutside(pc, extPort << 16 | extIdx, remPort, this.key, 4), pc, extIdx, extPort, remPort);
  }

  /** findOutside with the hash already computed (hashOutsideKey, by the batch warm-up). */
  findOutsideHashed(h: number, pc: number, extIdx: number, extPort: number, remPort: number): number {
    const ext = extPort << 16 | extIdx;
    const tag = h >>> 24;
    const idx = this.idxOut;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = idx[i];
      if (s === 0) return 0;
      if (s >>> ID_BITS === tag && this.isOutside(s & ID_MASK, pc, ext, remPort)) return s & ID_MASK;
    }
  }

  /** findOutsideHashed, first trying the session the warm-up's slot names (see findInsideFrom). */
  findOutsideFrom(slot: number, h: number, pc: number, extIdx: number, extPort: number, remPort: number): number {
    const id = slot & ID_MASK;
    if (id !== 0 && this.isOutside(id, pc, extPort << 16 | extIdx, remPort)) return id;
    return this.findOutsideHashed(h, pc, extIdx, extPort, remPort);
  }

  /** Whether session `id` has this outside key (this.key's remote words, extPort << 16 | extIdx, remPort). */
  private isOutside(id: number, pc: number, ext: number, remPort: number): boolean {
    const k = this.key;
    const rec = this.rec;
    const o = id * REC_WORDS;
    return (rec[o + R.EXT] | 0) === ext && (rec[o + R.PORTS] & 0xffff) === remPort && rec[o + R.REM_ADDR + 3] === k[7] &&
      rec[o + R.REM_ADDR + 2] === k[6] && rec[o + R.REM_ADDR + 1] === k[5] && rec[o + R.REM_ADDR] === k[4] &&
      ((rec[o + R.META] >>> 12) & 0xf) === pc;
  }

  /** Anchor session of the dynamic mapping for (pc, key inside address, inPort), or 0. */
  findMapping(pc: number, inPort: number): number {
    const k = this.key;
    const rec = this.rec;
    const h = this.hashMapping(pc, inPort, k, 0);
    const tag = h >>> 24;
    const idx = this.idxMap;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = idx[i];
      if (s === 0) return 0;
      if (s >>> ID_BITS !== tag) continue;
      const id = s & ID_MASK;
      const o = id * REC_WORDS;
      if (rec[o + R.PORTS] >>> 16 === inPort && rec[o + R.IN_ADDR + 3] === k[3] && rec[o + R.IN_ADDR + 2] === k[2] &&
          rec[o + R.IN_ADDR + 1] === k[1] && rec[o + R.IN_ADDR] === k[0] && ((rec[o + R.META] >>> 12) & 0xf) === pc) {
        return id;
      }
    }
  }

  /**
   * What owns an external port: 0 (free), a mapping anchor id, or
   * OWNER_PUBLISHED | index -- as an int32 (published ones are negative), so
   * the value is never a boxed double when it is returned.
   */
  portOwner(extIdx: number, pc: number, port: number): number {
    return this.owner[((extIdx << 2) | pc) * PORTS_PER_CLASS + port] | 0;
  }

  // ---- index maintenance ------------------------------------------------------

  private indexInsert(idx: Uint32Array, h: number, id: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (idx[i] !== 0) i = (i + 1) & mask;
    idx[i] = ((h >>> 24) << ID_BITS | id) >>> 0;
  }

  // Backward-shift deletion: walk the cluster after the hole and pull back
  // every entry whose home slot is not between the hole and itself.
  private indexRemove(idx: Uint32Array, which: 0 | 1 | 2, h: number, id: number): void {
    const mask = this.mask;
    let i = h & mask;
    while ((idx[i] & ID_MASK) !== id) {
      if (idx[i] === 0) return;
      i = (i + 1) & mask;
    }
    let hole = i;
    for (let j = (hole + 1) & mask; idx[j] !== 0; j = (j + 1) & mask) {
      const home = this.homeOf(which, idx[j] & ID_MASK) & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        idx[hole] = idx[j];
        hole = j;
      }
    }
    idx[hole] = 0;
  }

  private indexReplace(idx: Uint32Array, h: number, from: number, to: number): void {
    const mask = this.mask;
    for (let i = h & mask; idx[i] !== 0; i = (i + 1) & mask) {
      if ((idx[i] & ID_MASK) === from) {
        idx[i] = ((idx[i] & ~ID_MASK) | to) >>> 0;
        return;
      }
    }
  }

  private homeOf(which: 0 | 1 | 2, id: number): number {
    const rec = this.rec;
    const o = id * REC_WORDS;
    const pc = (rec[o + R.META] >>> 12) & 0xf;
    if (which === 0) return this.hashInside(pc, rec[o + R.PORTS] | 0, rec, o + R.IN_ADDR, rec, o + R.REM_ADDR);
    if (which === 1) return this.hashOutside(pc, rec[o + R.EXT] | 0, rec[o + R.PORTS] & 0xffff, rec, o + R.REM_ADDR);
    return this.hashMapping(pc, rec[o + R.PORTS] >>> 16, rec, o + R.IN_ADDR);
  }

  // ---- insert / remove ----------------------------------------------------------

  /**
   * Add a session keyed by this.key (inside and remote address) and the
   * arguments. `anchor` joins an existing dynamic mapping (a session id from
   * findMapping or portOwner); 0 with flags lacking PUBLISHED starts a new
   * mapping and claims the external port. Returns the id, or 0 when the table
   * is full. The caller has checked that neither key exists and that `host`
   * came from acquireHost.
   */
  insert(pc: number, inPort: number, remPort: number, extIdx: number, extPort: number,
    host: number, flags: number, state: number, expiry: number, anchor: number): number {
    const m = this.meta;
    const id = m[M.FREE_HEAD];
    if (id === 0) return 0;
    m[M.FREE_HEAD] = this.wNext[id];
    this.writeAt(id, pc, inPort, remPort, extIdx, extPort, host, flags, state, expiry, anchor);
    return id;
  }

  // The record's words at `id`, taken off the free list, then its links.
  private writeAt(id: number, pc: number, inPort: number, remPort: number, extIdx: number, extPort: number,
    host: number, flags: number, state: number, expiry: number, anchor: number): void {
    const k = this.key;
    const rec = this.rec;
    const o = id * REC_WORDS;
    rec[o] = k[0]; rec[o + 1] = k[1]; rec[o + 2] = k[2]; rec[o + 3] = k[3];
    rec[o + 4] = k[4]; rec[o + 5] = k[5]; rec[o + 6] = k[6]; rec[o + 7] = k[7];
    rec[o + R.PORTS] = (inPort << 16 | remPort) >>> 0;
    rec[o + R.EXT] = (extPort << 16 | extIdx) >>> 0;
    rec[o + R.META] = (host << 16 | pc << 12 | state << 8 | flags | Flag.LIVE) >>> 0;
    rec[o + R.EXPIRY] = expiry;
    rec[o + R.PKTS_OUT] = 0;
    rec[o + R.PKTS_IN] = 0;
    rec[o + R.BYTES_OUT] = 0;
    rec[o + R.BYTES_IN] = 0;
    this.bytesHi[id * 2] = 0;
    this.bytesHi[id * 2 + 1] = 0;
    this.relink(id, pc, extIdx, extPort, host, flags, expiry, anchor);
  }

  /**
   * Join a record already in place (live, its words as insert writes
   * them) to everything derived from it: the count, its host's references,
   * the indexes, its mapping (or a new one owning its port), the unreplied
   * ring and the wheel. insert ends with it; rebuildTable calls it for
   * each record it keeps, leaving the record's words and counters as they are.
   */
  relink(id: number, pc: number, extIdx: number, extPort: number, host: number, flags: number, expiry: number, anchor: number): void {
    this.meta[M.COUNT]++;
    this.hosts.ref(host);
    this.indexInsert(this.idxIn, this.homeOf(0, id), id);
    this.indexInsert(this.idxOut, this.homeOf(1, id), id);
    const link = this.mapLink;
    if (flags & Flag.PUBLISHED) {
      link[id * 2] = 0;
      link[id * 2 + 1] = 0;
    } else if (anchor !== 0) {
      const next = link[anchor * 2];
      link[id * 2] = next;
      link[id * 2 + 1] = anchor;
      link[next * 2 + 1] = id;
      link[anchor * 2] = id;
    } else {
      link[id * 2] = id;
      link[id * 2 + 1] = id;
      this.owner[((extIdx << 2) | pc) * PORTS_PER_CLASS + extPort] = id;
      this.indexInsert(this.idxMap, this.homeOf(2, id), id);
    }
    this.extSessions[extIdx]++;
    if ((flags & Flag.REPLIED) === 0) this.linkUnreplied(id);
    this.wheel.link(id, expiry);
  }

  /** Delete a live session: indexes, mapping ring, wheel, host reference. */
  remove(id: number): void {
    const rec = this.rec;
    const o = id * REC_WORDS;
    const meta = rec[o + R.META];
    if ((meta & Flag.LIVE) === 0) return;
    this.indexRemove(this.idxIn, 0, this.homeOf(0, id), id);
    this.indexRemove(this.idxOut, 1, this.homeOf(1, id), id);
    const link = this.mapLink;
    if ((meta & Flag.PUBLISHED) === 0) {
      const next = link[id * 2];
      const ext = rec[o + R.EXT];
      const pc = (meta >>> 12) & 0xf;
      const ownerAt = (((ext & 0xffff) << 2) | pc) * PORTS_PER_CLASS + (ext >>> 16);
      if (next === id) {
        // Last session of its mapping: the mapping and its port go with it.
        this.indexRemove(this.idxMap, 2, this.homeOf(2, id), id);
        if (this.owner[ownerAt] === id) this.owner[ownerAt] = 0;
      } else {
        const prev = link[id * 2 + 1];
        link[prev * 2] = next;
        link[next * 2 + 1] = prev;
        if (this.owner[ownerAt] === id) {
          this.owner[ownerAt] = next;
          this.indexReplace(this.idxMap, this.homeOf(2, id), id, next);
        }
      }
    }
    this.wheel.unlink(id);
    if ((meta & Flag.REPLIED) === 0) this.unlinkUnreplied(id);
    this.extSessions[rec[o + R.EXT] & 0xffff]--;
    this.hosts.unref(meta >>> 16);
    rec[o + R.META] = 0;
    link[id * 2] = 0;
    link[id * 2 + 1] = 0;
    const m = this.meta;
    this.wNext[id] = m[M.FREE_HEAD];
    m[M.FREE_HEAD] = id;
    m[M.COUNT]--;
  }

  // ---- unreplied list ---------------------------------------------------------------

  // Append at the most recently used end of both lists.
  private linkUnreplied(id: number): void {
    const u = this.unreplied;
    const tail = u[1];
    u[id * 2] = 0;
    u[id * 2 + 1] = tail;
    u[tail * 2] = id;
    u[1] = id;
    const hu = this.hostUnreplied;
    const at = (this.rec[id * REC_WORDS + R.META] >>> 16) * HOST_WORDS + H_UNREPLIED;
    const hr = this.hosts.rec;
    hr[at - H_UNREPLIED + H_UNREPLIED_COUNT]++;
    const head = hr[at];
    if (head === 0) {
      hr[at] = id;
      hu[id * 2] = id;
      hu[id * 2 + 1] = id;
    } else {
      const last = hu[head * 2 + 1];
      hu[id * 2] = head;
      hu[id * 2 + 1] = last;
      hu[last * 2] = id;
      hu[head * 2 + 1] = id;
    }
  }

  private unlinkUnreplied(id: number): void {
    const u = this.unreplied;
    const next = u[id * 2];
    const prev = u[id * 2 + 1];
    u[prev * 2] = next;
    u[next * 2 + 1] = prev;
    const hu = this.hostUnreplied;
    const hnext = hu[id * 2];
    const at = (this.rec[id * REC_WORDS + R.META] >>> 16) * HOST_WORDS + H_UNREPLIED;
    const hr = this.hosts.rec;
    hr[at - H_UNREPLIED + H_UNREPLIED_COUNT]--;
    if (hnext === id) {
      hr[at] = 0;
      return;
    }
    const hprev = hu[id * 2 + 1];
    hu[hprev * 2] = hnext;
    hu[hnext * 2 + 1] = hprev;
    if (hr[at] === id) hr[at] = hnext;
  }

  /** The least recently used unreplied session, or 0 when there is none. */
  get oldestUnreplied(): number {
    return this.unreplied[0];
  }

  /** The unreplied session used next after `id` (0 after the most recent). */
  nextUnreplied(id: number): number {
    return this.unreplied[id * 2];
  }

  /** The stalest unreplied session of a host, or 0. */
  oldestUnrepliedOf(host: number): number {
    return this.hosts.rec[host * HOST_WORDS + H_UNREPLIED];
  }

  /** How many unreplied sessions a host has. */
  unrepliedCountOf(host: number): number {
    return this.hosts.rec[host * HOST_WORDS + H_UNREPLIED_COUNT];
  }

  /** The host's unreplied session used next after `id` (its stalest again after its most recent). */
  nextUnrepliedOfHost(id: number): number {
    return this.hostUnreplied[id * 2];
  }

  /** An unreplied session was used again in its opening direction: move it to the recent end. */
  refreshUnreplied(id: number): void {
    if (this.unreplied[1] === id) return;
    this.unlinkUnreplied(id);
    this.linkUnreplied(id);
  }

  /** First packet back: the session is replied for good and leaves the list. */
  markReplied(id: number): void {
    const at = id * REC_WORDS + R.META;
    this.rec[at] = (this.rec[at] | Flag.REPLIED) >>> 0;
    this.unlinkUnreplied(id);
  }

  // ---- timing wheel ---------------------------------------------------------------

  /** Set a session's expiry tick (see wheel.ts: later is lazy, earlier relinks). */
  setExpiry(id: number, expiry: number): void {
    this.wheel.setExpiry(id, expiry);
  }

  /**
   * Start the wheel at `tick` if it has not started: sessions must not be
   * linked before the wheel knows where it stands, or a lazily refreshed one
   * could sit in a slot the first expire() call skips. The engine calls this
   * before its first insert.
   */
  startClock(tick: number): void {
    const m = this.meta;
    if (m[M.TICK_STARTED] !== 0) return;
    m[M.TICK_STARTED] = 1;
    m[M.LAST_TICK] = tick;
  }

  /** Remove every session whose expiry is at or before `tick`; returns how many went. */
  expire(tick: number): number {
    const m = this.meta;
    if (m[M.TICK_STARTED] === 0) {
      this.startClock(tick);
      return 0;
    }
    const last = m[M.LAST_TICK];
    if (tick <= last) return 0;
    const removed = this.wheel.advance(last, tick);
    m[M.LAST_TICK] = tick;
    return removed;
  }

  /**
   * Under pressure: a session worth evicting among the ones due soonest,
   * looking at up to `budget` sessions; `accept(id)` is the engine's policy
   * (idle UDP/ICMP first). Returns the id or 0.
   */
  findVictim(tick: number, budget: number, accept: (id: number) => boolean): number {
    return this.wheel.findVictim(tick, budget, accept);
  }

  /** Bytes a session carried out (dir 0) or in (dir 1). */
  sessionBytes(id: number, dir: number): number {
    return this.bytesHi[id * 2 + dir] * 0x100000000 + this.rec[id * REC_WORDS + R.BYTES_OUT + dir];
  }

  /** Next session of the same dynamic mapping (itself when alone; 0 for published sessions). */
  mappingNext(id: number): number {
    return this.mapLink[id * 2];
  }

  /** Host id for the inside address in key[0..3], adding it if needed; 0 when the host table is full. */
  acquireHost(): number {
    return this.hosts.acquire(this.key);
  }

  // ---- free lists, rebuild, snapshot ------------------------------------------------

  /** Empty every index, the port owners and the wheel (records, hosts and counters stay); restore rebuilds from there. */
  clearDerived(): void {
    this.idxIn.fill(0);
    this.idxOut.fill(0);
    this.idxMap.fill(0);
    this.owner.fill(0);
    this.extSessions.fill(0);
    this.mapLink.fill(0);
    this.unreplied.fill(0);
    this.hostUnreplied.fill(0);
    this.wheel.reset();
    this.meta[M.COUNT] = 0;
  }

  /** Engine-supplied fingerprint of the configuration the external indexes refer to. */
  get fingerprint(): number {
    return this.meta[M.FINGERPRINT];
  }

  set fingerprint(value: number) {
    this.meta[M.FINGERPRINT] = value >>> 0;
  }

  /** The boot id the table's ticks belong to (4 words; zeros when never set). */
  get bootId(): Uint32Array {
    return this.meta.subarray(M.BOOT_ID, M.BOOT_ID + 4);
  }

  set bootId(words: Uint32Array) {
    this.meta.set(words.subarray(0, 4), M.BOOT_ID);
  }

  /** The last tick the wheel processed (0 before the first expire call). */
  get lastTick(): number {
    return this.meta[M.LAST_TICK];
  }

  /** For the snapshot module: meta word offsets. */
  static readonly META = M;
  static readonly PORTS_PER_CLASS = PORTS_PER_CLASS;
}
