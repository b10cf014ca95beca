// `sixgate ipv6nat`: the docker-ipv6nat command line on top of the same
// daemon as `sixgate run`. Its flags are Go-style (`-cleanup -retry -debug
// -version`, and -help or -h as Go's flag package adds them; also with two
// dashes or `=true`/`=false`), rewritten here into commander's form before parsing. Differences that fix its bugs:
//   - retrying is always on: docker-ipv6nat's image passed --retry as CMD,
//     so any appended argument silently dropped it and the daemon died on
//     the first engine hiccup (bug B8); --retry is accepted and changes nothing;
//   - no config file is read (docker-ipv6nat had none); SIXGATE_* variables
//     still apply, and DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH
//     select the engine as before.
import type { Command } from 'commander';
import { createLogger } from '../log.js';
import { loadServiceConfig, type ConfigLayer } from '../config/load.js';
import { fail } from './exit.js';
import { requestedLogFormat } from './shared-options.js';
import { runService } from './run.js';

const GO_FLAGS = ['cleanup', 'retry', 'debug', 'version', 'help', 'h'] as const;

/**
 * Rewrites the arguments after the `ipv6nat` subcommand in place:
 * `-cleanup` / `--cleanup` / `-cleanup=true` → `--cleanup`, `-x=false` →
 * dropped. Arguments of other subcommands are left alone. Returns `argv`.
 */
export function rewriteGoFlags(argv: string[]): string[] {
  const at = argv.indexOf('ipv6nat', 2);
  if (at < 0) return argv;
  for (let i = argv.length - 1; i > at; i--) {
    const m = /^--?([a-z]+)(?:=(.*))?$/.exec(argv[i]!);
    if (m === null || !(GO_FLAGS as readonly string[]).includes(m[1]!)) continue;
    const value = m[2];
    if (value === undefined || /^(1|t|true|TRUE|True)$/.test(value)) argv[i] = m[1] === 'h' ? '-h' : `--${m[1]}`;
    else if (/^(0|f|false|FALSE|False)$/.test(value)) argv.splice(i, 1);
  }
  return argv;
}

export function registerIpv6nat(program: Command): void {
  // commander parses the same array afterwards (main.ts passes process.argv).
  rewriteGoFlags(process.argv);
  const cmd = program
    .command('ipv6nat')
    .description('docker-ipv6nat compatible entry point (-cleanup -retry -debug -version -help; retry is always on)')
    .option('--cleanup', 'on exit remove routes, rules and the TUN')
    .option('--retry', 'keep retrying when the Docker engine is unreachable (always on; accepted for compatibility)')
    .option('--debug', 'log each change applied');
  // -version / --version: the program's own version flag answers it (commander sees it anywhere on the line).
  cmd.action(async (opts: { cleanup?: boolean; retry?: boolean; debug?: boolean }) => {
    const flags: ConfigLayer = {
      ...(opts.cleanup ? { cleanup: true } : {}),
      ...(opts.debug ? { logLevel: 'debug' as const } : {}),
    };
    let config;
    try {
      config = loadServiceConfig({ flags, noFile: true }).config;
    } catch (err) {
      process.exitCode = fail(createLogger({ format: requestedLogFormat(undefined) }), err);
      return;
    }
    process.exitCode = await runService(config);
  });
}
