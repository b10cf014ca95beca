// Flags several commands share, with one meaning everywhere: -v is debug
// (each NAT mapping and NDP answer as it happens), -vv trace; and the service
// options (declared once, in src/config/options.ts) that the commands reading
// no service configuration take too: --log-format, --wait-uplink.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { OPTION_BY_KEY, type LogLevel, type OptionSpec, type ServiceConfig } from '../config/options.js';
import { createLogger, LOG_FORMATS, type LogFormat, type Logger } from '../log.js';

export const VERBOSE_HELP = 'log more: -v debug (each NAT mapping and NDP answer as it happens), -vv trace';

export function addVerbose(cmd: Command, help = VERBOSE_HELP): Command {
  return cmd.option('-v, --verbose', help, (_: string, n: number) => n + 1, 0);
}

/** A service option's help, as `run` and the others show it. */
export function optionHelp(o: OptionSpec): string {
  return `${o.description} [env ${o.env}; default ${o.defaultText}]`;
}

/** A service option for a command that reads no service configuration (nat, ndp): its flag, and its SIXGATE_* variable through commander. */
export function serviceOption(key: keyof ServiceConfig): Option {
  const o = OPTION_BY_KEY.get(key)!;
  const option = new Option(o.flag, optionHelp(o)).env(o.env);
  if (o.kind === 'integer') option.argParser((text) => integerIn(o, text));
  return o.values === undefined ? option : option.choices(o.values);
}

function integerIn(o: OptionSpec, text: string): number {
  const { minimum, maximum } = o.schema as { minimum: number; maximum: number };
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < minimum || n > maximum) throw new InvalidArgumentError(`expected an integer in ${minimum}..${maximum}`);
  return n;
}

export function addLogFormat(cmd: Command): Command {
  return cmd.addOption(serviceOption('logFormat').default('text'));
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
