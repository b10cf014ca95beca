// Counting garbage collections around a stretch of code: the allocation
// tests' proof that a per-packet path allocates nothing (a heap number or
// object per packet forces scavenges long before a million packets end).
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Collects garbage, then counts minor and major GCs until stop() (which lets pending GC entries arrive first). */
export function countGcs(): { stop(): Promise<number> } {
  let n = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR || kind === constants.NODE_PERFORMANCE_GC_MAJOR) n++;
    }
  });
  collect();
  observer.observe({ entryTypes: ['gc'] });
  return {
    async stop() {
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      observer.disconnect();
      return n;
    },
  };
}
