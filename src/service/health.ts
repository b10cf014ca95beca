// Liveness and readiness of a running sixgate, for `sixgate health`, Docker's
// HEALTHCHECK and monitors. The daemon rewrites a small JSON status file from
// a timer on its own event loop; a reader judges that file.
//
// A file rather than a control socket: the daemon serves nothing (no listener
// to secure, no request that could wedge it), the reader needs no privileges
// and no protocol, and a stuck event loop shows up by itself as a stale file.
// Ages are measured on CLOCK_MONOTONIC (process.hrtime), which every process
// on the host shares, so a wall-clock step (NTP, a VM resume) never makes a
// live daemon look stale. /run is a tmpfs, so a reboot leaves no old file.
// A part that goes down (or comes back) is in the file within a check
// period (a quarter of a second), not at the next refresh: the status is
// asked for that often and the file rewritten when it changed. Each write
// also carries every counter of the registry (src/service/counters.ts), the
// same values SIGUSR1 logs and Prometheus serves; a counter that moves does
// not by itself cause a write.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { monotonicMs } from '../io/ring.js';

/** Where the daemon keeps its status (systemd's RuntimeDirectory=sixgate, the image's /run/sixgate). */
export const DEFAULT_STATUS_FILE = '/run/sixgate/status.json';
/** Default refresh period of the status file. */
export const DEFAULT_INTERVAL_MS = 5_000;
/** How often the status is compared with the one in the file (cheap: no write unless it changed). */
export const DEFAULT_CHECK_MS = 250;
/** Refresh periods a reader tolerates missing before it calls the daemon stuck. */
export const STALE_PERIODS = 3;

const FORMAT = 1;

/** `starting` until the data path is up; `degraded` when running but a part is down. */
export type HealthState = 'starting' | 'ready' | 'degraded' | 'stopping';

export interface ComponentHealth {
  ok: boolean;
  /** Why a part is not ok, for the one-line verdict (e.g. "docker: connect ENOENT"). */
  detail?: string;
}

/** What the daemon reports each time the file is refreshed. */
export interface HealthStatus {
  state: HealthState;
  /** One entry per part (e.g. docker, ndp, nat66); the daemon is healthy only when all are ok. */
  components?: Record<string, ComponentHealth>;
}

/** The file's content: the status plus what a reader needs to judge it. */
export interface StatusRecord extends HealthStatus {
  format: typeof FORMAT;
  pid: number;
  intervalMs: number;
  /** CLOCK_MONOTONIC milliseconds at the refresh. */
  monotonicMs: number;
  /** Wall-clock time of the refresh and of the start, for people reading the file. */
  time: string;
  startedAt: string;
  /** Every counter at the refresh, by metric name (counterValues in src/service/counters.ts). */
  counters?: Record<string, unknown>;
}

export interface HealthFileOptions {
  intervalMs?: number;
  /** How often a change of state or of a part is looked for (default DEFAULT_CHECK_MS). */
  checkMs?: number;
  /** Called when a refresh cannot be written (the daemon keeps running; readers will see it stale). */
  onError?: (err: Error) => void;
  /** Monotonic clock in ms (tests). */
  clock?: () => number;
  /** The counters written with each refresh (read only when the file is written). */
  counters?: () => Record<string, unknown>;
}

export interface HealthFile {
  readonly path: string;
  /** Rewrites the file now (e.g. right after a state change), besides the timer. */
  refresh(): void;
  /** Stops refreshing and removes the file: a stopped daemon reads as "not running", not as stuck. */
  stop(): void;
}

/**
 * Starts refreshing `path` every `intervalMs` with `getStatus()`; writes it
 * once at once. The timer is unref'd, so it never keeps the process alive.
 * Writes go to a temporary name and are renamed, so a reader never sees half a file.
 */
export function startHealthFile(path: string, getStatus: () => HealthStatus, options: HealthFileOptions = {}): HealthFile {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const clock = options.clock ?? monotonicMs;
  const startedAt = new Date().toISOString();
  const temporary = `${path}.${process.pid}.tmp`;
  let failing = false;
  /** The status last written, to spot a change between refreshes. */
  let written = '';
  let writtenAt = 0;
  mkdirSync(dirname(path), { recursive: true });

  const refresh = (given?: HealthStatus): void => {
    let text: string;
    try {
      const status = given ?? getStatus();
      const record: StatusRecord = {
        format: FORMAT, pid: process.pid, state: status.state, components: status.components ?? {},
        intervalMs, monotonicMs: clock(), time: new Date().toISOString(), startedAt,
        ...(options.counters === undefined ? {} : { counters: options.counters() }),
      };
      text = `${JSON.stringify(record)}\n`;
      // Readable by everyone: `sixgate health` may run as any user.
      writeFileSync(temporary, text, { mode: 0o644 });
      renameSync(temporary, path);
      written = statusKey(status);
      writtenAt = clock();
      failing = false;
    } catch (err) {
      // Reported once per run of failures, not every period.
      if (!failing) options.onError?.(err as Error);
      failing = true;
    }
  };

  const check = (): void => {
    let status: HealthStatus;
    try {
      status = getStatus();
    } catch {
      refresh(); // reports the failure (once) like a timed refresh
      return;
    }
    if (statusKey(status) !== written || clock() - writtenAt >= intervalMs) refresh(status);
  };

  refresh();
  const timer = setInterval(check, Math.min(options.checkMs ?? DEFAULT_CHECK_MS, intervalMs));
  timer.unref();
  return {
    path,
    refresh: () => refresh(),
    stop(): void {
      clearInterval(timer);
      rmSync(temporary, { force: true });
      rmSync(path, { force: true });
    },
  };
}

function statusKey(status: HealthStatus): string {
  return JSON.stringify([status.state, status.components ?? {}]);
}

export interface HealthVerdict {
  healthy: boolean;
  /** One line saying why (shown by `sixgate health` and in `docker inspect`). */
  reason: string;
  record?: StatusRecord;
  /** Milliseconds since the last refresh. */
  ageMs?: number;
}

export interface ReadHealthOptions {
  /** Oldest refresh still accepted; default STALE_PERIODS refresh periods. */
  maxAgeMs?: number;
  clock?: () => number;
  /** Whether a process exists (tests); default kill(pid, 0). */
  pidAlive?: (pid: number) => boolean;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it just belongs to another user (DynamicUser=).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isRecord(v: unknown): v is StatusRecord {
  const r = v as Partial<StatusRecord> | null;
  return typeof r === 'object' && r !== null && r.format === FORMAT && Number.isInteger(r.pid) &&
    typeof r.state === 'string' && typeof r.intervalMs === 'number' && typeof r.monotonicMs === 'number';
}

/** Judges the status file at `path`: healthy only if a live daemon refreshed it recently and reports every part ready. */
export function readHealth(path: string = DEFAULT_STATUS_FILE, options: ReadHealthOptions = {}): HealthVerdict {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { healthy: false, reason: `not running: no status file ${path}` };
    return { healthy: false, reason: `cannot read ${path}: ${(err as Error).message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isRecord(parsed)) return { healthy: false, reason: `${path} is not a sixgate status file (format ${FORMAT})` };
  const record = parsed;
  const ageMs = (options.clock ?? monotonicMs)() - record.monotonicMs;
  const base = { record, ageMs };
  if (!(options.pidAlive ?? processExists)(record.pid)) {
    return { ...base, healthy: false, reason: `not running: pid ${record.pid} is gone (it did not stop cleanly)` };
  }
  const maxAgeMs = options.maxAgeMs ?? STALE_PERIODS * record.intervalMs;
  // A negative age beyond rounding means the file comes from another clock (another boot or host).
  if (ageMs > maxAgeMs || ageMs < -1_000) {
    return { ...base, healthy: false, reason: `stuck: pid ${record.pid} last refreshed its status ${seconds(ageMs)} ago (every ${seconds(record.intervalMs)})` };
  }
  if (record.state !== 'ready') return { ...base, healthy: false, reason: `${record.state}: pid ${record.pid}${down(record)}` };
  const broken = down(record);
  if (broken !== '') return { ...base, healthy: false, reason: `ready but${broken.slice(1)}` };
  return { ...base, healthy: true, reason: `ready: pid ${record.pid}, refreshed ${seconds(ageMs)} ago` };
}

/** ", docker: detail, ndp: detail" for the parts that are not ok; "" when all are. */
function down(record: StatusRecord): string {
  let out = '';
  for (const [name, c] of Object.entries(record.components ?? {})) {
    if (c === null || typeof c !== 'object' || c.ok === true) continue;
    out += `, ${name} down${typeof c.detail === 'string' ? ` (${c.detail})` : ''}`;
  }
  return out;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
