// Garbage-collection accounting for the allocation checks of the benches.
// The per-packet path must allocate nothing, so a steady-state loop over
// millions of packets should trigger no scavenge (young-generation GC) at all:
// a single allocated object per packet would fill the ~16 MiB nursery and
// force one within a few hundred thousand packets.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface GcCounts {
  /** Scavenges: young-generation collections, the ones per-packet garbage causes. */
  minor: number;
  /** Mark-sweep-compact: full collections. */
  major: number;
  incremental: number;
  weakCallbacks: number;
  /** Time spent in all of them, ms. */
  pauseMs: number;
}

/**
 * Counts GCs between start() and stop(). GC entries are delivered to the
 * observer asynchronously, so stop() waits a turn of the event loop: call it
 * after the measured synchronous loop has returned.
 */
export class GcCounter {
  private counts: GcCounts = emptyCounts();
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) this.counts.minor++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) this.counts.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_INCREMENTAL) this.counts.incremental++;
      else if (kind === constants.NODE_PERFORMANCE_GC_WEAKCB) this.counts.weakCallbacks++;
      this.counts.pauseMs += entry.duration;
    }
  });

  start(): void {
    this.counts = emptyCounts();
    this.observer.observe({ entryTypes: ['gc'] });
  }

  async stop(): Promise<GcCounts> {
    // Two macrotask turns: one for the GC callbacks, one for the observer's batched delivery.
    await new Promise(resolve => setImmediate(resolve));
    await new Promise(resolve => setImmediate(resolve));
    this.observer.disconnect();
    return this.counts;
  }
}

function emptyCounts(): GcCounts {
  return { minor: 0, major: 0, incremental: 0, weakCallbacks: 0, pauseMs: 0 };
}

// `npm run bench` starts node without --expose-gc; the flag can still be set
// at run time, and a fresh context then sees the `gc` function.
setFlagsFromString('--expose-gc');
const forceGc = runInNewContext('gc') as () => void;

/**
 * A full collection, so a measured loop starts with an empty young
 * generation: garbage left by loading and by tinybench would otherwise
 * trigger a scavenge inside the loop that the loop did not cause.
 */
export function collectGarbage(): void {
  forceGc();
}
