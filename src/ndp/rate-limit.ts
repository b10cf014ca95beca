// Token buckets in typed arrays, one per index (an uplink, a rule). A bucket
// holds at most `burst` tokens and refills at `rate` per second from the
// `now` the caller passes (milliseconds); taking a token is a few float
// operations and allocates nothing.
//
// They bound the work an outsider can cause: an NS flood for random targets
// in a /64 may create at most `rate` sessions (and inner probes) a second,
// while answers for exact addresses never touch a bucket.

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
