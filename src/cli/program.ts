// The `sixgate` command line. Each subcommand lives in its own module and adds
// itself to the program through a `register*` function. The executable is
// main.ts, which routes signals before it loads this module.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { usageExit } from './exit.js';
import { releaseSignals } from './signals.js';

type Register = (program: Command) => void;

/**
 * Each command's module, read only when the program needs it (in the order
 * help lists them): a daemon's start reads its own command's code and
 * libraries, not every command's (they took tens of milliseconds of a restart).
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  decode: async () => (await import('./decode.js')).registerDecode,
  health: async () => (await import('./health.js')).registerHealth,
  ndp: async () => (await import('./ndp.js')).registerNdp,
  nat: async () => (await import('./nat.js')).registerNat,
  run: async () => (await import('./run.js')).registerRun,
  ipv6nat: async () => (await import('./ipv6nat.js')).registerIpv6nat,
  config: async () => (await import('./config.js')).registerConfig,
  counters: async () => (await import('./counters.js')).registerCounters,
  lab: async () => (await import('./lab.js')).registerLab,
  status: async () => (await import('./status.js')).registerStatus,
  flows: async () => (await import('./flows.js')).registerFlows,
  capture: async () => (await import('./capture.js')).registerCapture,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
};

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const MANUAL = `
Description:
  sixgate gives Docker containers working IPv6. For containers with global
  addresses from the host's on-link prefix it answers the upstream router's
  Neighbor Solicitations (a drop-in for ndppd); for ULA networks it is a
  stateful NAT66 (a drop-in for docker-ipv6nat), with published ports, hairpin
  and NPTv6. Packets reach it through a TUN device and ICMPv6/packet sockets:
  no netfilter NAT, no kernel NAT modules. Without a command, \`sixgate run\`.

Files:
  /etc/sixgate/sixgate.yaml          service configuration (sixgate config options)
  /etc/ndppd.conf                    ndppd configuration, read unchanged by sixgate ndp
  /run/sixgate/status.json           liveness, read by sixgate health
  /run/sixgate/control.sock          the running daemon's state: sixgate status, flows, ndp sessions
  /var/lib/sixgate/                  the connection table (a mapped file: survives restarts and crashes)

Environment:
  SIXGATE_*                          every run option (flag > environment > file > default)
  DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH   the Docker Engine API endpoint

Signals (run, ipv6nat, nat, ndp; from sixgate's first module to the exit):
  SIGHUP reloads; SIGUSR1 logs the counters (sixgate counters lists them); SIGINT, SIGTERM, SIGQUIT stop
  (exit 0). A stop or SIGHUP during start-up takes effect once start-up is
  over; SIGUSR1 during start-up and any signal during shutdown are ignored
  with a log line. A SIGUSR1 never leaves Node's inspector open (README: Signals).

Logs (run, ipv6nat, nat, ndp, lab):
  on stderr, one event a line: text by default, JSON with --log-format json
  (SIXGATE_LOG_FORMAT); under systemd each line carries its journal priority.
  -v means debug for every command (each NAT mapping and NDP answer as it
  happens), -vv trace. stdout is only for what a command prints.

Exit status:
  0 success; 1 a run-time failure, or at start what sixgate cannot repair
  (capabilities, /dev/net/tun, the uplink: one line says what to do); 2 a
  usage or configuration error (nothing on the host was changed).

Examples:
  sudo sixgate lab                   try it in a throwaway namespace playground
  sixgate run --uplink eth0          the daemon for this Docker host
  sixgate ndp -c /etc/ndppd.conf     the NDP proxy alone, in place of ndppd
  sixgate config check sixgate.yaml  validate a configuration file
  sixgate decode capture.pcapng      see packets the way sixgate sees them
  sixgate capture --drops -w FILE    what the running daemon drops, each with its reason
  sixgate doctor                     what on this host breaks sixgate's path, with the fixes

See also: sixgate help <command>; README.md; docs/architecture.md.`;

/** The commands that run until a stop signal. */
const DAEMONS = new Set(['run', 'nat', 'ndp', 'ipv6nat']);

/**
 * The program for the command line `argv`: with only the command it names
 * when it names one first, else (help, no command, an unknown one) with every command.
 */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('sixgate')
    .description('Userspace IPv6 data plane for Docker hosts: NDP proxy and stateful NAT66')
    .version(pkg.version, '-V, --version', 'print the version and exit')
    .helpCommand(false)
    .addHelpText('after', MANUAL);
  const first = argv[2];
  const names = first !== undefined && Object.hasOwn(COMMANDS, first) ? [first] : Object.keys(COMMANDS);
  for (const register of await Promise.all(names.map((name) => COMMANDS[name]!()))) register(program);
  // Only the daemons keep the signals routed (signals.ts); every other command
  // gets Node's defaults back, so Ctrl-C and a hang-up end it as usual.
  program.hook('preAction', (_, command) => {
    if (!DAEMONS.has(command.name())) releaseSignals();
  });
  // `run` is the default command, so commander hands it any word it does not know.
  program.hook('preSubcommand', (_, command) => {
    const word = program.args[0];
    if (command.name() === 'run' && word !== undefined && !word.startsWith('-') && word !== 'run') {
      program.error(`error: unknown command '${word}'`, { exitCode: 2, code: 'commander.unknownCommand' });
    }
  });
  registerHelp(program);
  // One rule for every command: a usage error is one line, a pointer to the
  // command's help and exit 2, like a bad configuration file.
  const all = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(all)];
  for (const cmd of all(program)) usageExit(cmd).showHelpAfterError(`see '${helpCommandFor(cmd)}'`);
  return program;
}

/** `sixgate help [command...]`: a command's help on stdout; an unknown one is a usage error. */
function registerHelp(program: Command): void {
  program
    .command('help')
    .argument('[command...]', 'a command, or a command and its subcommand (ndp sessions)')
    .description('show the help of sixgate or of a command')
    .action((words: string[]) => {
      let cmd = program;
      for (const word of words) {
        const next = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
        if (next === undefined) {
          cmd.error(`error: unknown command '${[...commandPath(cmd).slice(1), word].join(' ')}'`, { exitCode: 2, code: 'commander.unknownCommand' });
        }
        cmd = next!;
      }
      cmd.outputHelp();
    });
}

/** `sixgate ndp sessions` → ['sixgate', 'ndp', 'sessions']. */
function commandPath(cmd: Command): string[] {
  return cmd.parent === null ? [cmd.name()] : [...commandPath(cmd.parent), cmd.name()];
}

function helpCommandFor(cmd: Command): string {
  const [, ...words] = commandPath(cmd);
  return ['sixgate', 'help', ...words].join(' ');
}
