// Token buckets in typed arrays, one per index (an uplink, a rule). A bucket
// holds at most `burst` tokens and refills at `rate` per second from the
// `now` the caller passes (milliseconds); taking a token is a few float
// operations and allocates nothing.
//
// They bound the work an outsider can cause: an NS flood for random targets
// in a /64 may create at most `rate` sessions (and inner probes) a second,
// while answers for exact addresses never touch a bucket.
import { hashAddress, word } from './address-table.js';

export interface BucketSpec {
  /** Tokens per second; 0 disables the bucket (every take succeeds). */
  readonly rate: number;
  /** Largest number of tokens held, i.e. the size of a burst allowed after quiet. */
  readonly burst: number;
}

export class TokenBuckets {
  private readonly perMs: Float64Array;
  private readonly burst: Float64Array;
  private readonly tokens: Float64Array;
  private readonly last: Float64Array;

  constructor(readonly count: number) {
    this.perMs = new Float64Array(count);
    this.burst = new Float64Array(count);
    this.tokens = new Float64Array(count);
    this.last = new Float64Array(count).fill(Number.NEGATIVE_INFINITY);
  }

  /** (Re)configures bucket i and fills it. */
  set(i: number, spec: BucketSpec): void {
    this.perMs[i] = spec.rate / 1000;
    this.burst[i] = Math.max(1, spec.burst);
    this.tokens[i] = this.burst[i]!;
    this.last[i] = Number.NEGATIVE_INFINITY;
  }

  /** Takes one token from bucket i at time `now` (ms); false when it is empty. */
  take(i: number, now: number): boolean {
    const perMs = this.perMs[i]!;
    if (perMs === 0) return true;
    const last = this.last[i]!;
    let tokens = this.tokens[i]!;
    if (now > last) {
      tokens = last === Number.NEGATIVE_INFINITY ? this.burst[i]! : Math.min(this.burst[i]!, tokens + (now - last) * perMs);
      this.last[i] = now;
    }
    if (tokens < 1) {
      this.tokens[i] = tokens;
      return false;
    }
    this.tokens[i] = tokens - 1;
    return true;
  }

  /** Tokens left in bucket i as of its last take (for tests and state dumps). */
  available(i: number): number {
    return this.tokens[i]!;
  }
}

/**
 * Remembered targets, each with its own token bucket: the targets a prefix
 * rule answered lately, so a flood of random targets inside the prefix,
 * which the rule's bucket throttles, cannot starve the members in use. Also
 * serves, with rate 0, as the memory of verified targets and solicitors that
 * iface/auto rules prefer under pressure.
 *
 * A fixed-size set-associative table in typed arrays: a (tag, address) key
 * hashes, with a secret seed, to one set of WAYS entries. A new key takes a
 * free or forgotten way (not seen for `memoryMs`), else the least recently
 * seen way whose key was seen only once. A key seen twice or more is "proven"
 * and only forgotten by time: a flood, whose targets come once each, can
 * only ever replace its own entries.
 */
export class TargetBuckets {
  static readonly WAYS = 4;
  /** Times each entry's key was seen (saturating at 255); 0 marks a free entry. */
  readonly hits: Uint8Array;
  private readonly keys: Int32Array;
  private readonly seen: Float64Array;
  private readonly buckets: TokenBuckets;
  private readonly setMask: number;
  private readonly seed: number;

  /** `entries` is rounded up to a power of two (at least WAYS). */
  constructor(
    entries: number,
    private readonly spec: BucketSpec,
    private readonly memoryMs: number,
    seed: number = (Math.random() * 0x100000000) >>> 0,
  ) {
    let n = TargetBuckets.WAYS;
    while (n < entries) n *= 2;
    this.hits = new Uint8Array(n);
    this.keys = new Int32Array(n * 5);
    this.seen = new Float64Array(n);
    this.buckets = new TokenBuckets(n);
    this.setMask = n / TargetBuckets.WAYS - 1;
    this.seed = seed | 0;
  }

  /** Entry of (tag, address at buf[off]) if remembered at `now`, else -1. */
  find(tag: number, buf: Uint8Array, off: number, now: number): number {
    const first = (hashAddress(this.seed, tag, buf, off) & this.setMask) * TargetBuckets.WAYS;
    for (let e = first; e < first + TargetBuckets.WAYS; e++) {
      if (this.hits[e] !== 0 && this.matches(e, tag, buf, off)) return now - this.seen[e]! > this.memoryMs ? -1 : e;
    }
    return -1;
  }

  /**
   * Remembers (tag, address) as seen once at `now`, with a full bucket; a
   * key already present is only touched. Returns the entry, or -1 when every
   * way of its set holds a proven key.
   */
  claim(tag: number, buf: Uint8Array, off: number, now: number): number {
    const first = (hashAddress(this.seed, tag, buf, off) & this.setMask) * TargetBuckets.WAYS;
    let victim = -1;
    for (let e = first; e < first + TargetBuckets.WAYS; e++) {
      const hits = this.hits[e]!;
      if (hits !== 0 && this.matches(e, tag, buf, off)) {
        if (now - this.seen[e]! > this.memoryMs) this.hits[e] = 0;
        this.touch(e, now);
        return e;
      }
      if (hits === 0 || now - this.seen[e]! > this.memoryMs) {
        if (victim < 0 || this.hits[victim] !== 0) victim = e;
      } else if (hits === 1 && (victim < 0 || (this.hits[victim] === 1 && this.seen[e]! < this.seen[victim]!))) {
        victim = e;
      }
    }
    if (victim < 0) return -1;
    const k = victim * 5;
    this.keys[k] = tag | 0;
    this.keys[k + 1] = word(buf, off);
    this.keys[k + 2] = word(buf, off + 4);
    this.keys[k + 3] = word(buf, off + 8);
    this.keys[k + 4] = word(buf, off + 12);
    this.hits[victim] = 1;
    this.seen[victim] = now;
    this.buckets.set(victim, this.spec);
    return victim;
  }

  /** One more sighting of entry e at `now`. */
  touch(e: number, now: number): void {
    if (this.hits[e]! < 255) this.hits[e]++;
    this.seen[e] = now;
  }

  /** Takes one token from entry e's bucket at `now`; false when it is empty. */
  take(e: number, now: number): boolean {
    return this.buckets.take(e, now);
  }

  private matches(e: number, tag: number, buf: Uint8Array, off: number): boolean {
    const k = e * 5;
    return this.keys[k] === (tag | 0) && this.keys[k + 1] === word(buf, off) && this.keys[k + 2] === word(buf, off + 4) &&
      this.keys[k + 3] === word(buf, off + 8) && this.keys[k + 4] === word(buf, off + 12);
  }
}
