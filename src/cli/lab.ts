// `sixgate lab`: a playground in network namespaces to try sixgate without
// touching the host (src/lab/). The checklist goes to stdout; logs to stderr.
// Exit codes: 0 all checks green (or --down done), 1 a check failed or the
// lab could not be built, 2 usage error.
import { Command, Option } from 'commander';
import { createLogger } from '../log.js';
import { SixgateError } from '../errors.js';
import { addVerbose, verboseLevel } from './shared-options.js';
// Types only: the lab's modules load when `lab` runs.
import type { LabMode } from '../lab/lab.js';
import type { EngineKind } from '../lab/state.js';

interface LabCliOptions {
  check?: boolean;
  detach?: boolean;
  down?: boolean;
  engine: 'auto' | EngineKind;
  verbose: number;
}

const HELP = `
What it builds (namespaces sglab-*, addresses 2001:db8::/32 and fd6c:6162::/32 only):
  sglab-internet ─ sglab-router ─ sglab-host (sixgate) ─ containers
  a ULA network with containers web (publishes 8080 → 80) and client, and a
  global network (2001:db8:1:0:d0c::/80, on the uplink's prefix) with glob1.
  Engine "docker": Debian's dockerd inside sglab-host (needs docker.io and
  busybox-static) and \`sixgate run\`. Engine "static": the containers are plain
  namespaces, and \`sixgate nat\` + \`sixgate ndp\` run from static files (needs
  only iproute2). The host's own interfaces, routes, sysctls and Docker are
  never touched; state lives in /run/sixgate-lab/.

It verifies, with timings: NDP answered by sixgate for the global container,
the global container routed from the internet, outbound NAT66 (the address the
internet sees), the published port with the client address preserved, and the
hairpin (a container reaching the published port through the external address).

Modes:
  sixgate lab            build, verify, print the checklist, keep it running
                         until Ctrl-C, then remove it (the default)
  sixgate lab --detach   the same, but leave it up and return
  sixgate lab --down     remove a lab (also what a previous run left)
  sixgate lab --check    build, verify, print, remove; exit 0 only if all green

Examples:
  sudo sixgate lab
  sudo sixgate lab --check --engine static`;

export function registerLab(program: Command): void {
  const cmd = program
    .command('lab')
    .description('try sixgate in a throwaway playground of network namespaces (needs root)')
    .option('--check', 'build, verify, print the checklist, remove; exit status 0 only if every check passed')
    .option('-d, --detach', 'leave the lab running (remove it later with --down)')
    .option('--down', 'remove the lab: namespaces, processes, the lab Docker engine, /run/sixgate-lab')
    .addOption(new Option('--engine <kind>', 'docker: a real Docker engine in a namespace; static: namespaces + sixgate nat/ndp')
      .choices(['auto', 'docker', 'static']).default('auto', 'auto: docker when docker.io and busybox-static are installed'))
    .addHelpText('after', HELP);
  addVerbose(cmd, 'log the lab\'s steps on stderr: -v debug, -vv trace (sixgate\'s own logs are in the lab\'s log directory)');
  cmd.action(async (opts: LabCliOptions) => {
    if ([opts.check, opts.detach, opts.down].filter(Boolean).length > 1) {
      process.stderr.write('sixgate lab: --check, --detach and --down do not go together\n');
      process.exitCode = 2;
      return;
    }
    const log = createLogger({ level: verboseLevel(opts.verbose, 'warn') });
    const out = (line: string): void => { process.stdout.write(`${line}\n`); };
    try {
      const { labDown, labUp } = await import('../lab/lab.js');
      if (opts.down) {
        const r = await labDown(log);
        out(r.found ? `lab removed (${r.namespaces} namespaces, ${r.processes} processes, ${r.mounts} mounts)` : 'no lab to remove');
        process.exitCode = 0;
        return;
      }
      const mode: LabMode = opts.check ? 'check' : opts.detach ? 'detach' : 'foreground';
      process.exitCode = await labUp({ mode, engine: opts.engine, log, out });
    } catch (err) {
      // Prerequisites and setup failures: the message says what to do.
      process.stderr.write(`${err instanceof SixgateError ? err.message : (err as Error).message}\n`);
      process.exitCode = 1;
    }
  });
}
