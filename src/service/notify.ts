// systemd's readiness protocol (sd_notify) for a Type=notify unit: READY=1
// once the data path is up, WATCHDOG=1 from the event loop, STOPPING=1 on
// the way out. Outside systemd ($NOTIFY_SOCKET unset: a container, a shell)
// every call is a no-op.
//
// The protocol is one datagram on a unix socket, which Node cannot send (its
// dgram module has no AF_UNIX). Rather than grow the packet-I/O addon for a
// once-a-start message, the messages go through systemd's own
// `systemd-notify`, which is there wherever the unit runs. Two consequences,
// both handled: the sender is a child process, so the unit sets
// NotifyAccess=all; and a message from a process that has already exited
// cannot be attributed to the unit, which systemd-notify avoids by waiting on
// a BARRIER=1 round trip (systemd >= 246) before it exits. A watchdog ping
// costs one short-lived process per half period (15 s with WatchdogSec=30s).
import { execFile } from 'node:child_process';

export interface NotifyOptions {
  /** Environment to read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The notify program; default `systemd-notify` from PATH. */
  command?: string;
  /** Gives up on one message after this long (ms); default 5000. */
  timeoutMs?: number;
  /** Called when a message could not be delivered (the daemon goes on; systemd may time it out). */
  onError?: (err: Error) => void;
}

/** The watchdog period systemd asked this process for (ms), or undefined when there is none. */
export function watchdogPeriodMs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process the watchdog is meant for; a child that
  // inherited the variables must not ping on the parent's behalf.
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return usec / 1000;
}

export class SystemdNotifier {
  /** True when started by systemd with a notify socket. */
  readonly enabled: boolean;
  readonly #env: NodeJS.ProcessEnv;
  readonly #command: string;
  readonly #timeoutMs: number;
  readonly #onError: ((err: Error) => void) | undefined;
  #pinging = false;

  constructor(options: NotifyOptions = {}) {
    this.#env = options.env ?? process.env;
    this.#command = options.command ?? 'systemd-notify';
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#onError = options.onError;
    this.enabled = typeof this.#env.NOTIFY_SOCKET === 'string' && this.#env.NOTIFY_SOCKET !== '';
  }

  /** READY=1 (and MAINPID, so a wrapper in ExecStart= would not confuse systemd). */
  ready(status?: string): Promise<void> {
    return this.send(['READY=1', `MAINPID=${process.pid}`, ...statusField(status)]);
  }

  /** STOPPING=1: systemd shows "deactivating" and stops expecting watchdog pings. */
  stopping(status?: string): Promise<void> {
    return this.send(['STOPPING=1', ...statusField(status)]);
  }

  /** A free-form line shown by `systemctl status`. */
  status(text: string): Promise<void> {
    return this.send(statusField(text));
  }

  watchdog(): Promise<void> {
    return this.send(['WATCHDOG=1']);
  }

  /**
   * Pings the watchdog at half the period systemd asked for, from a timer on
   * the event loop (so a stuck loop gets the unit restarted). Returns the
   * function that stops it; a no-op when there is no watchdog.
   */
  startWatchdog(): () => void {
    const period = watchdogPeriodMs(this.#env);
    if (!this.enabled || period === undefined) return () => {};
    const timer = setInterval(() => {
      // One ping in flight at a time: a slow systemd must not pile up processes.
      if (this.#pinging) return;
      this.#pinging = true;
      void this.watchdog().finally(() => { this.#pinging = false; });
    }, Math.max(1, Math.floor(period / 2)));
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Sends raw assignments (`KEY=value`); resolves once systemd has taken them, or on failure (reported to onError). */
  send(assignments: readonly string[]): Promise<void> {
    if (!this.enabled || assignments.length === 0) return Promise.resolve();
    const env = { ...process.env, NOTIFY_SOCKET: this.#env.NOTIFY_SOCKET };
    return new Promise((resolve) => {
      execFile(this.#command, [...assignments], { env, timeout: this.#timeoutMs }, (err, _stdout, stderr) => {
        if (err !== null) {
          const detail = stderr.trim();
          this.#onError?.(new Error(`${this.#command} ${assignments.join(' ')}: ${detail === '' ? err.message : detail}`, { cause: err }));
        }
        resolve();
      });
    });
  }
}

/** STATUS= takes the rest of the line; a newline would start a new assignment. */
function statusField(text: string | undefined): string[] {
  return text === undefined ? [] : [`STATUS=${text.replace(/\n/g, ' ')}`];
}
