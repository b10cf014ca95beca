// One pino logger is made at the top (the CLI) and passed down; nothing in
// src/ writes to the console directly. Logs go to stderr (stdout is for what a
// command prints: tables, JSON answers, the lab's checklist), one event a line:
//   text  (the default) `2026-12-04T22:48:57.098Z INFO  msg key=value ...`,
//         coloured by pino-pretty on a terminal;
//   json  pino's own lines, for log shippers (`--log-format json`).
// Under systemd (stderr is the journal stream named by JOURNAL_STREAM) and for
// syslog through `logger --prio-prefix` (`sixgate ndp -d`), each line starts
// with the sd-daemon priority prefix `<N>` and the text form drops the time
// (the journal stamps each line itself), so `journalctl -p err` shows errors.
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';

// pino-pretty (CommonJS) is loaded only for a terminal: a daemon starts without it (restart time).
const require = createRequire(import.meta.url);

export type { Logger };

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Default: text on stderr, JSON to a `destination` given (whoever captures lines reads their fields). */
  format?: LogFormat;
  /** Where to write; default stderr. Tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream | { write(line: string): unknown };
  /** Start each line with its syslog priority `<N>`; default: when stderr is the journal stream. */
  priorityPrefix?: boolean;
}

/** pino's numeric level → syslog priority (sd-daemon(3)): fatal crit, error err, warn warning, info info, debug and trace debug. */
function syslogPriority(level: number): number {
  return level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };

/** systemd connects stderr straight to the journal and says so in JOURNAL_STREAM ("device:inode"). */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env.JOURNAL_STREAM;
  if (stream === undefined) return false;
  try {
    const st = fstatSync(2);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  const err = v as { message?: unknown; stack?: unknown } | null;
  // A serialized Error: its message (the stack is in the JSON form).
  if (typeof err?.message === 'string' && typeof err.stack === 'string') return JSON.stringify(err.message);
  return JSON.stringify(v);
}

/** One pino JSON line → `[time ]LEVEL msg key=value ...`. */
export function textLine(json: string, withTime: boolean): string {
  const { level, time, msg, ...rest } = JSON.parse(json) as { level: number; time?: number; msg?: string } & Record<string, unknown>;
  let line = `${withTime && time !== undefined ? `${new Date(time).toISOString()} ` : ''}${LEVEL_NAMES[level] ?? level} ${msg ?? ''}`;
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) line += ` ${k}=${formatValue(v)}`;
  return `${line}\n`;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const destination = options.destination ?? process.stderr;
  const format = options.format ?? (options.destination === undefined ? 'text' : 'json');
  const prefix = options.priorityPrefix ?? (destination === process.stderr && stderrIsJournal());
  if (format === 'text' && !prefix && destination === process.stderr && process.stderr.isTTY === true) {
    // sync: the readable form is for people at a terminal; it must not lose
    // the last lines when the process exits on an error.
    const pretty = require('pino-pretty') as typeof PinoPretty;
    return pino({ level, base: undefined }, pretty({ destination: 2, sync: true, ignore: 'pid,hostname' }));
  }
  if (format === 'json' && !prefix) return pino({ level, base: undefined }, destination as NodeJS.WritableStream);
  // Lines are formatted as pino hands them over: logging is never on the per-packet path
  // unless -v asks for it, and then each line is worth its cost.
  const out = {
    write(json: string): void {
      const body = format === 'json' ? json : textLine(json, !prefix);
      destination.write(prefix ? `<${syslogPriority(Number(/"level":(\d+)/.exec(json)?.[1] ?? 30))}>${body}` : body);
    },
  };
  return pino({ level, base: undefined }, out);
}
