// Fragments through a NAPT (RFC 4787 REQ-13/14, RFC 6146 §3.4 "FRAGMENT_MIN").
//
// Only the first fragment carries the ports, so only it can find a session;
// the L4 checksum it carries covers the whole datagram, so updating it there
// covers the address and port rewrite for all fragments. Later fragments just
// need the same IPv6 addresses: the translator remembers, per direction,
// (source, destination, identification) as received → the addresses the first
// fragment left with, for `fragment` ms. A non-first fragment that arrives
// before its first fragment is copied into a small preallocated hold buffer;
// when the first fragment comes it is rewritten there and listed as
// released; the caller copies it out (copyReleased) after the translate call
// returns and before the next one recycles its slot.
//
// Everything is preallocated; a full table replaces the entry closest to
// expiry, a full hold buffer drops (counted by the translator).
//
// Fragment identifications are passed as int32 (`id | 0`): half of them are
// above 2^31, and such a uint32 crossing a call would be a boxed double. For
// the same reason the time is not an argument: `now` is a fractional count of
// milliseconds (the data path's CLOCK_MONOTONIC stamp), never a small integer,
// so the engine writes it to a shared one-slot Float64Array (`clock`) and the
// tracker reads it there.

import { F as IP } from '../wire/ipv6.js';
import { readAddressWords, writeAddressWords } from '../wire/checksum.js';

const FLOW_WORDS = 20;
/** Flow entry words: 0..7 source and destination as received, 8 id, 9 direction | flags, 10..17 addresses after translation. */
const W_ID = 8;
const W_DIR = 9;
const W_NEW = 10;
const PROBES = 8;

/** Set in a flow's direction word when the first fragment was hairpinned. */
export const FRAG_HAIRPIN = 0x10;

export class FragmentTracker {
  readonly flows: number;
  private readonly flow: Uint32Array;
  private readonly flowExpiry: Float64Array;

  /** Held fragments live in `hold`, slot i at i * holdBytes. */
  readonly holdSlots: number;
  readonly holdBytes: number;
  private readonly hold: Uint8Array;
  private readonly holdLength: Int32Array;
  private readonly holdDir: Uint8Array;
  private readonly holdId: Int32Array;
  private readonly holdExpiry: Float64Array;
  /** 0 free, 1 waiting for its first fragment, 2 released (translated, for the caller). */
  private readonly holdState: Uint8Array;
  /** Slots released by the last translate call, in arrival order (copyReleased reads them). */
  private readonly released: Int32Array;
  releasedCount = 0;
  heldCount = 0;

  private readonly clock: Float64Array;
  private readonly lifetimeMs: number;

  /** `clock[0]` is the current time in ms (written by the engine); entries live `lifetimeMs`. */
  constructor(flows: number, holdSlots: number, holdBytes: number, clock: Float64Array, lifetimeMs: number) {
    this.clock = clock;
    this.lifetimeMs = lifetimeMs;
    let size = 8;
    while (size < flows) size *= 2;
    this.flows = size;
    this.flow = new Uint32Array(size * FLOW_WORDS);
    this.flowExpiry = new Float64Array(size);
    this.holdSlots = holdSlots;
    this.holdBytes = holdBytes;
    this.hold = new Uint8Array(holdSlots * holdBytes);
    this.holdLength = new Int32Array(holdSlots);
    this.holdDir = new Uint8Array(holdSlots);
    this.holdId = new Int32Array(holdSlots);
    this.holdExpiry = new Float64Array(holdSlots);
    this.holdState = new Uint8Array(holdSlots);
    this.released = new Int32Array(holdSlots);
  }

  private home(dir: number, orig: Uint32Array, id: number): number {
    let h = (0x811c9dc5 ^ dir) | 0;
    for (let i = 0; i < 8; i++) h = Math.imul(h ^ orig[i], 0x01000193);
    h = Math.imul(h ^ id, 0x01000193);
    return (h ^ (h >>> 15)) & (this.flows - 1);
  }

  private matches(slot: number, dir: number, orig: Uint32Array, id: number): boolean {
    const f = this.flow;
    const b = slot * FLOW_WORDS;
    if ((f[b + W_ID] | 0) !== id || (f[b + W_DIR] & 0xf) !== dir) return false;
    for (let i = 0; i < 8; i++) if (f[b + i] !== orig[i]) return false;
    return true;
  }

  /**
   * Remember a translated first fragment: `orig` holds its source and
   * destination words as received; the translated addresses are read from
   * the packet at ipOff. `flags` may carry FRAG_HAIRPIN.
   */
  remember(dir: number, orig: Uint32Array, id: number, buf: Uint8Array, ipOff: number, flags: number): void {
    const nowMs = this.clock[0];
    const f = this.flow;
    const start = this.home(dir, orig, id);
    let slot = -1;
    let oldest = -1;
    for (let p = 0; p < PROBES; p++) {
      const s = (start + p) & (this.flows - 1);
      if (this.flowExpiry[s] <= nowMs || this.matches(s, dir, orig, id)) { slot = s; break; }
      if (oldest < 0 || this.flowExpiry[s] < this.flowExpiry[oldest]) oldest = s;
    }
    if (slot < 0) slot = oldest;
    const b = slot * FLOW_WORDS;
    for (let i = 0; i < 8; i++) f[b + i] = orig[i];
    f[b + W_ID] = id;
    f[b + W_DIR] = dir | flags;
    readAddressWords(buf, ipOff + IP.SRC, f, b + W_NEW);
    readAddressWords(buf, ipOff + IP.DST, f, b + W_NEW + 4);
    this.flowExpiry[slot] = nowMs + this.lifetimeMs;
  }

  /**
   * Rewrite a later fragment's addresses from its remembered first fragment.
   * Returns -1 when unknown, else the flow's flags (FRAG_HAIRPIN or 0).
   */
  follow(buf: Uint8Array, ipOff: number, dir: number, orig: Uint32Array, id: number): number {
    const nowMs = this.clock[0];
    const start = this.home(dir, orig, id);
    for (let p = 0; p < PROBES; p++) {
      const s = (start + p) & (this.flows - 1);
      if (this.flowExpiry[s] > nowMs && this.matches(s, dir, orig, id)) {
        this.writeAddresses(buf, ipOff, s);
        return this.flow[s * FLOW_WORDS + W_DIR] & FRAG_HAIRPIN;
      }
    }
    return -1;
  }

  private writeAddresses(buf: Uint8Array, ipOff: number, slot: number): void {
    const f = this.flow;
    const b = slot * FLOW_WORDS + W_NEW;
    writeAddressWords(buf, ipOff + IP.SRC, f, b);
    writeAddressWords(buf, ipOff + IP.DST, f, b + 4);
  }

  /** Copy a fragment that came before its first fragment; false when it does not fit or no slot is free. */
  holdFragment(buf: Uint8Array, ipOff: number, len: number, dir: number, id: number): boolean {
    if (len > this.holdBytes) return false;
    for (let s = 0; s < this.holdSlots; s++) {
      if (this.holdState[s] !== 0) continue;
      const hold = this.hold;
      const base = s * this.holdBytes;
      for (let i = 0; i < len; i++) hold[base + i] = buf[ipOff + i];
      this.holdLength[s] = len;
      this.holdDir[s] = dir;
      this.holdId[s] = id;
      this.holdExpiry[s] = this.clock[0] + this.lifetimeMs;
      this.holdState[s] = 1;
      this.heldCount++;
      return true;
    }
    return false;
  }

  /**
   * After a first fragment was remembered: translate and release every held
   * fragment of the same datagram. Returns how many were released.
   */
  releaseMatching(dir: number, orig: Uint32Array, id: number): number {
    if (this.heldCount === 0) return 0;
    let n = 0;
    const hold = this.hold;
    for (let s = 0; s < this.holdSlots; s++) {
      if (this.holdState[s] !== 1 || this.holdDir[s] !== dir || this.holdId[s] !== id) continue;
      // Source then destination as received, eight words from IP.SRC.
      const at = s * this.holdBytes + IP.SRC;
      let same = true;
      for (let i = 0; i < 8 && same; i++) {
        const p = at + 4 * i;
        same = (((hold[p] << 24) | (hold[p + 1] << 16) | (hold[p + 2] << 8) | hold[p + 3]) >>> 0) === orig[i];
      }
      if (!same) continue;
      if (this.follow(hold, s * this.holdBytes, dir, orig, id) < 0) continue;
      this.holdState[s] = 2;
      this.heldCount--;
      this.released[this.releasedCount++] = s;
      n++;
    }
    return n;
  }

  /**
   * Copy the k-th fragment released by the last translate call (k <
   * releasedCount; arrival order) to out[at..); returns its length, or -1
   * when it is longer than `room` (nothing copied).
   */
  copyReleased(k: number, out: Uint8Array, at: number, room: number): number {
    const slot = this.released[k];
    const len = this.holdLength[slot];
    if (len > room) return -1;
    const hold = this.hold;
    const from = slot * this.holdBytes;
    // A byte loop, not set(subarray()): no view object per fragment.
    for (let b = 0; b < len; b++) out[at + b] = hold[from + b];
    return len;
  }

  /** Free the slots released by the previous call (the caller has sent them by now). */
  recycleReleased(): void {
    for (let i = 0; i < this.releasedCount; i++) this.holdState[this.released[i]] = 0;
    this.releasedCount = 0;
  }

  /** Drop held fragments whose first fragment never came; returns how many. */
  expire(): number {
    const nowMs = this.clock[0];
    let n = 0;
    for (let s = 0; s < this.holdSlots; s++) {
      if (this.holdState[s] === 1 && this.holdExpiry[s] <= nowMs) {
        this.holdState[s] = 0;
        this.heldCount--;
        n++;
      }
    }
    return n;
  }
}
