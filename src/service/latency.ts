// The last N event-to-ready latencies, in a preallocated ring: the service
// records one per Docker event, the metrics endpoint and tests read
// quantiles from it (sorting a copy, on demand only).

export class LatencyRing {
  readonly #values: Float64Array;
  #next = 0;
  #count = 0;
  /** Every sample ever added (the ring keeps the last `capacity`). */
  total = 0;

  constructor(capacity: number) {
    this.#values = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.#values[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#values.length;
    if (this.#count < this.#values.length) this.#count++;
    this.total++;
  }

  get count(): number {
    return this.#count;
  }

  /** Quantile q (0..1) of the samples held, nearest rank; NaN when empty. */
  quantile(q: number): number {
    if (this.#count === 0) return Number.NaN;
    const sorted = this.#values.slice(0, this.#count).sort();
    return sorted[Math.min(this.#count - 1, Math.max(0, Math.ceil(q * this.#count) - 1))]!;
  }

  clear(): void {
    this.#next = 0;
    this.#count = 0;
  }
}
