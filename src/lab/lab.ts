// `sixgate lab`: build the playground, run sixgate in it, verify, print the
// checklist; then keep it (foreground until Ctrl-C, or detached until
// `sixgate lab --down`) or remove it at once (--check). The checklist and the
// hints go to `out` (stdout); diagnostics go to the pino logger (stderr).
//
// Engine choice: `docker` needs docker.io and busybox-static; `auto` takes it
// when both are there and otherwise says why and builds the static lab, which
// needs nothing but iproute2 and util-linux. A Docker lab that fails to come
// up under `auto` is removed and the static one built instead.
import { existsSync, realpathSync } from 'node:fs';
import { hasTool, run } from '../host/run.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { HostSetupError } from '../errors.js';
import { formatMac } from '../wire/address.js';
import { runChecks, formatCheck, type CheckResult } from './checks.js';
import { DOCKER_WEB_PATH, dockerUnavailable, startDocker, stopLabDocker, DOCKER_DIR } from './docker.js';
import { startStatic, type Runner } from './static.js';
import { alive } from './netns.js';
import { LAB_DIR, LOG_DIR, LabDir, teardownLab, type EngineKind, type TeardownReport } from './state.js';
import { ADDR, PUBLISHED_PORT, buildUpstream, externalAddress, newLab, UPLINK, WEB_PORT, type LabContainers } from './topology.js';

export type LabMode = 'foreground' | 'detach' | 'check';

export interface LabRunOptions {
  readonly mode: LabMode;
  readonly engine: 'auto' | EngineKind;
  readonly log: Logger;
  /** One line of the checklist or the hints (stdout). */
  readonly out: (line: string) => void;
}

export const RUNNER: Runner = {
  node: process.execPath,
  cli: fileURLToPath(new URL('../cli/main.js', import.meta.url)),
  probe: fileURLToPath(new URL('./probe.js', import.meta.url)),
};


/** What stops the lab from running here, each with what to do about it. */
export function labPrerequisites(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('sixgate lab needs root (it creates network namespaces): run it with sudo');
  if (!hasTool('ip')) problems.push('sixgate lab needs the ip command: apt-get install iproute2');
  if (!hasTool('nsenter')) problems.push('sixgate lab needs nsenter: apt-get install util-linux');
  if (!existsSync('/dev/net/tun')) problems.push('sixgate lab needs /dev/net/tun for the NAT66 data path: modprobe tun');
  return problems;
}

function checkPrerequisites(): void {
  const problems = labPrerequisites();
  if (problems.length > 0) throw new HostSetupError(problems);
}

/** Removes a lab (whatever a previous run left); returns what it found. */
export function labDown(log: Logger): Promise<TeardownReport> {
  checkPrerequisites();
  return teardownLab(log, stopLabDocker);
}

interface Built {
  readonly dir: LabDir;
  readonly engine: EngineKind;
  readonly containers: LabContainers;
  readonly checks: CheckResult[];
}

const secs = (t: number): string => `${((performance.now() - t) / 1000).toFixed(1)} s`;

async function build(engine: EngineKind, opts: LabRunOptions): Promise<Built> {
  const { out, log } = opts;
  const dir = LabDir.create();
  dir.state.engine = engine;
  if (opts.mode !== 'detach') dir.state.owner = process.pid;
  dir.save();
  const t0 = performance.now();
  const lab = newLab();
  const host = lab.ns('host');
  const { router, internet } = buildUpstream(lab, host);
  dir.spawn('internet', internet, RUNNER.node, [RUNNER.probe, 'serve', String(WEB_PORT)]);
  await dir.waitLog('internet', /ready/, 10_000);
  log.info({ engine, namespaces: lab.namespaces.map((n) => n.name) }, 'upstream built');
  const containers = engine === 'docker' ? await startDocker(host, dir, RUNNER) : await startStatic(lab, host, dir, RUNNER);
  out(engine === 'docker'
    ? `  dockerd + sixgate run in sglab-host; containers web, client (ULA ${ADDR.ula}), glob1 (global ${ADDR.global}) and lan1 (macvlan ${ADDR.lanRange}): up in ${secs(t0)}`
    : `  sixgate nat + sixgate ndp in sglab-host; container namespaces sglab-web, sglab-client (ULA ${ADDR.ula}) and sglab-glob1 (global ${ADDR.global}): up in ${secs(t0)}`);
  const t1 = performance.now();
  const checks = await runChecks({
    run: RUNNER, host, router, internet, hostMac: formatMac(host.mac(UPLINK), 0), containers,
    external: externalAddress(), webPath: engine === 'docker' ? DOCKER_WEB_PATH : '/',
  });
  for (const c of checks) out(formatCheck(c));
  const passed = checks.filter((c) => c.ok).length;
  out(`${passed}/${checks.length} checks passed in ${secs(t1)}`);
  return { dir, engine, containers, checks };
}

/**
 * How to run this sixgate in a command printed to copy: `sixgate` when the one
 * on PATH is this installation (README: npm link), else its full path.
 */
async function sixgateCommand(): Promise<string> {
  try {
    const onPath = (await run('sh', ['-c', 'command -v sixgate'])).trim();
    if (realpathSync(onPath) === realpathSync(RUNNER.cli)) return 'sixgate';
  } catch {
    // not on PATH
  }
  return `${RUNNER.node} ${RUNNER.cli}`;
}

async function hints(b: Built, out: (line: string) => void): Promise<void> {
  const sixgate = await sixgateCommand();
  const ext = externalAddress();
  const { glob1 } = b.containers;
  const ping = hasTool('ping') || !hasTool('busybox') ? 'ping' : 'busybox ping';
  const get = hasTool('curl') ? 'curl -s' : hasTool('wget') ? 'wget -qO-' : hasTool('busybox') ? 'busybox wget -qO-' : `${RUNNER.node} ${RUNNER.probe} get`;
  const web = `http://[${ext}]:${PUBLISHED_PORT}${b.engine === 'docker' ? DOCKER_WEB_PATH : '/'}`;
  out('');
  out('Poke at it (as root):');
  out(`  ip netns exec sglab-internet ${ping} -c 2 ${glob1.address}        # global container, routed; sixgate answers NDP for it`);
  out(`  ip netns exec sglab-router ip -6 neigh show dev down0         # ${ext} and ${glob1.address} resolve to sglab-host`);
  out(`  ip netns exec sglab-internet ${get} ${web}   # published port: web answers with your address`);
  if (b.engine === 'docker') {
    const docker = `docker -H unix://${join(DOCKER_DIR, 'd.sock')}`;
    out(`  ${docker} ps`);
    out(`  ${docker} exec sglab-client wget -qO- http://[${ADDR.internet}]:${WEB_PORT}/   # seen as ${ext}`);
    out(`  ${docker} run -d --network ula -p 8081:80 sglab-busybox httpd -f -p 80   # sixgate picks it up`);
    out(`  ${sixgate} health --file ${join(LAB_DIR, 'status.json')}`);
    out(`  ${sixgate} status -s ${join(LAB_DIR, 'control.sock')}   # networks, containers, proxied addresses`);
    out(`  ${sixgate} flows -s ${join(LAB_DIR, 'control.sock')}    # the NAT66 sessions, as conntrack -L`);
    out(`  config: ${join(LAB_DIR, 'sixgate.yaml')}`);
  } else {
    out(`  ip netns exec sglab-client ${ping} -c 2 ${ADDR.internet}         # out through the NAT66 as ${ext}`);
    out(`  ${sixgate} status -s ${join(LAB_DIR, 'nat.sock')}   # the NAT66 networks and published ports`);
    out(`  ${sixgate} flows -s ${join(LAB_DIR, 'nat.sock')}    # its sessions, as conntrack -L`);
    out(`  ${sixgate} ndp sessions -s ${join(LAB_DIR, 'ndp.sock')}`);
    out(`  configs: ${join(LAB_DIR, 'nat.yaml')}, ${join(LAB_DIR, 'ndppd.conf')} (edit, then kill -HUP the process)`);
  }
  out(`  logs: ${LOG_DIR}/`);
}

const reported = new Set<string>();

// A newcomer poking at the lab should hear at once when sixgate itself died.
function watchSixgate(dir: LabDir, out: (line: string) => void): void {
  for (const [name, pid] of Object.entries(dir.state.pids)) {
    if (!name.startsWith('sixgate') || reported.has(name) || alive(pid)) continue;
    reported.add(name);
    out(`✗ ${name} (pid ${pid}) exited: see ${dir.logFile(name)}`);
  }
}

function chooseEngine(opts: LabRunOptions): EngineKind {
  if (opts.engine === 'static') return 'static';
  const why = dockerUnavailable();
  if (why === undefined) return 'docker';
  if (opts.engine === 'docker') throw new HostSetupError([why]);
  opts.out(`sixgate lab: static lab (${why})`);
  return 'static';
}

/** Builds, verifies and keeps, detaches or removes the lab per `mode`; resolves to the exit code. */
export async function labUp(opts: LabRunOptions): Promise<number> {
  checkPrerequisites();
  const { out, log } = opts;
  let stopping: Promise<void> | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    stopping ??= (async () => {
      out(`\n${signal}: removing the lab...`);
      await teardownLab(log, stopLabDocker).catch((err: unknown) => log.error({ err }, 'teardown failed: run sixgate lab --down'));
      out('lab removed');
    })();
  };
  const previous = await teardownLab(log, stopLabDocker);
  if (previous.found) out(`removed the previous lab (${previous.namespaces} namespaces, ${previous.processes} processes)`);
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  // While the lab is up in the foreground a signal ends the wait below; before that, it aborts the build.
  let signalled: ((s: NodeJS.Signals) => void) | undefined;
  const onSignal = (s: NodeJS.Signals): void => {
    if (signalled !== undefined) return signalled(s);
    stop(s);
    void stopping!.then(() => process.exit(130));
  };
  for (const s of signals) process.on(s, onSignal);
  try {
    let engine = chooseEngine(opts);
    let built: Built;
    out(`sixgate lab: building the ${engine === 'docker' ? 'Docker engine' : 'static'} lab in namespaces sglab-* (the host's own network is not touched)`);
    try {
      built = await build(engine, opts);
    } catch (err) {
      if (engine !== 'docker' || opts.engine === 'docker') throw err;
      out(`sixgate lab: the Docker engine lab did not come up (${(err as Error).message.split('\n')[0]}); building the static lab instead`);
      log.warn({ err }, 'docker lab failed');
      await teardownLab(log, stopLabDocker);
      engine = 'static';
      built = await build(engine, opts);
    }
    const ok = built.checks.every((c) => c.ok);
    if (opts.mode === 'check') {
      await teardownLab(log, stopLabDocker);
      out('lab removed');
      return ok ? 0 : 1;
    }
    await hints(built, out);
    if (opts.mode === 'detach') {
      out('The lab stays up: remove it with `sixgate lab --down`.');
      return ok ? 0 : 1;
    }
    out('The lab runs until Ctrl-C, then it is removed.');
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      // Also what keeps node running: signal handlers alone do not.
      const watch = setInterval(() => watchSixgate(built.dir, out), 1000);
      signalled = (s) => { clearInterval(watch); resolve(s); };
    });
    stop(signal);
    await stopping;
    return ok ? 0 : 1;
  } catch (err) {
    if (stopping === undefined) {
      log.error({ err }, 'the lab failed; removing it');
      await teardownLab(log, stopLabDocker).catch(() => {});
    } else {
      await stopping;
    }
    throw err;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}
