// A real Docker engine (Debian's docker.io) for tests, inside a network
// namespace of a Lab, with its own data root, exec root and socket under
// /tmp/sgt-docker-<pid>-<seq>/. Its bridges, veths and ip6tables rules live in
// that namespace only; the root namespace is never touched.
//
// dockerd is started with nsenter --net (not `ip netns exec`, which remounts
// /sys and breaks dockerd's cgroup detection) and is NOT a Lab child: Lab
// kills its children with SIGKILL, which would orphan containerd, its shims
// and the containers. stop() kills the containers over the API first (a
// busybox `sleep` as PID 1 ignores SIGTERM, so a plain shutdown waits out
// every stop timeout), then SIGTERMs dockerd and waits for it.
// Cleanup on failure: an exit hook stops what is left; and every new
// DockerHost first sweeps dead runs' directories (their dockerd, containerd
// and shims killed, mounts detached, files removed).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, Agent } from 'undici';
import type { Lab, Netns } from './netns.js';
import { runProcess } from './process.js';
import { EngineClient } from '../../src/docker/index.js';

const ROOT = '/tmp';
const DIR_RE = /^sgt-docker-(\d+)-\d+$/;
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'];
const APPLETS = ['sh', 'sleep', 'ip', 'nc', 'httpd', 'wget', 'cat', 'ls', 'true'];
export const IMAGE = 'bb:latest';

let seq = 0;
const live = new Set<DockerHost>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** PIDs whose command line mentions `dir` (dockerd, containerd, shims of that run). */
function pidsUsing(dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function killAndWaitSync(pids: number[], signal: NodeJS.Signals, waitMs: number): void {
  for (const pid of pids) {
    try { process.kill(pid, signal); } catch { /* gone */ }
  }
  const end = Date.now() + waitMs;
  while (pids.some(alive) && Date.now() < end) execFileSync('sleep', ['0.05']);
}

/** Detaches every mount below `dir` (deepest first) and removes it. */
function removeDirSync(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4]).filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Tears down a directory's processes (TERM, then KILL) and files; synchronous for exit hooks. */
function teardownSync(dir: string): void {
  const dockerd = readPid(join(dir, 'd.pid'));
  if (dockerd !== undefined && alive(dockerd)) killAndWaitSync([dockerd], 'SIGTERM', 8_000);
  const rest = pidsUsing(dir);
  if (rest.length > 0) killAndWaitSync(rest, 'SIGKILL', 3_000);
  removeDirSync(dir);
}

/**
 * Refuses to go on when a dockerd runs in this (the root) network namespace
 * in CI: there it means a package install started one, which rewrites the
 * machine's iptables and forwarding (keep /usr/sbin/policy-rc.d exiting 101).
 */
function checkNoRootDockerd(): void {
  const here = readlinkSafe('/proc/self/ns/net');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let comm = '';
    try { comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim(); } catch { continue; }
    if (comm !== 'dockerd' || readlinkSafe(`/proc/${entry}/ns/net`) !== here) continue;
    const msg = `a dockerd (pid ${entry}) runs in the root network namespace: a package install started it?`;
    if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${msg} refusing to test next to it`);
    process.stderr.write(`warning: ${msg}\n`);
  }
}

function readlinkSafe(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/** Removes what dead test runs left behind. Returns how many directories. */
export function sweepStaleDockerHosts(): number {
  let n = 0;
  for (const entry of readdirSync(ROOT)) {
    const m = DIR_RE.exec(entry);
    if (m === null || alive(Number(m[1]))) continue;
    teardownSync(join(ROOT, entry));
    n++;
  }
  return n;
}

export interface DockerHostOptions {
  /** Extra dockerd flags (default bridge IPv6: --ipv6 --fixed-cidr-v6 fd00:d0c::/64 is always given). */
  extraArgs?: string[];
  /** How long to wait for /_ping after a start (default 30 s). */
  startTimeoutMs?: number;
}

/** A dockerd in its own namespace. */
export class DockerHost {
  readonly ns: Netns;
  readonly dir: string;
  readonly socket: string;
  readonly #args: string[];
  readonly #startTimeout: number;
  #daemon: ChildProcess | undefined;
  #log = '';
  #agent: Agent;

  private constructor(ns: Netns, dir: string, options: DockerHostOptions) {
    this.ns = ns;
    this.dir = dir;
    this.socket = join(dir, 'd.sock');
    this.#startTimeout = options.startTimeoutMs ?? 30_000;
    this.#args = [
      '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'x'), '-H', `unix://${this.socket}`,
      '--pidfile', join(dir, 'd.pid'), '--ipv6', '--fixed-cidr-v6', 'fd00:d0c::/64', '--shutdown-timeout', '1',
      '--log-level', 'warn', ...(options.extraArgs ?? []),
    ];
    this.#agent = new Agent({ connect: { socketPath: this.socket }, connections: 16 });
  }

  /** A namespace from `lab`, dockerd running in it, and the busybox image imported. */
  static async start(lab: Lab, options: DockerHostOptions = {}): Promise<DockerHost> {
    checkNoRootDockerd();
    sweepStaleDockerHosts();
    const dir = join(ROOT, `sgt-docker-${process.pid}-${seq++}`);
    mkdirSync(dir, { recursive: true });
    const host = new DockerHost(lab.ns('dhost'), dir, options);
    live.add(host);
    try {
      await host.startDaemon();
      await host.importBusybox();
    } catch (err) {
      await host.destroy();
      throw err;
    }
    return host;
  }

  /** The dockerd log so far (for failure messages). */
  get log(): string {
    return this.#log;
  }

  get running(): boolean {
    return this.#daemon !== undefined && this.#daemon.exitCode === null && this.#daemon.signalCode === null;
  }

  /** Spawns dockerd (without waiting for it). */
  spawnDaemon(): void {
    if (this.running) throw new Error('dockerd already running');
    const child = spawn('nsenter', [`--net=${this.ns.path}`, '--', 'dockerd', ...this.#args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer): void => { this.#log = (this.#log + d.toString('utf8')).slice(-20_000); };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#daemon = child;
  }

  /** Starts dockerd and waits until it answers /_ping. */
  async startDaemon(): Promise<void> {
    this.spawnDaemon();
    const end = Date.now() + this.#startTimeout;
    for (;;) {
      if (!this.running) throw new Error(`dockerd exited: ${this.#log.slice(-2000)}`);
      try {
        if ((await this.api('GET', '/_ping')).status === 200) return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > end) throw new Error(`dockerd did not answer within ${this.#startTimeout} ms: ${this.#log.slice(-2000)}`);
      await sleep(50);
    }
  }

  /** Kills every running container over the API, then stops dockerd (SIGTERM, bounded, then SIGKILL). */
  async stopDaemon(): Promise<void> {
    const child = this.#daemon;
    if (child === undefined || !this.running) return;
    try {
      const { body } = await this.api('GET', '/containers/json');
      const ids = (body as Array<{ Id: string }>).map((c) => c.Id);
      await pool(ids, 16, (id) => this.api('POST', `/containers/${id}/kill`).then(() => undefined, () => undefined));
    } catch {
      // dockerd is wedged: the signals below still stop it.
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    await this.#agent.close().catch(() => {});
    this.#agent = new Agent({ connect: { socketPath: this.socket }, connections: 16 });
  }

  /** Stops dockerd and removes its directory (mounts included). The Lab removes the namespace. */
  async destroy(): Promise<void> {
    live.delete(this);
    await this.stopDaemon().catch(() => {});
    await this.#agent.destroy().catch(() => {});
    teardownSync(this.dir);
  }

  /** One Engine API call (unversioned path, so the engine's own version). */
  async api(method: 'GET' | 'POST' | 'DELETE', path: string, json?: unknown, raw?: Buffer): Promise<{ status: number; body: unknown }> {
    const res = await request(`http://docker${path}`, {
      dispatcher: this.#agent, method,
      headers: json !== undefined ? { 'content-type': 'application/json' } : raw !== undefined ? { 'content-type': 'application/x-tar' } : {},
      body: json !== undefined ? JSON.stringify(json) : raw,
      headersTimeout: 60_000, bodyTimeout: 60_000,
    });
    const text = await res.body.text();
    let body: unknown = text;
    try { body = JSON.parse(text); } catch { /* plain text */ }
    return { status: res.statusCode, body };
  }

  /** Like api() but throws on a status >= 400. */
  async call(method: 'GET' | 'POST' | 'DELETE', path: string, json?: unknown): Promise<unknown> {
    const r = await this.api(method, path, json);
    if (r.status >= 400) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** The docker CLI against this engine (for its flag parsing: -p, -P, ranges). */
  async docker(...args: string[]): Promise<string> {
    const { code, stdout, stderr } = await runProcess('docker', ['-H', `unix://${this.socket}`, ...args]);
    if (code !== 0) throw new Error(`docker ${args.join(' ')}: ${stderr.trim()}`);
    return stdout.trim();
  }

  /** bb:latest from Debian's busybox-static: one static binary and a few applet links. */
  async importBusybox(): Promise<void> {
    const rootfs = join(this.dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    const src = BUSYBOX.find((p) => existsSync(p));
    if (src === undefined) throw new Error('busybox not found (apt-get install busybox-static)');
    copyFileSync(src, join(rootfs, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
    writeFileSync(join(rootfs, '.keep'), '');
    const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    const r = await this.api('POST', '/images/create?fromSrc=-&repo=bb&tag=latest', undefined, tar);
    if (r.status !== 200) throw new Error(`docker import: HTTP ${r.status} ${String(r.body)}`);
  }

  /** Creates and starts a `sleep` container through the API; returns its ID. */
  async runSleeper(options: { network?: string; name?: string; ports?: Record<string, Array<{ HostIp?: string; HostPort?: string }>> } = {}): Promise<string> {
    const exposed = Object.fromEntries(Object.keys(options.ports ?? {}).map((k) => [k, {}]));
    const created = await this.call('POST', `/containers/create${options.name ? `?name=${options.name}` : ''}`, {
      Image: IMAGE, Cmd: ['sleep', '3600'], StopTimeout: 1, ExposedPorts: exposed,
      HostConfig: { NetworkMode: options.network ?? 'bridge', PortBindings: options.ports ?? {} },
    }) as { Id: string };
    await this.call('POST', `/containers/${created.Id}/start`);
    return created.Id;
  }
}

/** Runs `fn` over `items` with at most `width` at a time. */
export async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

// Abnormal exits: no awaiting here, so stop what is left synchronously.
function teardownAll(): void {
  for (const host of [...live]) {
    live.delete(host);
    teardownSync(host.dir);
  }
}
process.once('exit', teardownAll);
// Prepended: it must run before test/support/netns.ts re-raises the signal.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.prependOnceListener(sig, teardownAll);

/**
 * Records each container's start time (ms, from Docker's own event timestamp)
 * by short id, from the engine's event stream, until `stop()`. The reference
 * for event-to-ready latencies.
 */
export async function watchContainerStarts(socketPath: string): Promise<{ startAt: Map<string, number>; stop(): Promise<void> }> {
  const startAt = new Map<string, number>();
  const watcher = new AbortController();
  const client = new EngineClient({ kind: 'unix', socketPath });
  const stream = await client.subscribe({ signal: watcher.signal });
  const pump = (async () => {
    try {
      for await (const ev of stream) {
        if (ev.type === 'container' && ev.action === 'start') startAt.set(ev.id.slice(0, 12), Number(BigInt(ev.timeNano) / 1000n) / 1000);
      }
    } catch {
      // Aborted at the end.
    }
  })();
  return {
    startAt,
    async stop() {
      watcher.abort();
      await pump;
      await client.close();
    },
  };
}
