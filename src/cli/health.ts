// `sixgate health`: exit 0 when the daemon on this host (or in this
// container) is alive and ready, 1 otherwise, with one line saying why. It
// is the image's HEALTHCHECK (Docker treats 0/1 exactly so) and works for
// monitors next to the systemd unit. It only reads the status file the daemon
// refreshes (src/service/health.ts), so it needs no privileges.
import type { Command } from 'commander';
import { DEFAULT_STATUS_FILE, readHealth } from '../service/health.js';

export interface HealthCliOptions {
  file: string;
  maxAge?: string;
  json?: boolean;
}

export function registerHealth(program: Command): void {
  program
    .command('health')
    .description('check that the running daemon is alive and ready (exit 0) or not (exit 1); for HEALTHCHECK and monitors')
    .option('-f, --file <path>', 'status file the daemon refreshes', DEFAULT_STATUS_FILE)
    .option('--max-age <ms>', 'oldest refresh accepted (default: 3 refresh periods)')
    .option('--json', 'print the status record as JSON after the verdict line')
    .action((opts: HealthCliOptions) => {
      process.exitCode = runHealth(opts, (line) => process.stdout.write(`${line}\n`));
    });
}

/** Prints the verdict through `write`; returns the exit code. */
export function runHealth(opts: HealthCliOptions, write: (line: string) => void): number {
  let maxAgeMs: number | undefined;
  if (opts.maxAge !== undefined) {
    maxAgeMs = Number(opts.maxAge);
    if (!Number.isFinite(maxAgeMs) || maxAgeMs <= 0) {
      write(`unhealthy: --max-age must be a positive number of milliseconds, not ${JSON.stringify(opts.maxAge)}`);
      return 1;
    }
  }
  const verdict = readHealth(opts.file, { maxAgeMs });
  write(`${verdict.healthy ? 'healthy' : 'unhealthy'}: ${verdict.reason}`);
  if (opts.json && verdict.record !== undefined) write(JSON.stringify(verdict.record));
  return verdict.healthy ? 0 : 1;
}
