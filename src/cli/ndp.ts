// `sixgate ndp`: the NDP proxy as a drop-in for ndppd. Same flags
// (-c, -d, -p, -v...), same configuration file; what ndppd lacks on top:
// SIGHUP reloads the file (keeping verified sessions), SIGUSR1 logs the
// counters, SIGINT/SIGTERM/SIGQUIT stop and remove the autowired routes
// (signals.ts routes them, during start-up and shutdown too), --check
// validates a file and exits, and a bad file is an error naming
// file:line:column instead of being half-ignored.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { monotonicMs } from '../io/ring.js';
import type { LogFormat, Logger } from '../log.js';
import { ConfigError, SixgateError } from '../errors.js';
import { fail } from './exit.js';
import { addLogFormat, addVerbose, cliLogger } from './shared-options.js';
import type { NdppdConfig } from '../ndp/ndppd-conf.js';
import { NdpService, loadNdppdConfig, parseAddressOptions } from '../proxy/ndp-service.js';
import { counterValues, ndpServiceMetrics } from '../service/counters.js';
import { daemonStarting, serveUntilStopped } from './signals.js';
import { DEFAULT_CONTROL_SOCKET, startControlServer } from '../service/control.js';
import { ndpOps } from '../service/inspect.js';
import { ndpSessionsCommand } from './ndp-sessions.js';

export interface NdpCliOptions {
  config: string;
  daemon?: boolean;
  pidfile?: string;
  verbose: number;
  logFormat?: LogFormat;
  check?: boolean;
  address: string[];
  naSource: string;
  kernelAnswers: string;
  controlSocket: string;
}

const DAEMON_CHILD = 'SIXGATE_NDP_DAEMON_CHILD';

export function registerNdp(program: Command): void {
  const cmd = program
    .command('ndp')
    .description('NDP proxy: answers neighbour solicitations per an ndppd.conf (drop-in for ndppd)')
    .option('-c, --config <file>', 'ndppd configuration file', '/etc/ndppd.conf')
    .option('-d, --daemon', 'detach and run in the background')
    .option('-p, --pidfile <file>', 'write the process id to this file')
    .option('-t, --check', 'check the configuration file, print its warnings and exit')
    .option('--address <iface=addr>', 'also answer for this exact address on this proxy interface (repeatable)',
      (v: string, list: string[]) => [...list, v], [] as string[])
    .option('--na-source <target|link-local>', 'source address of the advertisements sent', 'target')
    .option('--kernel-answers <auto|off>', 'answer NS for exact addresses in the kernel (a tc program on each proxy interface) where it takes one', 'auto')
    .option('--control-socket <path>', 'unix socket sixgate ndp sessions and status read this daemon through', DEFAULT_CONTROL_SOCKET)
    .addCommand(ndpSessionsCommand())
    .addHelpText('after', `
Signals: SIGHUP reloads the file, keeping verified sessions; SIGUSR1 logs the
counters and sessions; SIGINT/SIGTERM/SIGQUIT stop, removing the autowired
routes. A stop or SIGHUP during start-up takes effect once start-up is over;
signals during shutdown are ignored.`);
  addVerbose(cmd);
  addLogFormat(cmd);
  cmd.action(async (opts: NdpCliOptions) => {
    process.exitCode = await runNdp(opts);
  });
}

function logWarnings(log: Logger, config: NdppdConfig): void {
  for (const w of config.warnings) log.warn({ file: config.file, line: w.line, column: w.column }, w.message);
}

/** Runs the proxy until a stop signal; resolves to the exit code. */
export async function runNdp(opts: NdpCliOptions): Promise<number> {
  // The detached child's stderr is `logger --prio-prefix`: syslog, as ndppd -d logs.
  // Should logger go away, the lines are lost but the proxy goes on answering.
  const detached = process.env[DAEMON_CHILD] === '1';
  if (detached) process.stderr.on('error', () => {});
  const log = cliLogger(opts, detached ? true : undefined);
  let config: NdppdConfig;
  let addresses: Map<string, Uint8Array[]>;
  try {
    config = await loadNdppdConfig(opts.config);
    addresses = parseAddressOptions(opts.address);
    if (opts.naSource !== 'target' && opts.naSource !== 'link-local') {
      throw new ConfigError(`--na-source must be target or link-local, not ${JSON.stringify(opts.naSource)}`);
    }
    if (opts.kernelAnswers !== 'auto' && opts.kernelAnswers !== 'off') {
      throw new ConfigError(`--kernel-answers must be auto or off, not ${JSON.stringify(opts.kernelAnswers)}`);
    }
  } catch (err) {
    return fail(log, err);
  }
  logWarnings(log, config);
  if (opts.check) {
    log.info({ file: config.file, proxies: config.proxies.length, warnings: config.warnings.length }, 'configuration is valid');
    return 0;
  }
  if (opts.daemon && process.env[DAEMON_CHILD] !== '1') return daemonize(log);

  if (daemonStarting(log) !== undefined) return 0;
  let service: NdpService;
  try {
    service = await NdpService.start({
      config, logger: log, now: monotonicMs, addresses, naSource: opts.naSource as 'target' | 'link-local',
      kernelAnswers: opts.kernelAnswers as 'auto' | 'off',
    });
  } catch (err) {
    return fail(log, err);
  }
  if (opts.pidfile !== undefined) writeFileSync(opts.pidfile, `${process.pid}\n`, { mode: 0o644 });
  process.send?.({ ready: true });
  process.disconnect?.();
  log.info({ pid: process.pid, config: config.file }, 'sixgate ndp running');

  const counters = ndpServiceMetrics(service);
  const control = await startControlServer(opts.controlSocket, ndpOps(service, counters), log);
  // Loaded after the proxy answers: the doctor's Docker client is ~70 ms of module loading.
  void import('./doctor.js').then(({ logDoctorFindings }) => logDoctorFindings({ uplinks: config.proxies.map((p) => p.iface), tun: 'sixgate0' }, log));
  let reloading: Promise<void> = Promise.resolve();
  return serveUntilStopped({
    reload: () => {
      reloading = reloading.then(async () => {
        try {
          const next = await loadNdppdConfig(opts.config);
          logWarnings(log, next);
          await service.reload(next);
          log.info({ config: next.file }, 'configuration reloaded');
        } catch (err) {
          log.error({ err: err instanceof SixgateError ? err.message : err }, 'reload failed; the previous configuration stays in force');
        }
      });
    },
    counters: () => log.info({ counters: counterValues(counters), ...service.stats() }, 'counters'),
    stop: async (signal) => {
      log.info({ signal }, 'shutting down');
      await control?.close();
      await reloading;
      await service.stop();
      if (opts.pidfile !== undefined) rmSync(opts.pidfile, { force: true });
      return 0;
    },
  });
}

// ndppd forks; Node cannot, so the same command runs again detached, and this
// process waits until it reports ready (or fails) before exiting, so init
// scripts still see a start-up error in the exit status. As ndppd's, the
// detached daemon's logs go to syslog (the journal on systemd hosts): its
// stderr is a pipe into util-linux `logger --prio-prefix`, which reads the
// `<N>` priority the logger puts at the start of each line (Node has no
// unix datagram socket to write to /dev/log itself).
function daemonize(log: Logger): Promise<number> {
  const args = process.argv.slice(1).filter((a) => a !== '-d' && a !== '--daemon');
  const syslog = spawn('logger', ['--prio-prefix', '--tag', 'sixgate-ndp'], { detached: true, stdio: ['pipe', 'ignore', 'ignore'], cwd: '/' });
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', syslog.stdin, 'ipc'],
    env: { ...process.env, [DAEMON_CHILD]: '1' },
    cwd: '/',
  });
  syslog.stdin.destroy();
  syslog.unref();
  syslog.once('error', (err) => log.error({ err: err.message }, 'cannot start logger (util-linux): the detached daemon logs nothing'));
  return new Promise((resolve) => {
    child.once('message', () => {
      child.unref();
      child.disconnect();
      log.info({ pid: child.pid }, 'sixgate ndp detached');
      resolve(0);
    });
    child.once('exit', (code) => {
      log.error({ code }, 'sixgate ndp failed to start in the background (run without -d to see why)');
      resolve(code === 0 || code === null ? 1 : code);
    });
  });
}
