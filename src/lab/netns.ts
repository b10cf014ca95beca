// Network namespaces as a building kit, for `sixgate lab` and the end-to-end
// tests. Interfaces are created directly inside their namespaces (`ip -n`),
// so nothing is ever added to, changed in or removed from the root
// namespace; per-namespace sysctls are written through /proc/sys from inside
// the namespace (nsenter + sh), so only iproute2 and util-linux are needed.
//
// Two naming schemes:
//  - ephemeral (tests, the default): sgt-<pid>-<seq>-<role>, so parallel and
//    stale runs never collide and a later run can tell a dead run's leftovers
//    (pid gone) from a live run's; destroy() runs from an exit hook for
//    anything left, and dead runs' namespaces are swept whenever a Lab is made;
//  - fixed (`sixgate lab`): a caller-given name per role (sglab-<role>), so a
//    later `sixgate lab --down` finds exactly the lab's namespaces.
//
// Addresses: use 2001:db8::/32 and fdXX: ULA prefixes, inside these
// namespaces only.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { withNetns } from '../io/netif.js';

export const NS_PREFIX = 'sgt-';
const NS_RE = /^sgt-(\d+)-/;
const NETNS_DIR = '/run/netns';

let seq = 0;
const live = new Set<Lab>();
let hooked = false;

/** Runs a command to completion and returns its stdout; throws with its stderr on failure. */
export function sh(cmd: string, args: readonly string[], timeoutMs = 10_000, input?: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Names of the namespaces `ip netns` knows. */
export function listNetns(): string[] {
  return sh('ip', ['-o', 'netns', 'list']).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

/** Deletes ephemeral namespaces whose creating process is gone. Returns how many. */
export function sweepStale(): number {
  let removed = 0;
  for (const name of listNetns()) {
    const m = NS_RE.exec(name);
    if (m === null || alive(Number(m[1]))) continue;
    try {
      sh('ip', ['netns', 'del', name]);
      removed++;
    } catch {
      // Someone else's sweep got there first.
    }
  }
  return removed;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class Netns {
  readonly name: string;
  readonly path: string;
  readonly #children = new Set<ChildProcess>();

  constructor(name: string, path = `${NETNS_DIR}/${name}`) {
    this.name = name;
    this.path = path;
  }

  /** Runs a command inside the namespace and returns its stdout; throws with stderr on failure. */
  exec(cmd: string, args: readonly string[] = [], timeoutMs = 10_000, input?: string): string {
    return sh('nsenter', [`--net=${this.path}`, '--', cmd, ...args], timeoutMs, input);
  }

  /** `ip -n <ns> ...` */
  ip(...args: string[]): string {
    return sh('ip', ['-n', this.name, ...args]);
  }

  /** `ip -j -n <ns> ...` parsed. */
  ipJson<T = unknown>(...args: string[]): T {
    return JSON.parse(sh('ip', ['-j', '-n', this.name, ...args])) as T;
  }

  /** A per-namespace sysctl (net.*), e.g. sysctl('net.ipv6.conf.all.forwarding', '1'). */
  sysctl(key: string, value: string): void {
    if (!/^net\.[A-Za-z0-9_.-]+$/.test(key)) throw new RangeError(`not a per-namespace sysctl: ${key}`);
    // /proc/sys/net is resolved in the namespace of the process that opens it.
    this.exec('sh', ['-c', 'printf %s "$1" > "$2"', 'sh', value, `/proc/sys/${key.replace(/\./g, '/')}`]);
  }

  /** Starts a long-running command inside the namespace; killed by killChildren() if still running. */
  spawn(cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('nsenter', [`--net=${this.path}`, '--', cmd, ...args], { stdio: 'pipe', ...options });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Runs a command to completion (bounded by `timeoutMs`, then SIGKILL). Never throws on exit status. */
  run(cmd: string, args: readonly string[] = [], timeoutMs = 30_000): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = this.spawn(cmd, args);
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (err) => { clearTimeout(timer); reject(err); });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
    });
  }

  /** Runs an ES module given as source text with this node, inside the namespace (bounded by `timeoutMs`). */
  node(code: string, timeoutMs = 30_000): Promise<RunResult> {
    return this.run(process.execPath, ['--input-type=module', '-e', code], timeoutMs);
  }

  /** Runs `fn` synchronously with this thread inside the namespace (sockets/TUNs it opens stay there). */
  enter<T>(fn: () => T): T {
    return withNetns(this.path, fn);
  }

  /** The interface's index inside this namespace. */
  ifindex(dev: string): number {
    const [link] = this.ipJson<Array<{ ifindex: number }>>('link', 'show', 'dev', dev);
    return link!.ifindex;
  }

  /** The interface's MAC address inside this namespace, as bytes. */
  mac(dev: string): Uint8Array {
    const [link] = this.ipJson<Array<{ address: string }>>('link', 'show', 'dev', dev);
    return Uint8Array.from(link!.address.split(':').map((h) => parseInt(h, 16)));
  }

  killChildren(): void {
    for (const child of this.#children) child.kill('SIGKILL');
    this.#children.clear();
  }
}

export interface AddrOptions {
  /** Skip duplicate address detection so the address is usable at once (default true). */
  nodad?: boolean;
}

export interface LabOptions {
  /**
   * The namespace name for a role. Given: fixed names, no sweep and no exit
   * hook (the caller owns cleanup). Absent: ephemeral sgt-<pid>-<seq>-<role>.
   */
  name?: (role: string) => string;
}

/** A set of namespaces that live and die together. */
export class Lab {
  readonly namespaces: Netns[] = [];
  readonly #name: ((role: string) => string) | undefined;
  #destroyed = false;

  constructor(options: LabOptions = {}) {
    this.#name = options.name;
    if (this.#name === undefined) {
      sweepStale();
      live.add(this);
      hookExit();
    }
  }

  /** A fresh namespace with lo up, DAD and router advertisements off (quiet, instant addresses). */
  ns(role: string): Netns {
    if (this.#destroyed) throw new Error('lab already destroyed');
    if (!/^[a-z0-9]{1,12}$/.test(role)) throw new RangeError(`namespace role must be [a-z0-9]{1,12}: ${role}`);
    const ns = new Netns(this.#name?.(role) ?? `${NS_PREFIX}${process.pid}-${seq++}-${role}`);
    sh('ip', ['netns', 'add', ns.name]);
    this.namespaces.push(ns);
    ns.ip('link', 'set', 'lo', 'up');
    for (const scope of ['all', 'default']) {
      ns.sysctl(`net.ipv6.conf.${scope}.accept_dad`, '0');
      ns.sysctl(`net.ipv6.conf.${scope}.accept_ra`, '0');
    }
    return ns;
  }

  /** A veth pair a:aDev <-> b:bDev, created inside `a` with the peer placed in `b`; both up. */
  veth(a: Netns, aDev: string, b: Netns, bDev: string, mtu?: number): void {
    a.ip('link', 'add', aDev, ...(mtu ? ['mtu', String(mtu)] : []), 'type', 'veth', 'peer', 'name', bDev, 'netns', b.name,
      ...(mtu ? ['mtu', String(mtu)] : []));
    a.ip('link', 'set', aDev, 'up');
    b.ip('link', 'set', bDev, 'up');
  }

  /** A bridge in `ns`, up, with `ports` enslaved. */
  bridge(ns: Netns, name: string, ports: readonly string[] = []): void {
    ns.ip('link', 'add', name, 'type', 'bridge');
    for (const port of ports) ns.ip('link', 'set', port, 'master', name);
    ns.ip('link', 'set', name, 'up');
  }

  addr(ns: Netns, dev: string, cidr: string, options: AddrOptions = {}): void {
    const v6 = cidr.includes(':');
    ns.ip(...(v6 ? ['-6'] : []), 'addr', 'add', cidr, 'dev', dev, ...(v6 && (options.nodad ?? true) ? ['nodad'] : []));
  }

  /** Kills children and deletes every namespace (idempotent). Devices inside go with them. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    for (const ns of this.namespaces) ns.killChildren();
    for (const ns of this.namespaces) {
      try {
        sh('ip', ['netns', 'del', ns.name]);
      } catch {
        // Already gone; the sweep handles anything odd.
      }
    }
  }
}

function destroyAll(): void {
  for (const lab of [...live]) lab.destroy();
}

// Only ephemeral labs install these: `sixgate lab` handles its own signals
// (its teardown is asynchronous: it stops a Docker engine first).
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', destroyAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      destroyAll();
      process.kill(process.pid, sig);
    });
  }
}
