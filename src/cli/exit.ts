// Exit status, the same for every command: 0 success, 1 a run-time failure,
// 2 the operator's input is wrong (a usage or configuration error; nothing on
// the host was changed). Scripts and init systems rely on the difference.
import type { Command } from 'commander';
import { ConfigError, SixgateError } from '../errors.js';
import type { Logger } from '../log.js';

/** Commander exits 1 on a usage error; sixgate's usage errors are 2 (help and --version stay 0). */
export function usageExit(cmd: Command): Command {
  return cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
}

/** Logs `err` as one line and returns the exit status it calls for. */
export function fail(log: Logger, err: unknown): number {
  if (err instanceof SixgateError) {
    log.error({ code: err.code }, err.message);
    return err instanceof ConfigError ? 2 : 1;
  }
  log.error({ err }, 'failed');
  return 1;
}
