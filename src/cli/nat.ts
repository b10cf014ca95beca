// `sixgate nat`: the NAT66 data path driven by a static config file (until
// the Docker feed drives the same model). SIGHUP re-reads the file and
// applies only what changed; SIGUSR1 logs counters; SIGINT, SIGTERM and
// SIGQUIT stop and leave routes, the TUN and the connection table (a mapped
// state file, current at every moment) for the next start (signals.ts routes
// them, during start-up and shutdown too);
// --cleanup removes everything sixgate installed (at exit, or at once with
// --cleanup-only).
import type { Command } from 'commander';
import type { LogFormat, Logger } from '../log.js';
import { ConfigError, HostSetupError, SixgateError } from '../errors.js';
import { fail } from './exit.js';
import { rmSync } from 'node:fs';
import { addLogFormat, addVerbose, cliLogger, serviceOption } from './shared-options.js';
import { startupProblems } from '../host/checks.js';
import { findUplink } from '../service/uplink.js';
import { parseCacheFile, readDatapathConfig, readDatapathConfigAt, natOptions } from '../datapath/nat-file.js';
import { DatapathService, cleanupHost } from '../datapath/nat-service.js';
import { DEFAULT_HOST_PORT_RANGE } from '../datapath/nat-model.js';
import { daemonStarting, serveUntilStopped } from './signals.js';
import { DEFAULT_CONTROL_SOCKET, startControlServer } from '../service/control.js';
import type { PrefixDelegation } from '../host/dhcpv6-pd.js';
import { monotonicMs } from '../io/ring.js';

/** How long a start waits for the first delegated prefix before going on without one. */
const FIRST_DELEGATION_MS = 10_000;

/** Waits (at most FIRST_DELEGATION_MS) until the delegation has a prefix, so auto networks start mapped to it. */
async function firstDelegation(delegation: PrefixDelegation, log: Logger): Promise<void> {
  const end = monotonicMs() + FIRST_DELEGATION_MS;
  while (delegation.prefixes().length === 0 && monotonicMs() < end) await new Promise((r) => setTimeout(r, 50));
  if (delegation.prefixes().length === 0) log.warn(`no delegated prefix after ${FIRST_DELEGATION_MS / 1000} s: starting without one (auto networks that need one wait for it)`);
}

export interface NatCliOptions {
  config: string;
  cleanup?: boolean;
  cleanupOnly?: boolean;
  stateFile?: string;
  verbose: number;
  logFormat?: LogFormat;
  waitUplink: number;
  check?: boolean;
  controlSocket: string;
  workers: number;
  offload: 'auto' | 'off';
}

export function registerNat(program: Command): void {
  const cmd = program
    .command('nat')
    .description('NAT66 data path (TUN + policy routing + NDP) from a static YAML/JSON config')
    .option('-c, --config <file>', 'data path configuration (YAML or JSON)', '/etc/sixgate/nat.yaml')
    .option('--state-file <file>', 'file the connection table lives in (mapped; survives restarts and crashes; overrides stateFile)')
    .option('--cleanup', 'on exit, remove every rule, route, filter and the TUN instead of keeping them for a restart')
    .option('--cleanup-only', 'remove everything sixgate installed and exit')
    .option('-t, --check', 'validate the configuration and exit')
    .option('--control-socket <path>', 'unix socket sixgate status and flows read this daemon through', DEFAULT_CONTROL_SOCKET)
    .addHelpText('after', `
Signals: SIGHUP re-reads the file and applies what changed; SIGUSR1 logs the
counters; SIGINT/SIGTERM/SIGQUIT stop, saving the table (or removing everything
with --cleanup). A stop or SIGHUP during start-up takes effect once start-up is
over; signals during shutdown are ignored.`);
  addVerbose(cmd);
  addLogFormat(cmd);
  cmd.addOption(serviceOption('waitUplink').default(0));
  cmd.addOption(serviceOption('workers').default(1));
  cmd.addOption(serviceOption('offload').default('auto'));
  cmd.action(async (opts: NatCliOptions) => {
      process.exitCode = await runNat(opts);
    });
}

/** Runs until a stop signal; resolves to the exit code. */
export async function runNat(opts: NatCliOptions): Promise<number> {
  const log = cliLogger(opts);
  let file;
  try {
    // A start reuses the last parse of the same text, kept beside the state file.
    file = opts.check || opts.cleanupOnly ? readDatapathConfig(opts.config) : readDatapathConfigAt(opts.config, opts.stateFile);
  } catch (err) {
    return fail(log, err);
  }
  if (opts.check) {
    log.info({ file: opts.config, networks: file.model.networks.length, published: file.model.published.length }, 'configuration is valid');
    return 0;
  }
  if (opts.cleanupOnly) {
    await cleanupHost({ uplink: file.model.uplink, tun: file.model.tun, reservedPorts: file.model.hostPortRange ?? DEFAULT_HOST_PORT_RANGE });
    log.info('cleaned up');
    return 0;
  }
  if (daemonStarting(log) !== undefined) return 0;
  let service: DatapathService | undefined;
  let delegation: PrefixDelegation | undefined;
  const stateFile = opts.stateFile ?? file.stateFile;
  try {
    // What it cannot repair later fails the start at once, one line each (as `sixgate run`).
    const problems = startupProblems({ nat66: true });
    if (problems.length > 0) throw new HostSetupError(problems);
    await findUplink(file.model.uplink, opts.waitUplink, log);
    if (file.dhcpv6Pd === true) {
      const { PrefixDelegation, delegationFile } = await import('../host/dhcpv6-pd.js');
      delegation = await PrefixDelegation.start({
        uplink: file.model.uplink, file: delegationFile(stateFile), log: log.child({ part: 'dhcpv6-pd' }), now: monotonicMs,
        onChange: () => service?.upstreamChanged(),
      });
      await firstDelegation(delegation, log);
    }
    service = await DatapathService.start({
      model: file.model, logger: log, workers: opts.workers, offload: opts.offload, ...(stateFile === undefined ? {} : { stateFile }),
      nat: natOptions(file), ...(delegation === undefined ? {} : { delegatedPrefixes: () => delegation!.prefixes() }),
    });
  } catch (err) {
    await delegation?.stop();
    return fail(log, err);
  }
  const running = service;
  // Loaded once the data path forwards: none of it is on the way to the first packet (the doctor's Docker client alone is ~70 ms).
  const [{ counterValues, natServiceMetrics }, { natOps }, { logDoctorFindings }] = await Promise.all([
    import('../service/counters.js'), import('../service/inspect.js'), import('./doctor.js'),
  ]);
  const counters = natServiceMetrics(running);
  const control = await startControlServer(opts.controlSocket, natOps(running, counters, delegation), log);
  logDoctorFindings({ uplinks: [running.model.uplink], tun: running.tun.name, skipSysctls: true }, log);
  process.send?.({ ready: true });
  return serveUntilStopped({
    reload: () => {
      try {
        // resync: re-read the kernel too, so SIGHUP also repairs rules changed behind our back.
        const next = readDatapathConfig(opts.config);
        void running.apply(next.model, { resync: true, nat: natOptions(next) }).catch((err: unknown) => {
          log.error({ err: err instanceof SixgateError ? err.message : err }, 'apply failed');
        });
      } catch (err) {
        log.error({ err: err instanceof SixgateError ? err.message : err }, 'reload failed; the previous model stays in force');
      }
    },
    counters: () => log.info({ counters: counterValues(counters) }, 'counters'),
    stop: async (signal) => {
      log.info({ signal, counters: counterValues(counters) }, 'shutting down');
      await control?.close();
      const stateFile = opts.stateFile ?? file.stateFile;
      if (opts.cleanup && stateFile !== undefined) rmSync(parseCacheFile(stateFile), { force: true });
      return running.stop({ cleanup: opts.cleanup === true })
        .then(() => delegation?.stop({ release: opts.cleanup === true }))
        .then(() => 0, (err: unknown) => fail(log, err));
    },
  });
}
