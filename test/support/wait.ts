// Polling with a deadline, for tests that wait on the kernel.
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves when `pred()` is (or resolves to) true; rejects with `what` after `timeoutMs`. */
export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string, stepMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}
