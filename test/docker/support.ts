// Shared helpers for the docker tests: a logger whose lines the test can
// read, and a recorder of feed batches with arrival times.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';
import type { DeltaBatch, DockerFeed } from '../../src/docker/index.js';
import { waitFor } from '../support/wait.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export function captureLog(): { log: Logger; lines: LogLine[]; has(re: RegExp): boolean } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as LogLine);
      cb();
    },
  });
  const log = createLogger({ level: 'debug', destination });
  return { log, lines, has: (re) => lines.some((l) => re.test(l.msg)) };
}

/** Wall-clock nanoseconds, comparable with the engine's event timeNano (same host clock). */
export function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

export interface Received {
  batch: DeltaBatch;
  atNs: bigint;
}

/** Records every batch a feed emits, with its arrival time. */
export class Recorder {
  readonly received: Received[] = [];
  readonly #off: () => void;

  constructor(feed: DockerFeed) {
    this.#off = feed.onChange((batch) => this.received.push({ batch, atNs: nowNs() }));
  }

  /** Waits for a batch (arriving after index `from`) holding a delta that satisfies `pred`. */
  async waitDelta(pred: (d: DeltaBatch['deltas'][number]) => boolean, what: string, from = 0, timeoutMs = 10_000): Promise<Received> {
    let hit: Received | undefined;
    await waitFor(() => {
      hit = this.received.slice(from).find((r) => r.batch.deltas.some(pred));
      return hit !== undefined;
    }, timeoutMs, what, 1);
    return hit!;
  }

  get length(): number {
    return this.received.length;
  }

  close(): void {
    this.#off();
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
