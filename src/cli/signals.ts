// Signal routing for the whole `sixgate` process. src/cli/main.ts imports this
// module before anything else, so its handlers are in place before the rest of
// the program is even loaded, and they stay until the process exits. Without
// a handler, SIGUSR1 makes Node open its inspector on 127.0.0.1:9229 (code
// execution as the daemon's user for anyone who can reach that port), and
// SIGHUP, SIGINT, SIGTERM and SIGQUIT kill the process wherever it is: half-way
// through start-up, or in shutdown before the NAT table is saved and the NDP
// routes are removed.
//
// The daemons (`run`, `nat`, `ndp`) go through three phases:
//   starting  a stop signal is remembered and the daemon stops as soon as its
//             start-up ends; so is SIGHUP (it reloads then: the file may have
//             changed after it was read); SIGUSR1 is ignored with a log line
//   running   SIGHUP reloads, SIGUSR1 logs the counters, a stop signal stops
//   stopping  every signal is ignored with a log line (SIGKILL still works)
// Before a command runs (the program is loading) signals are handled as in
// start-up. The other commands get Node's default for SIGHUP and the stop
// signals back (releaseSignals); SIGUSR1 stays ignored everywhere. A daemon
// exits as soon as its stop is done (exitIfRouted), with the handlers still
// in place.
//
// The gap this module cannot close: a signal that arrives before it runs
// (Node's own start-up and the loading of main.js and this file, some tens of
// milliseconds) meets Node's defaults. A stop signal or SIGHUP ends the
// process then, harmlessly: nothing has been started. A SIGUSR1 opens the
// inspector; it is closed at once when this module runs (and looked for again
// for a while, since Node opens it from another thread), but a local user
// quick enough could connect in between. Node >= 22.14 closes the gap with
// --disable-sigusr1.
import inspector from 'node:inspector';
import type { Logger } from '../log.js';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT'] as const;
// SIGQUIT last: Node itself catches neither SIGHUP nor SIGQUIT, so once
// /proc/<pid>/status shows SIGQUIT caught, all five are routed (tests wait on it).
const ROUTED_SIGNALS = ['SIGUSR1', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGQUIT'] as const;
type RoutedSignal = (typeof ROUTED_SIGNALS)[number];

/** What a running daemon does on each signal. */
export interface DaemonRoutes {
  /** SIGHUP. */
  reload(): void;
  /** SIGUSR1. */
  counters(): void;
  /** SIGINT, SIGTERM or SIGQUIT; resolves to the exit code. */
  stop(signal: NodeJS.Signals): Promise<number>;
}

type Phase = 'loading' | 'starting' | 'running' | 'stopping' | 'released';

let phase: Phase = 'loading';
let log: Logger | undefined;
/** Lines to log once a daemon hands over its logger (nothing can log before). */
const notes: string[] = [];
/** The first stop signal that arrived before the daemon was running. */
let pendingStop: NodeJS.Signals | undefined;
/** A SIGHUP arrived before the daemon was running. */
let pendingReload = false;
let routes: DaemonRoutes | undefined;
let stopped: ((code: number) => void) | undefined;

function note(message: string): void {
  if (log !== undefined) log.warn(message);
  else if (phase === 'released') process.stderr.write(`sixgate: ${message}\n`);
  else notes.push(message);
}

/** Notes no daemon logger will take: to stderr. */
function flushNotes(): void {
  for (const message of notes.splice(0)) process.stderr.write(`sixgate: ${message}\n`);
}

// An inspector opened by a flag (--inspect, or in NODE_OPTIONS) is the
// operator's choice and stays; one opened by a signal is closed.
const inspectorByFlag = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  .some((arg) => /^--inspect(-brk|-wait)?(=|$)/.test(arg));

function closeInspectorOpenedBySignal(): void {
  if (inspectorByFlag || inspector.url() === undefined) return;
  inspector.close();
  note('SIGUSR1 arrived before sixgate could handle it and opened the Node inspector; closed it');
}

function route(signal: RoutedSignal): void {
  const stop = (STOP_SIGNALS as readonly string[]).includes(signal);
  switch (phase) {
    case 'loading':
    case 'starting':
      if (stop) {
        pendingStop ??= signal;
        note(`${signal} during start-up: stopping once start-up is over`);
      } else if (signal === 'SIGHUP') {
        pendingReload = true;
        note('SIGHUP during start-up: reloading once start-up is over');
      } else {
        note(`${signal} during start-up: ignored`);
      }
      return;
    case 'running':
      if (signal === 'SIGHUP') routes!.reload();
      else if (signal === 'SIGUSR1') routes!.counters();
      else beginStop(signal);
      return;
    case 'stopping':
      note(`${signal} during shutdown: ignored (SIGKILL forces an exit, skipping the clean-up)`);
      return;
    case 'released':
      return;
  }
}

function beginStop(signal: NodeJS.Signals): void {
  phase = 'stopping';
  void routes!.stop(signal).catch((err: unknown) => {
    log!.error({ err }, 'shutdown failed');
    return 1;
  }).then(stopped!);
}

for (const signal of ROUTED_SIGNALS) process.on(signal, route);
closeInspectorOpenedBySignal();
// Node opens the inspector from a second thread: a signal just before the
// handler above may open it a little later. Look again over the first minute.
for (const ms of [10, 100, 1_000, 10_000, 60_000]) setTimeout(closeInspectorOpenedBySignal, ms).unref();

/**
 * A daemon begins its start-up: from here signals are logged to `logger`.
 * Returns the stop signal already received, if any: the daemon should not
 * start at all then.
 */
export function daemonStarting(logger: Logger): NodeJS.Signals | undefined {
  phase = 'starting';
  log = logger;
  for (const message of notes.splice(0)) log.warn(message);
  if (pendingStop !== undefined) log.info({ signal: pendingStop }, 'stopped before start-up: nothing was started');
  return pendingStop;
}

/**
 * The daemon is up: route signals to it until a stop signal, and resolve to
 * the exit code its `stop` resolves to. A stop signal received during
 * start-up stops it at once, else a SIGHUP received then reloads now.
 */
export function serveUntilStopped(daemon: DaemonRoutes): Promise<number> {
  routes = daemon;
  return new Promise<number>((resolve) => {
    stopped = resolve;
    phase = 'running';
    if (pendingStop !== undefined) beginStop(pendingStop);
    else if (pendingReload) daemon.reload();
  });
}

/**
 * Ends a program whose signals are still routed at once, with
 * process.exitCode. Left to drain its event loop, Node would put the default
 * signal actions back while tearing down (libuv does when it closes its
 * handles), and a late SIGINT or SIGHUP would still kill it.
 */
export function exitIfRouted(): void {
  if (phase === 'released') return;
  flushNotes();
  process.exit();
}

/**
 * For commands that are not daemons: SIGHUP and the stop signals get Node's
 * default back (a stop that arrived while the program loaded is raised
 * again now); SIGUSR1 stays ignored, so it never opens the inspector.
 */
export function releaseSignals(): void {
  phase = 'released';
  flushNotes();
  for (const signal of [...STOP_SIGNALS, 'SIGHUP'] as const) process.off(signal, route);
  if (pendingStop !== undefined) process.kill(process.pid, pendingStop);
}
