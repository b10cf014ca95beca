// The NAT66 connection table: every byte of state in one flat buffer.
//
// One session per (protocol, inside address:port, remote address:port), as
// conntrack keeps it, so filtering can be address-and-port dependent. Sessions
// that share an inside address:port share one external address:port
// (endpoint-independent mapping, RFC 4787 REQ-1, RFC 5382 REQ-1): they form a
// ring (MAP_NEXT/MAP_PREV) whose "anchor" member is what the mapping index and
// the port-owner array point at.
//
// Layout (sections 64-byte aligned; N = capacity, M = index slots, W = wheel
// slots, E = external addresses, H = host capacity):
//
//   meta      64 × u32            magic, version, geometry, free lists, clock
//   rec       (N+1) × 16 × u32    one 64-byte record per session (id 0 = none)
//   bytes     (N+1) × 2 × f64     bytes out, bytes in
//   wNext     (N+1+W) × u32       timing-wheel ring links; ids N+1.. are the
//   wPrev     (N+1+W) × u32       wheel's sentinels, so unlinking needs no slot
//   idxIn     M × u32             inside 5-tuple  → id   (linear probing,
//   idxOut    M × u32             outside 5-tuple → id    slot = tag<<24 | id,
//   idxMap    M × u32             inside addr:port → mapping anchor)  0 = empty
//   owner     E × 4 × 65536 × u32 (external address, protocol class, port) →
//                                 mapping anchor id, or PUBLISHED | port index
//   hostRec   (H+1) × 8 × u32     inside address, session count
//   hostCnt   (H+1) × 4 × f64     packets out/in, bytes out/in per inside address
//   hostIdx   2H' × u32           inside address → host id
//
// Why one 64-byte record instead of one typed array per field: a packet
// touches the key, ports, external side, state, expiry and packet counters of
// its session together; packed in one cache line that is one miss per packet
// at a million sessions instead of about eight. The columns are still typed
// arrays over the one buffer (records are a Uint32Array with stride 16), so
// the whole table snapshots with one copy and can live in a SharedArrayBuffer.
//
// Expiry: a timing wheel of 1-second ticks. Refreshing a session only raises
// its EXPIRY word (no relinking per packet); when the wheel reaches the slot
// the session sits in, a session whose expiry moved on is relinked to the
// right slot. Lowering an expiry (TCP RST, FIN) relinks at once.
//
// Index deletion is backward-shift (no tombstones), so lookups stay short
// however long the table runs.

import { ProtoClass } from './types.js';

export const SNAPSHOT_MAGIC = 0x53364e54; // "S6NT"
export const SNAPSHOT_VERSION = 1;

/** Words of one session record, and what each holds. */
export const REC_WORDS = 16;
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
  PKTS_OUT: 12,
  PKTS_IN: 13,
  MAP_NEXT: 14,
  MAP_PREV: 15,
} as const;

/** Session flags (low byte of META). */
export const Flag = {
  /** In use (free records have META 0). */
  LIVE: 0x01,
  /** Made for a published port: its external port belongs to the port, not to a dynamic mapping. */
  PUBLISHED: 0x02,
  /** Created by an inbound packet (published port or endpoint-independent filtering). */
  INBOUND: 0x04,
} as const;

/** Owner-array marker for a published port; the low bits hold the published port's index. */
export const OWNER_PUBLISHED = 0x80000000;

const META_WORDS = 64;
const M = {
  MAGIC: 0, VERSION: 1, CAPACITY: 2, INDEX_SIZE: 3, WHEEL_SIZE: 4, EXT_COUNT: 5,
  HOST_CAPACITY: 6, HOST_INDEX_SIZE: 7, COUNT: 8, FREE_HEAD: 9, LAST_TICK: 10,
  HOST_COUNT: 11, HOST_FREE_HEAD: 12, HOST_HAND: 13, CHECKSUM: 14, BYTE_LENGTH: 15,
  SNAPSHOT_TICK: 16, FINGERPRINT: 17, TICK_STARTED: 18,
} as const;

const ID_BITS = 24;
const ID_MASK = (1 << ID_BITS) - 1;
export const MAX_CAPACITY = ID_MASK;
const WHEEL_SIZE = 4096;
const PORTS_PER_CLASS = 65536;
const HOST_WORDS = 8;
/** Host record: inside address words 0..3, session count at word 4. */
const H_REFS = 4;

export interface TableGeometry {
  /** Sessions the table holds (default 262,144; at most 16,777,215). */
  capacity: number;
  /** External addresses across all masquerading networks (sizes the port-owner array). */
  externalCount: number;
  /** Inside addresses with their own counters (default capacity / 64, at least 1,024, at most 65,535). */
  hostCapacity?: number;
  /** Back the table with a SharedArrayBuffer so worker threads can map it. */
  shared?: boolean;
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function align64(n: number): number {
  return (n + 63) & ~63;
}

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
  return (h ^ (h >>> 16)) >>> 0;
}

export class ConnTable {
  readonly capacity: number;
  readonly indexSize: number;
  readonly wheelSize = WHEEL_SIZE;
  readonly externalCount: number;
  readonly hostCapacity: number;
  readonly hostIndexSize: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly byteLength: number;

  readonly meta: Uint32Array;
  readonly rec: Uint32Array;
  readonly bytes: Float64Array;
  readonly wNext: Uint32Array;
  readonly wPrev: Uint32Array;
  readonly idxIn: Uint32Array;
  readonly idxOut: Uint32Array;
  readonly idxMap: Uint32Array;
  readonly owner: Uint32Array;
  readonly hostRec: Uint32Array;
  readonly hostCnt: Float64Array;
  readonly hostIdx: Uint32Array;

  /**
   * Scratch key the find/insert calls read: words 0..3 the inside address,
   * 4..7 the remote address (big-endian words as DataView.getUint32 reads them).
   */
  readonly key = new Uint32Array(8);

  private readonly mask: number;
  private readonly hostMask: number;
  private seed: number;

  constructor(geometry: TableGeometry, seed = 0x2545f491) {
    const capacity = geometry.capacity;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`table capacity must be an integer in 1..${MAX_CAPACITY}, got ${capacity}`);
    }
    const ext = geometry.externalCount;
    if (!Number.isInteger(ext) || ext < 0 || ext > 65535) throw new RangeError(`externalCount out of range: ${ext}`);
    const hosts = geometry.hostCapacity ?? Math.min(65535, Math.max(1024, capacity >>> 6));
    if (!Number.isInteger(hosts) || hosts < 1 || hosts > 65535) throw new RangeError(`hostCapacity must be in 1..65535, got ${hosts}`);
    this.capacity = capacity;
    this.externalCount = ext;
    this.hostCapacity = hosts;
    this.indexSize = nextPow2(capacity * 2);
    this.hostIndexSize = nextPow2(hosts * 2);
    this.mask = this.indexSize - 1;
    this.hostMask = this.hostIndexSize - 1;
    this.seed = seed | 0;

    const n1 = capacity + 1;
    let at = 0;
    const take = (bytes: number): number => { const o = at; at = align64(at + bytes); return o; };
    const oMeta = take(META_WORDS * 4);
    const oRec = take(n1 * REC_WORDS * 4);
    const oBytes = take(n1 * 2 * 8);
    const oWNext = take((n1 + WHEEL_SIZE) * 4);
    const oWPrev = take((n1 + WHEEL_SIZE) * 4);
    const oIdxIn = take(this.indexSize * 4);
    const oIdxOut = take(this.indexSize * 4);
    const oIdxMap = take(this.indexSize * 4);
    const oOwner = take(ext * 4 * PORTS_PER_CLASS * 4);
    const oHostRec = take((hosts + 1) * HOST_WORDS * 4);
    const oHostCnt = take((hosts + 1) * 4 * 8);
    const oHostIdx = take(this.hostIndexSize * 4);
    this.byteLength = at;
    this.buffer = geometry.shared ? new SharedArrayBuffer(at) : new ArrayBuffer(at);
    const b = this.buffer;
    this.meta = new Uint32Array(b, oMeta, META_WORDS);
    this.rec = new Uint32Array(b, oRec, n1 * REC_WORDS);
    this.bytes = new Float64Array(b, oBytes, n1 * 2);
    this.wNext = new Uint32Array(b, oWNext, n1 + WHEEL_SIZE);
    this.wPrev = new Uint32Array(b, oWPrev, n1 + WHEEL_SIZE);
    this.idxIn = new Uint32Array(b, oIdxIn, this.indexSize);
    this.idxOut = new Uint32Array(b, oIdxOut, this.indexSize);
    this.idxMap = new Uint32Array(b, oIdxMap, this.indexSize);
    this.owner = new Uint32Array(b, oOwner, ext * 4 * PORTS_PER_CLASS);
    this.hostRec = new Uint32Array(b, oHostRec, (hosts + 1) * HOST_WORDS);
    this.hostCnt = new Float64Array(b, oHostCnt, (hosts + 1) * 4);
    this.hostIdx = new Uint32Array(b, oHostIdx, this.hostIndexSize);
    this.clear();
  }

  /** Bytes of the whole table per session of capacity (indexes, wheel, owner and host tables included). */
  get bytesPerSession(): number {
    return this.byteLength / this.capacity;
  }

  get count(): number {
    return this.meta[M.COUNT];
  }

  get hostCount(): number {
    return this.meta[M.HOST_COUNT];
  }

  /** Forget every session and host; keeps the geometry. */
  clear(): void {
    const m = this.meta;
    m.fill(0);
    m[M.MAGIC] = SNAPSHOT_MAGIC;
    m[M.VERSION] = SNAPSHOT_VERSION;
    m[M.CAPACITY] = this.capacity;
    m[M.INDEX_SIZE] = this.indexSize;
    m[M.WHEEL_SIZE] = WHEEL_SIZE;
    m[M.EXT_COUNT] = this.externalCount;
    m[M.HOST_CAPACITY] = this.hostCapacity;
    m[M.HOST_INDEX_SIZE] = this.hostIndexSize;
    m[M.BYTE_LENGTH] = this.byteLength;
    this.rec.fill(0);
    this.bytes.fill(0);
    this.idxIn.fill(0);
    this.idxOut.fill(0);
    this.idxMap.fill(0);
    this.owner.fill(0);
    this.hostRec.fill(0);
    this.hostCnt.fill(0);
    this.hostIdx.fill(0);
    this.resetWheel();
    this.rebuildFreeLists();
  }

  // ---- hashing ---------------------------------------------------------------

  private hashInside(pc: number, ports: number, k: Uint32Array, ko: number, r: Uint32Array, ro: number): number {
    let h = this.seed ^ pc;
    h = mix(h, k[ko]); h = mix(h, k[ko + 1]); h = mix(h, k[ko + 2]); h = mix(h, k[ko + 3]);
    h = mix(h, r[ro]); h = mix(h, r[ro + 1]); h = mix(h, r[ro + 2]); h = mix(h, r[ro + 3]);
    return fin(mix(h, ports));
  }

  private hashOutside(pc: number, ext: number, remPort: number, r: Uint32Array, ro: number): number {
    let h = this.seed ^ (0x100 | pc);
    h = mix(h, ext);
    h = mix(h, r[ro]); h = mix(h, r[ro + 1]); h = mix(h, r[ro + 2]); h = mix(h, r[ro + 3]);
    return fin(mix(h, remPort));
  }

  private hashMapping(pc: number, inPort: number, k: Uint32Array, ko: number): number {
    let h = this.seed ^ (0x200 | pc);
    h = mix(h, k[ko]); h = mix(h, k[ko + 1]); h = mix(h, k[ko + 2]); h = mix(h, k[ko + 3]);
    return fin(mix(h, inPort));
  }

  private hashHost(k: Uint32Array, ko: number): number {
    let h = this.seed ^ 0x300;
    h = mix(h, k[ko]); h = mix(h, k[ko + 1]); h = mix(h, k[ko + 2]); h = mix(h, k[ko + 3]);
    return fin(h);
  }

  // ---- lookups (read this.key) ------------------------------------------------

  /** Session for (pc, key inside address, inPort, key remote address, remPort), or 0. */
  findInside(pc: number, inPort: number, remPort: number): number {
    const k = this.key;
    const rec = this.rec;
    const ports = (inPort << 16 | remPort) >>> 0;
    const h = this.hashInside(pc, ports, k, 0, k, 4);
    const tag = h >>> 24;
    const idx = this.idxIn;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = idx[i];
      if (s === 0) return 0;
      if (s >>> ID_BITS !== tag) continue;
      const id = s & ID_MASK;
      const o = id * REC_WORDS;
      if (rec[o + R.PORTS] === ports && rec[o + R.REM_ADDR + 3] === k[7] && rec[o + R.REM_ADDR + 2] === k[6] &&
          rec[o + R.REM_ADDR + 1] === k[5] && rec[o + R.REM_ADDR] === k[4] && rec[o + R.IN_ADDR + 3] === k[3] &&
          rec[o + R.IN_ADDR + 2] === k[2] && rec[o + R.IN_ADDR + 1] === k[1] && rec[o + R.IN_ADDR] === k[0] &&
          ((rec[o + R.META] >>> 12) & 0xf) === pc) {
        return id;
      }
    }
  }

  /** Session for (pc, external address index, extPort, key remote address, remPort), or 0. */
  findOutside(pc: number, extIdx: number, extPort: number, remPort: number): number {
    const k = this.key;
    const rec = this.rec;
    const ext = (extPort << 16 | extIdx) >>> 0;
    const h = this.hashOutside(pc, ext, remPort, k, 4);
    const tag = h >>> 24;
    const idx = this.idxOut;
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = idx[i];
      if (s === 0) return 0;
      if (s >>> ID_BITS !== tag) continue;
      const id = s & ID_MASK;
      const o = id * REC_WORDS;
      if (rec[o + R.EXT] === ext && (rec[o + R.PORTS] & 0xffff) === remPort && rec[o + R.REM_ADDR + 3] === k[7] &&
          rec[o + R.REM_ADDR + 2] === k[6] && rec[o + R.REM_ADDR + 1] === k[5] && rec[o + R.REM_ADDR] === k[4] &&
          ((rec[o + R.META] >>> 12) & 0xf) === pc) {
        return id;
      }
    }
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

  /** What owns an external port: 0 (free), a mapping anchor id, or OWNER_PUBLISHED | index. */
  portOwner(extIdx: number, pc: number, port: number): number {
    return this.owner[((extIdx << 2) | pc) * PORTS_PER_CLASS + port];
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
    if (which === 0) return this.hashInside(pc, rec[o + R.PORTS], rec, o + R.IN_ADDR, rec, o + R.REM_ADDR);
    if (which === 1) return this.hashOutside(pc, rec[o + R.EXT], rec[o + R.PORTS] & 0xffff, rec, o + R.REM_ADDR);
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
    m[M.COUNT]++;
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
    this.bytes[id * 2] = 0;
    this.bytes[id * 2 + 1] = 0;
    this.hostRec[host * HOST_WORDS + H_REFS]++;
    this.indexInsert(this.idxIn, this.homeOf(0, id), id);
    this.indexInsert(this.idxOut, this.homeOf(1, id), id);
    if (flags & Flag.PUBLISHED) {
      rec[o + R.MAP_NEXT] = 0;
      rec[o + R.MAP_PREV] = 0;
    } else if (anchor !== 0) {
      const ao = anchor * REC_WORDS;
      const next = rec[ao + R.MAP_NEXT];
      rec[o + R.MAP_NEXT] = next;
      rec[o + R.MAP_PREV] = anchor;
      rec[next * REC_WORDS + R.MAP_PREV] = id;
      rec[ao + R.MAP_NEXT] = id;
    } else {
      rec[o + R.MAP_NEXT] = id;
      rec[o + R.MAP_PREV] = id;
      this.owner[((extIdx << 2) | pc) * PORTS_PER_CLASS + extPort] = id;
      this.indexInsert(this.idxMap, this.homeOf(2, id), id);
    }
    this.wheelLink(id, expiry);
    return id;
  }

  /** Delete a live session: indexes, mapping ring, wheel, host reference. */
  remove(id: number): void {
    const rec = this.rec;
    const o = id * REC_WORDS;
    const meta = rec[o + R.META];
    if ((meta & Flag.LIVE) === 0) return;
    this.indexRemove(this.idxIn, 0, this.homeOf(0, id), id);
    this.indexRemove(this.idxOut, 1, this.homeOf(1, id), id);
    if ((meta & Flag.PUBLISHED) === 0) {
      const next = rec[o + R.MAP_NEXT];
      const ext = rec[o + R.EXT];
      const pc = (meta >>> 12) & 0xf;
      const ownerAt = (((ext & 0xffff) << 2) | pc) * PORTS_PER_CLASS + (ext >>> 16);
      if (next === id) {
        // Last session of its mapping: the mapping and its port go with it.
        this.indexRemove(this.idxMap, 2, this.homeOf(2, id), id);
        if (this.owner[ownerAt] === id) this.owner[ownerAt] = 0;
      } else {
        const prev = rec[o + R.MAP_PREV];
        rec[prev * REC_WORDS + R.MAP_NEXT] = next;
        rec[next * REC_WORDS + R.MAP_PREV] = prev;
        if (this.owner[ownerAt] === id) {
          this.owner[ownerAt] = next;
          this.indexReplace(this.idxMap, this.homeOf(2, id), id, next);
        }
      }
    }
    this.wheelUnlink(id);
    const host = meta >>> 16;
    this.hostRec[host * HOST_WORDS + H_REFS]--;
    rec[o + R.META] = 0;
    rec[o + R.MAP_NEXT] = 0;
    rec[o + R.MAP_PREV] = 0;
    const m = this.meta;
    this.wNext[id] = m[M.FREE_HEAD];
    m[M.FREE_HEAD] = id;
    m[M.COUNT]--;
  }

  // ---- timing wheel --------------------------------------------------------------

  private resetWheel(): void {
    const n1 = this.capacity + 1;
    for (let s = 0; s < WHEEL_SIZE; s++) {
      this.wNext[n1 + s] = n1 + s;
      this.wPrev[n1 + s] = n1 + s;
    }
  }

  private wheelLink(id: number, expiry: number): void {
    const head = this.capacity + 1 + (expiry & (WHEEL_SIZE - 1));
    const next = this.wNext[head];
    this.wNext[id] = next;
    this.wPrev[id] = head;
    this.wPrev[next] = id;
    this.wNext[head] = id;
  }

  private wheelUnlink(id: number): void {
    const next = this.wNext[id];
    const prev = this.wPrev[id];
    this.wNext[prev] = next;
    this.wPrev[next] = prev;
  }

  /**
   * Set a session's expiry tick. Later expiries are lazy (only the word
   * changes); an earlier one relinks the session so the wheel reaches it in time.
   */
  setExpiry(id: number, expiry: number): void {
    const at = id * REC_WORDS + R.EXPIRY;
    if (expiry >= this.rec[at]) {
      this.rec[at] = expiry;
      return;
    }
    this.rec[at] = expiry;
    this.wheelUnlink(id);
    this.wheelLink(id, expiry);
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
    const steps = Math.min(tick - last, WHEEL_SIZE);
    let removed = 0;
    const n1 = this.capacity + 1;
    const rec = this.rec;
    for (let t = last + 1; t < last + 1 + steps; t++) {
      const head = n1 + (t & (WHEEL_SIZE - 1));
      let id = this.wNext[head];
      while (id !== head) {
        const next = this.wNext[id];
        const expiry = rec[id * REC_WORDS + R.EXPIRY];
        if (expiry <= tick) {
          this.remove(id);
          removed++;
        } else if (((expiry ^ t) & (WHEEL_SIZE - 1)) !== 0) {
          this.wheelUnlink(id);
          this.wheelLink(id, expiry);
        }
        id = next;
      }
    }
    m[M.LAST_TICK] = tick;
    return removed;
  }

  /**
   * Under pressure: find a session worth evicting among the ones due soonest,
   * looking at up to `budget` sessions. `accept(id)` decides (idle UDP/ICMP
   * first, the engine's policy). Returns the id or 0.
   */
  findVictim(tick: number, budget: number, accept: (id: number) => boolean): number {
    const n1 = this.capacity + 1;
    for (let s = 0; s < WHEEL_SIZE && budget > 0; s++) {
      const head = n1 + ((tick + s) & (WHEEL_SIZE - 1));
      for (let id = this.wNext[head]; id !== head && budget > 0; id = this.wNext[id], budget--) {
        if (accept(id)) return id;
      }
    }
    return 0;
  }

  // ---- hosts (per inside address counters) ---------------------------------------

  /** Host id for the inside address in key[0..3], adding it if needed; 0 when the host table is full. */
  acquireHost(): number {
    const k = this.key;
    const hr = this.hostRec;
    const h = this.hashHost(k, 0);
    const tag = h >>> 24;
    const idx = this.hostIdx;
    const mask = this.hostMask;
    let i = h & mask;
    for (; idx[i] !== 0; i = (i + 1) & mask) {
      const s = idx[i];
      if (s >>> ID_BITS !== tag) continue;
      const o = (s & ID_MASK) * HOST_WORDS;
      if (hr[o] === k[0] && hr[o + 1] === k[1] && hr[o + 2] === k[2] && hr[o + 3] === k[3]) return s & ID_MASK;
    }
    const m = this.meta;
    let id = m[M.HOST_FREE_HEAD];
    if (id === 0) {
      id = this.reclaimHost();
      if (id === 0) return 0;
      // The reclaim reshaped the index; find the insertion slot again.
      i = h & mask;
      while (idx[i] !== 0) i = (i + 1) & mask;
    }
    m[M.HOST_FREE_HEAD] = hr[id * HOST_WORDS + 5];
    m[M.HOST_COUNT]++;
    const o = id * HOST_WORDS;
    hr[o] = k[0]; hr[o + 1] = k[1]; hr[o + 2] = k[2]; hr[o + 3] = k[3];
    hr[o + H_REFS] = 0;
    hr[o + 5] = 0;
    hr[o + 6] = 1;
    this.hostCnt.fill(0, id * 4, id * 4 + 4);
    idx[i] = (tag << ID_BITS | id) >>> 0;
    return id;
  }

  // Hosts with no sessions keep their counters until the space is needed;
  // a clock hand then takes the next idle one.
  private reclaimHost(): number {
    const m = this.meta;
    const hr = this.hostRec;
    const n = this.hostCapacity;
    for (let step = 0; step < n; step++) {
      const id = (m[M.HOST_HAND] % n) + 1;
      m[M.HOST_HAND] = id;
      const o = id * HOST_WORDS;
      if (hr[o + 6] === 1 && hr[o + H_REFS] === 0) {
        this.hostIndexRemove(id);
        hr[o + 6] = 0;
        m[M.HOST_COUNT]--;
        hr[o + 5] = m[M.HOST_FREE_HEAD];
        m[M.HOST_FREE_HEAD] = id;
        return id;
      }
    }
    return 0;
  }

  private hostIndexRemove(id: number): void {
    const idx = this.hostIdx;
    const mask = this.hostMask;
    const hr = this.hostRec;
    let i = this.hashHost(hr, id * HOST_WORDS) & mask;
    while ((idx[i] & ID_MASK) !== id) {
      if (idx[i] === 0) return;
      i = (i + 1) & mask;
    }
    let hole = i;
    for (let j = (hole + 1) & mask; idx[j] !== 0; j = (j + 1) & mask) {
      const home = this.hashHost(hr, (idx[j] & ID_MASK) * HOST_WORDS) & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        idx[hole] = idx[j];
        hole = j;
      }
    }
    idx[hole] = 0;
  }

  /** Sessions currently referencing a host. */
  hostSessions(host: number): number {
    return this.hostRec[host * HOST_WORDS + H_REFS];
  }

  /** True when host id is in use (has an address and counters). */
  hostLive(host: number): boolean {
    return this.hostRec[host * HOST_WORDS + 6] === 1;
  }

  /** Offset of a host's address words in hostRec. */
  hostAddrOffset(host: number): number {
    return host * HOST_WORDS;
  }

  // ---- free lists, rebuild, snapshot ------------------------------------------------

  private rebuildFreeLists(): void {
    const m = this.meta;
    const rec = this.rec;
    let head = 0;
    for (let id = this.capacity; id >= 1; id--) {
      if ((rec[id * REC_WORDS + R.META] & Flag.LIVE) === 0) {
        this.wNext[id] = head;
        head = id;
      }
    }
    m[M.FREE_HEAD] = head;
    const hr = this.hostRec;
    let hostHead = 0;
    for (let id = this.hostCapacity; id >= 1; id--) {
      if (hr[id * HOST_WORDS + 6] !== 1) {
        hr[id * HOST_WORDS + 5] = hostHead;
        hostHead = id;
      }
    }
    m[M.HOST_FREE_HEAD] = hostHead;
  }

  /** Engine-supplied fingerprint of the configuration the external indexes refer to. */
  get fingerprint(): number {
    return this.meta[M.FINGERPRINT];
  }

  set fingerprint(value: number) {
    this.meta[M.FINGERPRINT] = value >>> 0;
  }

  /** The last tick the wheel processed (0 before the first expire call). */
  get lastTick(): number {
    return this.meta[M.LAST_TICK];
  }

  /** For the snapshot module: meta word offsets. */
  static readonly META = M;
  static readonly HOST_WORDS = HOST_WORDS;
  static readonly PORTS_PER_CLASS = PORTS_PER_CLASS;

  /**
   * Rebuild every derived structure (indexes, mapping rings, port owners,
   * wheel, host index and reference counts, free lists) from the records and
   * host addresses alone, dropping any record that is inconsistent. Used
   * after restoring a snapshot, so a damaged snapshot can never corrupt the
   * indexes or make a list loop. `markPublished` runs after the port owners
   * are cleared and must set OWNER_PUBLISHED entries for the current
   * published ports; sessions that disagree with them are dropped.
   * Returns the number of records dropped.
   */
  rebuild(markPublished: () => void): number {
    const rec = this.rec;
    const hr = this.hostRec;
    this.idxIn.fill(0);
    this.idxOut.fill(0);
    this.idxMap.fill(0);
    this.owner.fill(0);
    markPublished();
    this.hostIdx.fill(0);
    this.resetWheel();
    const k = this.key;
    let hostCount = 0;
    for (let id = 1; id <= this.hostCapacity; id++) {
      const o = id * HOST_WORDS;
      hr[o + H_REFS] = 0;
      if (hr[o + 6] !== 1) { hr[o + 6] = 0; continue; }
      k[0] = hr[o]; k[1] = hr[o + 1]; k[2] = hr[o + 2]; k[3] = hr[o + 3];
      const h = this.hashHost(k, 0);
      const mask = this.hostMask;
      let i = h & mask;
      let dup = false;
      for (; this.hostIdx[i] !== 0; i = (i + 1) & mask) {
        const q = (this.hostIdx[i] & ID_MASK) * HOST_WORDS;
        if (hr[q] === k[0] && hr[q + 1] === k[1] && hr[q + 2] === k[2] && hr[q + 3] === k[3]) dup = true;
      }
      if (dup) { hr[o + 6] = 0; continue; }
      this.hostIdx[i] = ((h >>> 24) << ID_BITS | id) >>> 0;
      hostCount++;
    }
    this.meta[M.HOST_COUNT] = hostCount;
    let count = 0;
    let dropped = 0;
    for (let id = 1; id <= this.capacity; id++) {
      const o = id * REC_WORDS;
      const meta = rec[o + R.META];
      if ((meta & Flag.LIVE) === 0) { rec.fill(0, o, o + REC_WORDS); continue; }
      rec[o + R.META] = 0;
      const pc = (meta >>> 12) & 0xf;
      const host = meta >>> 16;
      const extIdx = rec[o + R.EXT] & 0xffff;
      const extPort = rec[o + R.EXT] >>> 16;
      const inPort = rec[o + R.PORTS] >>> 16;
      const remPort = rec[o + R.PORTS] & 0xffff;
      const flags = meta & 0xff & ~Flag.LIVE;
      let ok = pc <= ProtoClass.Sctp && extIdx < this.externalCount && host >= 1 && host <= this.hostCapacity &&
        hr[host * HOST_WORDS + 6] === 1 && (flags & ~(Flag.PUBLISHED | Flag.INBOUND)) === 0;
      for (let w = 0; ok && w < 4; w++) if (hr[host * HOST_WORDS + w] !== rec[o + w]) ok = false;
      let anchor = 0;
      if (ok) {
        for (let w = 0; w < 8; w++) k[w] = rec[o + w];
        if (this.findInside(pc, inPort, remPort) !== 0 || this.findOutside(pc, extIdx, extPort, remPort) !== 0) ok = false;
      }
      if (ok) {
        const owner = this.portOwner(extIdx, pc, extPort);
        const published = (owner & OWNER_PUBLISHED) !== 0;
        if (flags & Flag.PUBLISHED) {
          ok = published;
        } else if (published) {
          ok = false;
        } else {
          anchor = this.findMapping(pc, inPort);
          if (anchor !== 0) ok = (rec[anchor * REC_WORDS + R.EXT] === rec[o + R.EXT]);
          else ok = owner === 0;
        }
      }
      if (!ok) {
        rec.fill(0, o, o + REC_WORDS);
        dropped++;
        continue;
      }
      // Re-insert in place: the free list is rebuilt afterwards, so point it at this id.
      const m = this.meta;
      m[M.FREE_HEAD] = id;
      this.wNext[id] = 0;
      const state = (meta >>> 8) & 0xf;
      const expiry = rec[o + R.EXPIRY];
      const pktsOut = rec[o + R.PKTS_OUT];
      const pktsIn = rec[o + R.PKTS_IN];
      const bo = this.bytes[id * 2];
      const bi = this.bytes[id * 2 + 1];
      m[M.COUNT] = count;
      this.insert(pc, inPort, remPort, extIdx, extPort, host, flags, state, expiry, anchor);
      rec[o + R.PKTS_OUT] = pktsOut;
      rec[o + R.PKTS_IN] = pktsIn;
      this.bytes[id * 2] = bo;
      this.bytes[id * 2 + 1] = bi;
      count++;
    }
    this.meta[M.COUNT] = count;
    this.rebuildFreeLists();
    return dropped;
  }
}
