// A fixed-capacity hash index from (tag, IPv6 address) to a dense entry
// number, in typed arrays: the exact-address sets and the session table both
// sit on it, keeping their per-entry data in parallel arrays indexed by the
// entry number. Lookups read the address straight from the packet buffer.
//
// Open addressing with linear probing over a power-of-two slot array at most
// half full, and backward-shift deletion (no tombstones), so a lookup for a
// missing key stops at the first empty slot however many keys came and went:
// a flood of random targets cannot degrade it. Entry numbers come from a free
// stack and stay stable while the entry lives.

const EMPTY = -1;

export class AddressTable {
  readonly capacity: number;
  /**
   * Per entry: tag, then the address as four big-endian 32-bit words, all
   * kept signed: int32 values stay small integers in V8, where uint32 values
   * above 2^31 would be boxed as heap numbers on every call that returns one.
   */
  private readonly keys: Int32Array;
  /** Per slot: an entry number or EMPTY. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly free: Int32Array;
  private freeTop: number;
  /** Per entry: its slot, so removal needs no second lookup. */
  private readonly slotOf: Int32Array;
  /** Mixed into every hash so nobody outside can aim targets at one probe run. */
  private readonly seed: number;
  size = 0;

  constructor(capacity: number, seed: number = (Math.random() * 0x100000000) >>> 0) {
    this.capacity = capacity;
    this.seed = seed | 0;
    this.keys = new Int32Array(capacity * 5);
    let slotCount = 16;
    while (slotCount < capacity * 2) slotCount *= 2;
    this.slots = new Int32Array(slotCount).fill(EMPTY);
    this.mask = slotCount - 1;
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeTop = capacity;
    this.slotOf = new Int32Array(capacity).fill(EMPTY);
  }

  /** Entry number for (tag, address at buf[off..off+16)), or -1. */
  find(tag: number, buf: Uint8Array, off: number): number {
    const w0 = word(buf, off);
    const w1 = word(buf, off + 4);
    const w2 = word(buf, off + 8);
    const w3 = word(buf, off + 12);
    let slot = hash(this.seed, tag, w0, w1, w2, w3) & this.mask;
    for (;;) {
      const e = this.slots[slot]!;
      if (e === EMPTY) return -1;
      const k = e * 5;
      if (this.keys[k] === tag && this.keys[k + 1] === w0 && this.keys[k + 2] === w1 &&
        this.keys[k + 3] === w2 && this.keys[k + 4] === w3) return e;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Inserts (tag, address) if absent; returns its entry number, or -1 when the table is full. */
  insert(tag: number, buf: Uint8Array, off: number): number {
    const found = this.find(tag, buf, off);
    if (found !== -1) return found;
    if (this.freeTop === 0) return -1;
    const e = this.free[--this.freeTop]!;
    const k = e * 5;
    this.keys[k] = tag | 0;
    this.keys[k + 1] = word(buf, off);
    this.keys[k + 2] = word(buf, off + 4);
    this.keys[k + 3] = word(buf, off + 8);
    this.keys[k + 4] = word(buf, off + 12);
    let slot = hash(this.seed, this.keys[k]!, this.keys[k + 1]!, this.keys[k + 2]!, this.keys[k + 3]!, this.keys[k + 4]!) & this.mask;
    while (this.slots[slot] !== EMPTY) slot = (slot + 1) & this.mask;
    this.slots[slot] = e;
    this.slotOf[e] = slot;
    this.size++;
    return e;
  }

  /** Removes an entry by number; its number may be handed out again by a later insert. */
  remove(e: number): void {
    let hole = this.slotOf[e]!;
    if (hole === EMPTY) return;
    this.slotOf[e] = EMPTY;
    this.slots[hole] = EMPTY;
    this.free[this.freeTop++] = e;
    this.size--;
    // Backward shift: pull later members of the probe run into the hole when
    // their home slot does not lie cyclically in (hole, current].
    let cur = (hole + 1) & this.mask;
    for (;;) {
      const m = this.slots[cur]!;
      if (m === EMPTY) return;
      const k = m * 5;
      const home = hash(this.seed, this.keys[k]!, this.keys[k + 1]!, this.keys[k + 2]!, this.keys[k + 3]!, this.keys[k + 4]!) & this.mask;
      if (((cur - home) & this.mask) >= ((cur - hole) & this.mask)) {
        this.slots[hole] = m;
        this.slotOf[m] = hole;
        this.slots[cur] = EMPTY;
        hole = cur;
      }
      cur = (cur + 1) & this.mask;
    }
  }

  /** Whether entry `e` is in use. */
  live(e: number): boolean {
    return this.slotOf[e] !== EMPTY;
  }

  tag(e: number): number {
    return this.keys[e * 5]!;
  }

  /** Writes entry e's address into out[outOff..outOff+16). */
  copyAddress(e: number, out: Uint8Array, outOff: number): void {
    const k = e * 5;
    for (let i = 0; i < 4; i++) {
      const w = this.keys[k + 1 + i]!;
      out[outOff + 4 * i] = w >>> 24;
      out[outOff + 4 * i + 1] = w >>> 16;
      out[outOff + 4 * i + 2] = w >>> 8;
      out[outOff + 4 * i + 3] = w;
    }
  }

  /** Whether entry e's address equals the 16 bytes at buf[off]. */
  addressEquals(e: number, buf: Uint8Array, off: number): boolean {
    const k = e * 5;
    return this.keys[k + 1] === word(buf, off) && this.keys[k + 2] === word(buf, off + 4) &&
      this.keys[k + 3] === word(buf, off + 8) && this.keys[k + 4] === word(buf, off + 12);
  }
}

/** The seeded hash of (tag, address at buf[off..off+16)) the table uses, for other fixed-size hashed sets. */
export function hashAddress(seed: number, tag: number, buf: Uint8Array, off: number): number {
  return hash(seed, tag, word(buf, off), word(buf, off + 4), word(buf, off + 8), word(buf, off + 12));
}

/** The big-endian 32-bit word at buf[off], signed (see AddressTable.keys). */
export function word(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

// Murmur3-style mixing: targets in one /64 differ only in the low words, and
// an attacker picks them, so every word must reach every bit of the slot.
function hash(seed: number, tag: number, w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(tag ^ seed ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ w0, 0xcc9e2d51); h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ w1, 0x1b873593); h = (h << 13) | (h >>> 19);
  h = Math.imul(h ^ w2, 0xcc9e2d51); h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ w3, 0x1b873593);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
