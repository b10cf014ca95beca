// What every descriptor the addon opens has in common: one fd, owned here and
// closed exactly once; at most one readiness watch (uv_poll on the calling
// thread's loop, one callback per wake-up); counters the addon writes in bulk.
import { addon } from './addon.js';
import { closedError } from './errno.js';
import { Readiness, READABLE } from './poll.js';
import { Counter, newCounters } from './ring.js';

export abstract class FdHandle {
  /** Indexed by Counter.*. */
  readonly counters = newCounters();
  #fd: number;
  #poll: Readiness | undefined;

  /** `subject` names the handle in errors ("sixgate0", "packet socket on eth0"). */
  protected constructor(fd: number, protected readonly subject: string) {
    this.#fd = fd;
  }

  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** The fd, for `op`; a closed handle throws (EBADF) before any syscall. */
  protected live(op: string): number {
    if (this.#fd < 0) throw closedError(op, this.subject);
    return this.#fd;
  }

  /**
   * Calls `callback` once per wake-up while input is waiting (drain it with
   * the handle's read/recv). `events` < 0 is an errno: the descriptor failed
   * (e.g. a TUN was deleted) and the next read throws. Replaces an earlier callback.
   */
  onReadable(callback: (events: number) => void): void {
    const fd = this.live('poll');
    this.#poll?.stop();
    const counters = this.counters;
    this.#poll = new Readiness(fd, READABLE, (events) => {
      counters[Counter.Wakeups] += 1;
      callback(events);
    }, this.subject);
  }

  /** Stops readiness callbacks (reading by hand still works). */
  pause(): void {
    this.#poll?.stop();
    this.#poll = undefined;
  }

  /** Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.pause();
    const fd = this.#fd;
    this.#fd = -1;
    addon().close(fd);
  }
}
