// `sixgate run` (the default command): the Docker feed, the NDP proxy and
// the NAT66 data path in one daemon. Every option is a flag, a SIXGATE_*
// variable and a key of the YAML file (src/config/options.ts), with
// flag > env > file > default. Signals: SIGHUP re-reads the configuration
// (an invalid one is one error line and the old one stays), then resyncs
// with the engine and the host; SIGUSR1 logs the counters; SIGINT, SIGTERM
// and SIGQUIT stop (removing routes, rules and the TUN only with --cleanup);
// signals.ts routes them, during start-up and shutdown too.
// Exit codes: 0 stopped by a signal, 1 run-time failure, 2 usage or configuration error.
import { Command, Option } from 'commander';
import { monotonicMs } from '../io/ring.js';
import { createLogger, type Logger } from '../log.js';
import { ConfigError, SixgateError } from '../errors.js';
import { OPTIONS, RESTART_OPTIONS, attributeOf, type ServiceConfig } from '../config/options.js';
import { loadServiceConfig, parseOptionText, type ConfigLayer, type LoadedConfig } from '../config/load.js';
// Types only: the daemon's modules (the Docker client, metrics...) load when
// `run` runs, so the other commands, `nat` above all, start without them.
import type { SixgateDaemon } from '../service/daemon.js';
import type { MetricsEndpoint } from '../service/metrics.js';
import type { HealthFile } from '../service/health.js';
import { fail } from './exit.js';
import { logDoctorFindings } from './doctor.js';
import { addVerbose, optionHelp, requestedLogFormat, verboseLevel, VERBOSE_HELP } from './shared-options.js';
import { daemonStarting, serveUntilStopped } from './signals.js';

/** Adds every service option as a flag (booleans with a --no- twin). */
export function addServiceOptions(cmd: Command): Command {
  for (const o of OPTIONS) {
    const help = optionHelp(o);
    if (o.kind === 'boolean') {
      cmd.addOption(new Option(o.flag, help));
      cmd.addOption(new Option(o.flag.replace('--', '--no-'), `turn off: ${o.description}`));
    } else {
      const option = new Option(o.flag, help);
      cmd.addOption(o.values === undefined ? option : option.choices(o.values));
    }
  }
  return cmd;
}

/** The flags actually given on the command line, parsed. */
export function flagLayer(cmd: Command): ConfigLayer {
  const out: Record<string, unknown> = {};
  const values = cmd.opts<Record<string, unknown>>();
  for (const o of OPTIONS) {
    const attr = attributeOf(o);
    if (cmd.getOptionValueSource(attr) !== 'cli') continue;
    const v = values[attr];
    out[o.key] = o.kind === 'boolean' ? v === true : parseOptionText(o, String(v), o.flag.split(' ')[0]!);
  }
  return out as ConfigLayer;
}

export function registerRun(program: Command): void {
  const cmd = program
    .command('run', { isDefault: true })
    .description('the daemon: Docker feed + NDP proxy + NAT66 (the default command)')
    .option('-c, --config <file>', 'YAML configuration file [env SIXGATE_CONFIG; default /etc/sixgate/sixgate.yaml if present]')
    .option('--print-config', 'print the merged configuration (with where each value came from) and exit')
    .addHelpText('after', `
Signals: SIGHUP re-reads the configuration (file and SIXGATE_* variables; flags
stay), resyncs with Docker and re-applies the routes. Changes to
${RESTART_OPTIONS.map((k) => OPTIONS.find((o) => o.key === k)!.flag.split(' ')[0]).join(', ')}
need a restart (their old values stay until then); the others apply at once.
SIGUSR1 logs the counters; SIGINT/SIGTERM/SIGQUIT stop. A stop or SIGHUP during
start-up takes effect once start-up is over; signals during shutdown are ignored.`);
  addVerbose(cmd, `${VERBOSE_HELP}; overrides --log-level`);
  addServiceOptions(cmd);
  cmd.action(async (opts: { config?: string; verbose: number; printConfig?: boolean }) => {
    let loaded: LoadedConfig;
    const load = (): LoadedConfig => loadServiceConfig({ flags: flagLayer(cmd), ...(opts.config === undefined ? {} : { configFile: opts.config }) });
    const verbose = (c: ServiceConfig): ServiceConfig => ({ ...c, logLevel: verboseLevel(opts.verbose, c.logLevel) });
    try {
      loaded = load();
    } catch (err) {
      process.exitCode = fail(createLogger({ format: requestedLogFormat(cmd.opts<{ logFormat?: string }>().logFormat) }), err);
      return;
    }
    if (opts.printConfig) {
      process.stdout.write(`${JSON.stringify({ config: loaded.config, sources: loaded.sources, file: loaded.file ?? null }, null, 2)}\n`);
      return;
    }
    process.exitCode = await runService(verbose(loaded.config), loaded.file, () => verbose(load().config));
  });
}

/**
 * Runs the daemon until a stop signal; resolves to the exit code. `reload`
 * reads the configuration again on SIGHUP (throws ConfigError when invalid).
 */
export async function runService(config: ServiceConfig, file?: string, reload?: () => ServiceConfig): Promise<number> {
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  const [{ SixgateDaemon }, { startMetrics }, { startHealthFile }, { SystemdNotifier }, { counterValues, runMetrics }, { startControlServer }, { runOps }] = await Promise.all([
    import('../service/daemon.js'), import('../service/metrics.js'), import('../service/health.js'), import('../service/notify.js'),
    import('../service/counters.js'), import('../service/control.js'), import('../service/inspect.js'),
  ]);
  if (file !== undefined) log.info({ file }, 'configuration read');
  if (daemonStarting(log) !== undefined) return 0;
  const notifier = new SystemdNotifier({ onError: (err) => log.warn(err.message) });
  let daemon: SixgateDaemon;
  try {
    daemon = await SixgateDaemon.start({ config, log, now: monotonicMs });
  } catch (err) {
    return fail(log, err);
  }
  const counters = runMetrics(daemon);
  let metrics: MetricsEndpoint | undefined;
  let health: HealthFile | undefined;
  try {
    if (config.metricsListen !== undefined) metrics = await startMetrics(config.metricsListen, counters, log);
  } catch (err) {
    await daemon.stop();
    return fail(log, err);
  }
  try {
    health = startHealthFile(config.statusFile, () => daemon.status(), {
      onError: (err) => log.warn(`status file ${config.statusFile}: ${err.message}`),
      counters: () => counterValues(counters),
    });
  } catch (err) {
    log.warn(`status file ${config.statusFile}: ${(err as Error).message}; sixgate health will report it as not running`);
  }
  const control = await startControlServer(config.controlSocket, runOps(daemon, counters), log);
  // Docker's settings come from the feed's own log lines; the NAT66 data path checks the sysctls it needs.
  logDoctorFindings({ uplinks: [daemon.uplink], tun: config.tun, skipSysctls: config.nat66 }, log);
  const stopWatchdog = notifier.startWatchdog();
  // Ready for systemd once the first resync is done, or at once if the engine is not up yet:
  // sixgate serves what it can meanwhile (health says degraded until Docker answers).
  void Promise.race([daemon.feed.ready(), new Promise((r) => setTimeout(r, 2_000).unref())]).then(() => {
    health?.refresh();
    void notifier.ready(`uplink ${daemon.uplink}`);
    process.send?.({ ready: true });
  }, () => {});
  return serveUntilStopped({
    reload: () => {
      if (reload !== undefined) {
        try {
          daemon.reconfigure(reload());
        } catch (err) {
          const msg = err instanceof SixgateError ? err.message : String((err as Error)?.message ?? err);
          log.error({ code: err instanceof SixgateError ? err.code : undefined }, `configuration not reloaded, the previous one stays in force: ${msg}`);
        }
      }
      void daemon.resync().catch((err: unknown) => log.error({ err }, 'resync failed'));
    },
    counters: () => log.info({ counters: counterValues(counters) }, 'counters'),
    stop: async (signal) => {
      log.info({ signal, cleanup: daemon.config.cleanup }, 'shutting down');
      void notifier.stopping();
      stopWatchdog();
      await control?.close();
      let code = 0;
      try {
        await daemon.stop();
      } catch (err) {
        code = fail(log, err);
      }
      await metrics?.close();
      health?.stop();
      log.info('stopped');
      return code;
    },
  });
}
