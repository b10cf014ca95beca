// One pino logger is made at the top (the CLI) and passed down; nothing in
// src/ writes to the console directly. JSON by default (for journald and
// `docker logs`), a readable single-line form when stdout is a terminal.
import { createRequire } from 'node:module';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type PinoPretty from 'pino-pretty';

// pino-pretty (CommonJS) is loaded only for a terminal: a daemon logging
// JSON starts without it (restart time).
const require = createRequire(import.meta.url);

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Force the readable form (true) or JSON (false); default: readable only on a TTY. */
  pretty?: boolean;
  /** Where to write; default stdout. Tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const destination = options.destination ?? process.stdout;
  const readable = options.pretty ?? (destination === process.stdout && process.stdout.isTTY === true);
  if (readable) {
    // sync: the readable form is for people at a terminal; it must not lose
    // the last lines when the process exits on an error.
    const pretty = require('pino-pretty') as typeof PinoPretty;
    return pino({ level, base: undefined }, pretty({ destination, sync: true, ignore: 'pid,hostname' }));
  }
  return pino({ level, base: undefined }, destination);
}
