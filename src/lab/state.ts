// Where a lab keeps what it started, and how `sixgate lab --down` finds and
// removes all of it, even when the state file is gone or a run was killed:
//
//   /run/sixgate-lab/state.json    engine, pids by name, Docker container IDs
//   /run/sixgate-lab/logs/*.log    each process's output (sixgate's JSON log lines)
//   /run/sixgate-lab/docker/       the namespaced Docker engine's data, exec root, socket
//   namespaces sglab-<role>        every namespace of the lab
//
// Teardown order: the Docker engine first (its containers killed over the
// API so containerd and the shims exit cleanly), then the recorded
// processes (SIGTERM, then SIGKILL), then anything still inside a lab
// namespace or running from the lab directory, then mounts and files, then
// the namespaces (their veths, bridges and TUNs go with them).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.js';
import { alive, listNetns, sh, type Netns } from './netns.js';

export const LAB_DIR = '/run/sixgate-lab';
export const LAB_NS_PREFIX = 'sglab-';
const STATE_FILE = join(LAB_DIR, 'state.json');
export const LOG_DIR = join(LAB_DIR, 'logs');

/** The fixed namespace name of a lab role. */
export function labNsName(role: string): string {
  return `${LAB_NS_PREFIX}${role}`;
}

export type EngineKind = 'static' | 'docker';

export interface LabState {
  engine?: EngineKind;
  /** The foreground `sixgate lab` process, while it runs. */
  owner?: number;
  /** Detached processes by name (sixgate, peers, dockerd). */
  pids: Record<string, number>;
  /** Docker container IDs (to find their processes if the engine died). */
  containers: string[];
  dockerSocket?: string;
}

export class LabDir {
  state: LabState = { pids: {}, containers: [] };

  /** A fresh lab directory (the caller has torn down any previous lab). */
  static create(): LabDir {
    mkdirSync(LOG_DIR, { recursive: true, mode: 0o755 });
    const dir = new LabDir();
    dir.save();
    return dir;
  }

  save(): void {
    writeFileSync(STATE_FILE, `${JSON.stringify(this.state, null, 2)}\n`);
  }

  logFile(name: string): string {
    return join(LOG_DIR, `${name}.log`);
  }

  /**
   * Starts `cmd` in namespace `ns` (a Netns or a /proc/PID/ns/net path)
   * detached from this process, output to logs/<name>.log, and records its
   * pid: it survives `sixgate lab --detach` and is found again by --down.
   */
  spawn(name: string, ns: Netns | string, cmd: string, args: readonly string[]): number {
    const path = typeof ns === 'string' ? ns : ns.path;
    const out = openSync(this.logFile(name), 'a');
    try {
      const child = spawn('nsenter', [`--net=${path}`, '--', cmd, ...args], { detached: true, stdio: ['ignore', out, out], cwd: '/', env: labEnv() });
      child.on('error', () => { /* reported through the log file and readiness wait */ });
      child.unref();
      if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
      this.state.pids[name] = child.pid;
      this.save();
      return child.pid;
    } finally {
      closeSync(out);
    }
  }

  /** Resolves once logs/<name>.log matches `ready`; rejects with the log's tail when the process exits or time runs out. */
  async waitLog(name: string, ready: RegExp, timeoutMs: number): Promise<void> {
    const pid = this.state.pids[name];
    const end = Date.now() + timeoutMs;
    for (;;) {
      const text = this.readLog(name);
      if (ready.test(text)) return;
      if (pid !== undefined && !alive(pid)) throw new Error(`${name} exited before it was ready:\n${tail(text)}`);
      if (Date.now() > end) throw new Error(`${name} not ready within ${timeoutMs} ms:\n${tail(text)}`);
      await sleep(20);
    }
  }

  readLog(name: string): string {
    try {
      return readFileSync(this.logFile(name), 'utf8');
    } catch {
      return '';
    }
  }
}

// The lab's processes take their settings from the lab's files only, never
// from a SIXGATE_* or DOCKER_* variable meant for the host's own daemons.
function labEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIXGATE_') && !k.startsWith('DOCKER_')));
}

function tail(text: string, lines = 15): string {
  return text.trimEnd().split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
}

function readState(): LabState | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** The namespaces of the lab that exist now. */
export function labNamespaces(): string[] {
  return listNetns().filter((n) => n.startsWith(LAB_NS_PREFIX));
}

function pidList(): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => p !== process.pid);
}

function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Processes inside a lab namespace, running from the lab directory, or in a lab container's cgroup. */
export function labProcesses(containers: readonly string[] = []): number[] {
  const inodes = new Set<string>();
  for (const name of labNamespaces()) {
    try {
      inodes.add(`net:[${statSync(`/run/netns/${name}`).ino}]`);
    } catch {
      // Deleted meanwhile.
    }
  }
  const out: number[] = [];
  for (const pid of pidList()) {
    let net = '';
    try { net = readlinkSync(`/proc/${pid}/ns/net`); } catch { continue; }
    if (inodes.has(net) || readOr(`/proc/${pid}/cmdline`).includes(LAB_DIR)) {
      out.push(pid);
      continue;
    }
    if (containers.length > 0) {
      const cg = readOr(`/proc/${pid}/cgroup`);
      if (containers.some((id) => cg.includes(id))) out.push(pid);
    }
  }
  return out;
}

async function killAndWait(pids: readonly number[], signal: NodeJS.Signals, waitMs: number): Promise<number[]> {
  for (const pid of pids) {
    try { process.kill(pid, signal); } catch { /* gone */ }
  }
  const end = Date.now() + waitMs;
  while (pids.some(alive) && Date.now() < end) await sleep(20);
  return pids.filter(alive);
}

export interface TeardownReport {
  namespaces: number;
  processes: number;
  mounts: number;
  /** Whether there was anything to remove at all. */
  found: boolean;
}

/**
 * Removes every trace of a lab (idempotent): what state.json records, and
 * whatever a killed run left that the fixed names and the lab directory
 * still identify. `stopEngine` stops a namespaced dockerd cleanly first.
 */
export async function teardownLab(log: Logger, stopEngine: (socket: string, pid: number | undefined) => Promise<void>): Promise<TeardownReport> {
  const state = readState();
  const namespaces = labNamespaces();
  const report: TeardownReport = { namespaces: 0, processes: 0, mounts: 0, found: state !== undefined || namespaces.length > 0 || existsSync(LAB_DIR) };
  if (state?.owner !== undefined && state.owner !== process.pid && alive(state.owner)) {
    // A foreground lab still running: stop it first so it does not tear down under our feet.
    log.info({ pid: state.owner }, 'stopping the running sixgate lab');
    await killAndWait([state.owner], 'SIGTERM', 20_000);
  }
  if (state?.dockerSocket !== undefined && existsSync(state.dockerSocket)) {
    await stopEngine(state.dockerSocket, state.pids.dockerd).catch((err: unknown) => log.warn({ err }, 'the lab Docker engine did not stop cleanly'));
  }
  const recorded = Object.values(state?.pids ?? {}).filter(alive);
  const stubborn = await killAndWait(recorded, 'SIGTERM', 5_000);
  await killAndWait(stubborn, 'SIGKILL', 2_000);
  report.processes += recorded.length;
  for (let round = 0; round < 3; round++) {
    const rest = labProcesses(state?.containers ?? []);
    if (rest.length === 0) break;
    log.debug({ pids: rest }, 'killing what is left in the lab');
    report.processes += rest.length;
    await killAndWait(rest, 'SIGKILL', 3_000);
  }
  removeContainerCgroups(state?.containers ?? []);
  report.mounts = unmountBelow(LAB_DIR);
  rmSync(LAB_DIR, { recursive: true, force: true });
  for (const name of labNamespaces()) {
    try {
      sh('ip', ['netns', 'del', name]);
      report.namespaces++;
    } catch (err) {
      log.warn({ err, name }, 'could not delete a lab namespace');
    }
  }
  return report;
}

const CGROUP_ROOT = '/sys/fs/cgroup';

// A killed engine leaves its containers' (empty) cgroups behind: cgroupfs
// driver under docker/<id>, systemd driver as system.slice/docker-<id>.scope;
// per controller on cgroup v1, once on v2. rmdir removes only empty ones.
function removeContainerCgroups(ids: readonly string[]): void {
  if (ids.length === 0) return;
  let roots: string[];
  try {
    roots = [CGROUP_ROOT, ...readdirSync(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c))];
  } catch {
    return;
  }
  for (const root of roots) {
    for (const id of ids) {
      for (const dir of [join(root, 'docker', id), join(root, 'system.slice', `docker-${id}.scope`)]) {
        try { rmdirSync(dir); } catch { /* absent or in use */ }
      }
    }
  }
}

/** Detaches every mount at or below `dir`, deepest first. Returns how many. */
function unmountBelow(dir: string): number {
  const mounts = readOr('/proc/self/mountinfo').split('\n')
    .map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  let n = 0;
  for (const m of mounts) {
    try {
      sh('umount', ['-l', m]);
      n++;
    } catch {
      // Gone with its parent.
    }
  }
  return n;
}
