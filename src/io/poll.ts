// Readiness from a uv_poll on the calling thread's own event loop: works in
// the main thread and in worker_threads alike. The callback runs once per
// wake-up; it should drain the fd with batch calls (level-triggered, so
// whatever it leaves behind wakes it again on the next loop turn).
import { addon } from './addon.js';
import { check } from './errno.js';

export const READABLE = 1;
export const WRITABLE = 2;

export class Readiness {
  #handle: object | undefined;

  /** `callback(events)` gets READABLE|WRITABLE bits, or a negative errno if the fd failed. */
  constructor(fd: number, events: number, callback: (events: number) => void, subject: string) {
    const handle = addon().pollStart(fd, events, callback);
    if (typeof handle === 'number') check(handle, 'uv_poll_start', subject);
    this.#handle = handle as object;
  }

  get active(): boolean {
    return this.#handle !== undefined;
  }

  /** Change the events watched (e.g. add WRITABLE while a send backlog exists). */
  update(events: number): void {
    if (this.#handle !== undefined) addon().pollUpdate(this.#handle, events);
  }

  /** Idempotent. Must run before the fd is closed (the handles here do it in close()). */
  stop(): void {
    if (this.#handle === undefined) return;
    addon().pollStop(this.#handle);
    this.#handle = undefined;
  }
}
