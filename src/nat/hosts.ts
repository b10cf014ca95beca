// Per inside address counters: packets and bytes out and in, for every
// container address with sessions (and, until the space is needed, without).
//
// Part of the connection table's flat buffer (ConnTable allocates the three
// sections and passes views in): records of 16 words (address 0..3, session
// count 4, free-list link 5, live flag 6, the host's stalest unreplied
// session 7: the head of its ring in the table's hostUnreplied column, its
// unreplied session count 8; 9..15 spare, for a 64-byte record), a Float64Array of 4 counters per
// host, and an open-addressing index (tag << 24 | id, linear probing,
// backward-shift deletion) from address to host id. Scalar state (count,
// free-list head, reclaim hand) lives in the table's meta words, so it is
// snapshotted with everything else.
//
// Drops per host and reason (the host's own outbound packets the engine
// dropped) sit in an array of their own, outside the table's buffer: they
// are for the metrics only, so a restart (a state file) need not keep them.

import { DROP_REASON_COUNT } from './drop.js';

const ID_BITS = 24;
const ID_MASK = (1 << ID_BITS) - 1;
/** Words per host record. */
export const HOST_WORDS = 16;
const H_REFS = 4;
const H_NEXT_FREE = 5;
const H_LIVE = 6;
/** Word of a host record holding its stalest unreplied session (0 = none); ConnTable keeps the ring. */
export const H_UNREPLIED = 7;
/** Word of a host record counting its unreplied sessions (ConnTable keeps it with the ring). */
export const H_UNREPLIED_COUNT = 8;

/** Counter slots per host in `cnt` (Float64, host * HOST_COUNTER_COUNT + slot). */
export const HostCounter = { PacketsOut: 0, PacketsIn: 1, BytesOut: 2, BytesIn: 3 } as const;
export const HOST_COUNTER_COUNT = 4;

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0xcc9e2d51);
  return (h << 15) | (h >>> 17);
}

function hashAddress(seed: number, k: Uint32Array, ko: number): number {
  let h = seed ^ 0x300;
  h = mix(h, k[ko] | 0); h = mix(h, k[ko + 1] | 0); h = mix(h, k[ko + 2] | 0); h = mix(h, k[ko + 3] | 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h ^ (h >>> 16);
}

export class HostTable {
  readonly capacity: number;
  readonly indexSize: number;
  readonly rec: Uint32Array;
  readonly cnt: Float64Array;
  readonly idx: Uint32Array;
  /** Dropped packets per host and reason: host * DROP_REASON_COUNT + reason. */
  readonly drops: Float64Array;
  private readonly mask: number;
  private readonly meta: Uint32Array;
  private readonly mCount: number;
  private readonly mFree: number;
  private readonly mHand: number;
  private readonly seed: number;

  /** Bytes the three sections need for `capacity` hosts, and the index size. */
  static geometry(capacity: number): { indexSize: number; recBytes: number; cntBytes: number; idxBytes: number } {
    let indexSize = 1;
    while (indexSize < capacity * 2) indexSize *= 2;
    return { indexSize, recBytes: (capacity + 1) * HOST_WORDS * 4, cntBytes: (capacity + 1) * HOST_COUNTER_COUNT * 8, idxBytes: indexSize * 4 };
  }

  constructor(capacity: number, rec: Uint32Array, cnt: Float64Array, idx: Uint32Array, meta: Uint32Array,
    metaWords: { count: number; freeHead: number; hand: number }, seed: number) {
    this.capacity = capacity;
    this.indexSize = idx.length;
    this.mask = idx.length - 1;
    this.rec = rec;
    this.cnt = cnt;
    this.idx = idx;
    this.drops = new Float64Array((capacity + 1) * DROP_REASON_COUNT);
    this.meta = meta;
    this.mCount = metaWords.count;
    this.mFree = metaWords.freeHead;
    this.mHand = metaWords.hand;
    this.seed = seed;
  }

  get count(): number {
    return this.meta[this.mCount];
  }

  clear(): void {
    this.rec.fill(0);
    this.cnt.fill(0);
    this.drops.fill(0);
    this.idx.fill(0);
    this.meta[this.mCount] = 0;
    this.meta[this.mHand] = 0;
    this.rebuildFreeList();
  }

  /** Host id of the address in k[ko..ko+3], or 0 when the table has none. */
  find(k: Uint32Array, ko: number): number {
    const h = hashAddress(this.seed, k, ko);
    const tag = h >>> 24;
    const hr = this.rec;
    const idx = this.idx;
    const mask = this.mask;
    for (let i = h & mask; idx[i] !== 0; i = (i + 1) & mask) {
      const s = idx[i];
      if (s >>> ID_BITS !== tag) continue;
      const o = (s & ID_MASK) * HOST_WORDS;
      if (hr[o] === k[ko] && hr[o + 1] === k[ko + 1] && hr[o + 2] === k[ko + 2] && hr[o + 3] === k[ko + 3]) return s & ID_MASK;
    }
    return 0;
  }

  /** Host id for the address in k[0..3], adding it if needed; 0 when every host holds sessions. */
  acquire(k: Uint32Array): number {
    const found = this.find(k, 0);
    if (found !== 0) return found;
    const hr = this.rec;
    const h = hashAddress(this.seed, k, 0);
    const tag = h >>> 24;
    const idx = this.idx;
    const mask = this.mask;
    let i = h & mask;
    while (idx[i] !== 0) i = (i + 1) & mask;
    const m = this.meta;
    let id = m[this.mFree];
    if (id === 0) {
      id = this.reclaim();
      if (id === 0) return 0;
      // The reclaim reshaped the index; find the insertion slot again.
      i = h & mask;
      while (idx[i] !== 0) i = (i + 1) & mask;
    }
    m[this.mFree] = hr[id * HOST_WORDS + H_NEXT_FREE];
    m[this.mCount]++;
    const o = id * HOST_WORDS;
    hr[o] = k[0]; hr[o + 1] = k[1]; hr[o + 2] = k[2]; hr[o + 3] = k[3];
    hr[o + H_REFS] = 0;
    hr[o + H_NEXT_FREE] = 0;
    hr[o + H_LIVE] = 1;
    hr[o + H_UNREPLIED] = 0;
    hr[o + H_UNREPLIED_COUNT] = 0;
    this.cnt.fill(0, id * 4, id * 4 + 4);
    this.drops.fill(0, id * DROP_REASON_COUNT, (id + 1) * DROP_REASON_COUNT);
    idx[i] = (tag << ID_BITS | id) >>> 0;
    return id;
  }

  // Hosts with no sessions keep their counters until the space is needed;
  // a clock hand then takes the next idle one.
  private reclaim(): number {
    const m = this.meta;
    const hr = this.rec;
    const n = this.capacity;
    for (let step = 0; step < n; step++) {
      const id = (m[this.mHand] % n) + 1;
      m[this.mHand] = id;
      const o = id * HOST_WORDS;
      if (hr[o + H_LIVE] === 1 && hr[o + H_REFS] === 0) {
        this.indexRemove(id);
        hr[o + H_LIVE] = 0;
        m[this.mCount]--;
        hr[o + H_NEXT_FREE] = m[this.mFree];
        m[this.mFree] = id;
        return id;
      }
    }
    return 0;
  }

  private indexRemove(id: number): void {
    const idx = this.idx;
    const mask = this.mask;
    const hr = this.rec;
    let i = hashAddress(this.seed, hr, id * HOST_WORDS) & mask;
    while ((idx[i] & ID_MASK) !== id) {
      if (idx[i] === 0) return;
      i = (i + 1) & mask;
    }
    let hole = i;
    for (let j = (hole + 1) & mask; idx[j] !== 0; j = (j + 1) & mask) {
      const home = hashAddress(this.seed, hr, (idx[j] & ID_MASK) * HOST_WORDS) & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        idx[hole] = idx[j];
        hole = j;
      }
    }
    idx[hole] = 0;
  }

  /** A session starts or stops using the host. */
  ref(host: number): void {
    this.rec[host * HOST_WORDS + H_REFS]++;
  }

  unref(host: number): void {
    this.rec[host * HOST_WORDS + H_REFS]--;
  }

  /** Sessions currently referencing a host. */
  sessions(host: number): number {
    return this.rec[host * HOST_WORDS + H_REFS];
  }

  /** True when the host id is in use (has an address and counters). */
  live(host: number): boolean {
    return this.rec[host * HOST_WORDS + H_LIVE] === 1;
  }

  /** Whether the live host's address equals the words w[o..o+3]. */
  hasAddress(host: number, w: Uint32Array, o: number): boolean {
    const hr = this.rec;
    const b = host * HOST_WORDS;
    return hr[b] === w[o] && hr[b + 1] === w[o + 1] && hr[b + 2] === w[o + 2] && hr[b + 3] === w[o + 3];
  }

  /** Offset of a host's address words in `rec`. */
  addressOffset(host: number): number {
    return host * HOST_WORDS;
  }

  /**
   * After a restore: rebuild the index from the live records (dropping
   * duplicates), zero the session counts (re-counted as sessions are
   * re-inserted) and rebuild the free list.
   */
  rebuild(): void {
    const hr = this.rec;
    const idx = this.idx;
    const mask = this.mask;
    idx.fill(0);
    let count = 0;
    for (let id = 1; id <= this.capacity; id++) {
      const o = id * HOST_WORDS;
      hr[o + H_REFS] = 0;
      hr[o + H_UNREPLIED] = 0;
      hr[o + H_UNREPLIED_COUNT] = 0;
      if (hr[o + H_LIVE] !== 1) { hr[o + H_LIVE] = 0; continue; }
      const h = hashAddress(this.seed, hr, o);
      let i = h & mask;
      let dup = false;
      for (; idx[i] !== 0; i = (i + 1) & mask) {
        if (this.hasAddress(idx[i] & ID_MASK, hr, o)) dup = true;
      }
      if (dup) { hr[o + H_LIVE] = 0; continue; }
      idx[i] = ((h >>> 24) << ID_BITS | id) >>> 0;
      count++;
    }
    this.meta[this.mCount] = count;
    this.rebuildFreeList();
  }

  private rebuildFreeList(): void {
    const hr = this.rec;
    let head = 0;
    for (let id = this.capacity; id >= 1; id--) {
      if (hr[id * HOST_WORDS + H_LIVE] !== 1) {
        hr[id * HOST_WORDS + H_NEXT_FREE] = head;
        head = id;
      }
    }
    this.meta[this.mFree] = head;
  }
}
