// The logging flags of the commands that log, with one meaning everywhere:
// -v is debug (each NAT mapping and NDP answer as it happens), -vv trace;
// --log-format text|json (declared once, in src/config/options.ts).
import { Option, type Command } from 'commander';
import { OPTION_BY_KEY, type LogLevel } from '../config/options.js';
import { createLogger, LOG_FORMATS, type LogFormat, type Logger } from '../log.js';

export const VERBOSE_HELP = 'log more: -v debug (each NAT mapping and NDP answer as it happens), -vv trace';

export function addVerbose(cmd: Command, help = VERBOSE_HELP): Command {
  return cmd.option('-v, --verbose', help, (_: string, n: number) => n + 1, 0);
}

/** `--log-format`, with its SIXGATE_LOG_FORMAT variable, for the commands that take no service options. */
export function addLogFormat(cmd: Command): Command {
  const o = OPTION_BY_KEY.get('logFormat')!;
  return cmd.addOption(new Option(o.flag, `${o.description} [default ${o.defaultText}]`).choices(o.values!).env(o.env).default('text'));
}

/**
 * The format for an error met before the configuration is read (it may be the
 * configuration that is wrong): the flag's, else SIXGATE_LOG_FORMAT's, else text.
 */
export function requestedLogFormat(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): LogFormat {
  const wanted = flag ?? env[OPTION_BY_KEY.get('logFormat')!.env];
  return (LOG_FORMATS as readonly string[]).includes(wanted ?? '') ? wanted as LogFormat : 'text';
}

/** The level -v/-vv ask for, else `base`. */
export function verboseLevel(verbose: number, base: LogLevel = 'info'): LogLevel {
  return verbose <= 0 ? base : verbose === 1 ? 'debug' : 'trace';
}

export function cliLogger(opts: { verbose: number; logFormat?: LogFormat }, priorityPrefix?: boolean): Logger {
  return createLogger({
    level: verboseLevel(opts.verbose), format: opts.logFormat ?? 'text',
    ...(priorityPrefix === undefined ? {} : { priorityPrefix }),
  });
}
