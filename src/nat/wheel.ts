// The connection table's timing wheel: WHEEL_SIZE slots of one tick (1 s)
// each, every slot a circular doubly linked list through the wNext/wPrev
// columns of the table's buffer. Ids capacity+1 .. capacity+WHEEL_SIZE are
// the slots' sentinels, so unlinking a session never needs to know its slot.
//
// A session is linked at the slot of its expiry. Refreshing it only raises
// its EXPIRY word (no relinking per packet); when the wheel reaches the slot
// it still sits in, a session whose expiry moved on is relinked to the right
// slot. Lowering an expiry (TCP RST, FIN) relinks at once. Expiries more
// than one revolution away simply stay put until their own turn comes round.

// A cycle with table.ts, harmless: these constants are only read inside methods.
import { REC_WORDS, R } from './table.js';

export const WHEEL_SIZE = 4096;

/** What the wheel needs from its table. */
export interface WheelOwner {
  readonly rec: Uint32Array;
  remove(id: number): void;
}

export class TimingWheel {
  private readonly next: Uint32Array;
  private readonly prev: Uint32Array;
  /** Id of slot 0's sentinel (capacity + 1). */
  private readonly base: number;
  private readonly owner: WheelOwner;

  constructor(next: Uint32Array, prev: Uint32Array, capacity: number, owner: WheelOwner) {
    this.next = next;
    this.prev = prev;
    this.base = capacity + 1;
    this.owner = owner;
  }

  /** Empty every slot. */
  reset(): void {
    for (let s = 0; s < WHEEL_SIZE; s++) {
      this.next[this.base + s] = this.base + s;
      this.prev[this.base + s] = this.base + s;
    }
  }

  link(id: number, expiry: number): void {
    const head = this.base + (expiry & (WHEEL_SIZE - 1));
    const next = this.next[head];
    this.next[id] = next;
    this.prev[id] = head;
    this.prev[next] = id;
    this.next[head] = id;
  }

  unlink(id: number): void {
    const next = this.next[id];
    const prev = this.prev[id];
    this.next[prev] = next;
    this.prev[next] = prev;
  }

  /** Set a session's expiry tick: lazily when later, relinking when earlier. */
  setExpiry(id: number, expiry: number): void {
    const rec = this.owner.rec;
    const at = id * REC_WORDS + R.EXPIRY;
    if (expiry >= rec[at]) {
      rec[at] = expiry;
      return;
    }
    rec[at] = expiry;
    this.unlink(id);
    this.link(id, expiry);
  }

  /**
   * Visit the slots of ticks last+1 .. tick (at most one revolution) and
   * remove the sessions due by `tick`; returns how many were removed.
   */
  advance(last: number, tick: number): number {
    const steps = Math.min(tick - last, WHEEL_SIZE);
    const rec = this.owner.rec;
    let removed = 0;
    for (let t = last + 1; t < last + 1 + steps; t++) {
      const head = this.base + (t & (WHEEL_SIZE - 1));
      let id = this.next[head];
      while (id !== head) {
        const next = this.next[id];
        const expiry = rec[id * REC_WORDS + R.EXPIRY];
        if (expiry <= tick) {
          this.owner.remove(id);
          removed++;
        } else if (((expiry ^ t) & (WHEEL_SIZE - 1)) !== 0) {
          this.unlink(id);
          this.link(id, expiry);
        }
        id = next;
      }
    }
    return removed;
  }

  /**
   * Under pressure: the first session `accept` takes among the ones due
   * soonest, looking at up to `budget` sessions; 0 when none.
   */
  findVictim(tick: number, budget: number, accept: (id: number) => boolean): number {
    for (let s = 0; s < WHEEL_SIZE && budget > 0; s++) {
      const head = this.base + ((tick + s) & (WHEEL_SIZE - 1));
      for (let id = this.next[head]; id !== head && budget > 0; id = this.next[id], budget--) {
        if (accept(id)) return id;
      }
    }
    return 0;
  }
}
