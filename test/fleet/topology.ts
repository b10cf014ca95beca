// The fleet topology of the fleet e2e test and `npm run bench -- fleet`:
// one link (a bridge in `link`, which also routes: 2001:db8:f::1) with
// three etcd members (2001:db8:f::eN) and N hosts (2001:db8:f::aN), each
// host with a container namespace behind it (ct0 <-> eth0) numbered inside
// the host's lease once it has one. A host is the bare FleetAgent
// (test/support/fleet-agent.ts) or `sixgate run --fleet` without Docker.
import { join } from 'node:path';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { Lab, type Netns } from '../support/netns.js';
import { EtcdCluster } from '../support/etcd.js';
import { waitFor } from '../support/wait.js';
import { repoRoot } from '../support/paths.js';
import { SIXGATE_PROTO } from '../../src/host/tags.js';

export const FLEET_PREFIX = '2001:db8:100::/48';
const AGENT = join(repoRoot, 'dist', 'test', 'support', 'fleet-agent.js');
const SIXGATE = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** `viaRun`: the host is `sixgate run --fleet` (no Docker engine, no NDP or NAT66), not the bare agent. */
export interface FleetHost { name: string; ns: Netns; container: Netns; uplink: string; viaRun: boolean; agent?: ChildProcess; subprefix?: string }

/** "2001:db8:100:7::/64", 2 -> "2001:db8:100:7::2" */
export function inside(subprefix: string, host: number): string {
  return `${subprefix.slice(0, subprefix.indexOf('/'))}${host}`;
}

/** The host's fleet routes: sub-prefix -> next hop. */
export function peerRoutes(ns: Netns): Map<string, string> {
  const routes = ns.ipJson<Array<{ dst: string; gateway?: string }>>('-6', 'route', 'show', 'proto', String(SIXGATE_PROTO));
  return new Map(routes.filter((r) => r.gateway !== undefined).map((r) => [r.dst, r.gateway!]));
}

/** Whether the host's process runs. */
export function running(h: FleetHost): boolean {
  return h.agent !== undefined && h.agent.exitCode === null && h.agent.signalCode === null;
}

export class FleetLab {
  readonly lab = new Lab();
  readonly hosts: FleetHost[] = [];
  readonly etcd: EtcdCluster;
  readonly ttl: number;
  readonly #state = mkdtempSync(join(tmpdir(), `sgt-fleet-${process.pid}-`));

  /** Builds the link and `hosts` hosts (those numbered in `viaRun` under `sixgate run`), and starts etcd. */
  static async create(options: { hosts: number; viaRun?: readonly number[]; ttl: number }): Promise<FleetLab> {
    const fl = new FleetLab(options);
    await fl.etcd.start();
    return fl;
  }

  private constructor(options: { hosts: number; viaRun?: readonly number[]; ttl: number }) {
    this.ttl = options.ttl;
    const { lab } = this;
    const link = lab.ns('link');
    const ports: string[] = [];
    const members = [];
    for (let i = 1; i <= 3; i++) {
      const e = lab.ns(`etcd${i}`);
      lab.veth(link, `pe${i}`, e, 'up0');
      ports.push(`pe${i}`);
      lab.addr(e, 'up0', `2001:db8:f::e${i}/64`);
      members.push({ name: `m${i}`, ns: e, address: `2001:db8:f::e${i}` });
    }
    for (let i = 1; i <= options.hosts; i++) {
      const h = lab.ns(`host${i}`);
      const c = lab.ns(`ct${i}`);
      lab.veth(link, `ph${i}`, h, 'up0');
      ports.push(`ph${i}`);
      lab.addr(h, 'up0', `2001:db8:f::a${i}/64`);
      lab.veth(h, 'ct0', c, 'eth0');
      h.sysctl('net.ipv6.conf.all.forwarding', '1');
      mkdirSync(join(this.#state, `host${i}`));
      this.hosts.push({ name: `host${i}`, ns: h, container: c, uplink: `2001:db8:f::a${i}`, viaRun: options.viaRun?.includes(i) ?? false });
    }
    lab.bridge(link, 'br0', ports);
    lab.addr(link, 'br0', '2001:db8:f::1/64');
    this.etcd = new EtcdCluster(members);
  }

  #statusFile(h: FleetHost): string {
    return join(this.#state, h.name, 'status.json');
  }

  /** The lease `sixgate run` reports in its status file, if any. */
  #reportedLease(h: FleetHost): string | undefined {
    try {
      const status = JSON.parse(readFileSync(this.#statusFile(h), 'utf8')) as { pid: number; components: Record<string, { detail?: string }> };
      return status.pid === h.agent?.pid ? /^lease (\S+)$/.exec(status.components.fleet?.detail ?? '')?.[1] : undefined;
    } catch {
      return undefined;
    }
  }

  /** Starts the host; resolves with its sub-prefix once held (and, for the agent, its routes in place). */
  async start(h: FleetHost): Promise<string> {
    const urls = this.etcd.urls;
    const child = h.viaRun
      ? h.ns.spawn(process.execPath, [SIXGATE, 'run', '--uplink', 'up0', '--no-ndp', '--no-nat66', '--docker-host', `unix://${join(this.#state, 'nodocker.sock')}`,
        '--status-file', this.#statusFile(h), '--control-socket', join(this.#state, `${h.name}.sock`), '--log-level', 'warn',
        '--fleet', urls, '--fleet-prefix', FLEET_PREFIX, '--fleet-size', '/64', '--fleet-ttl', String(this.ttl), '--fleet-host', h.name])
      : h.ns.spawn(process.execPath, [AGENT, JSON.stringify({
        etcd: { urls }, prefix: FLEET_PREFIX, size: 64, host: h.name, uplinkAddress: h.uplink,
        ttlSeconds: this.ttl, stateFile: join(this.#state, h.name, 'fleet.json'),
      })]);
    h.agent = child;
    let out = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (process.env.FLEET_DEBUG) process.stderr.write(d); });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    let exited = false;
    child.once('exit', () => { exited = true; });
    const held = (): string | undefined => h.viaRun ? this.#reportedLease(h) : /held (\S+)\n/.exec(out)?.[1];
    await waitFor(() => { if (exited) throw new Error(`${h.name} exited: ${out}`); return held() !== undefined; }, 10_000, `${h.name}'s lease`, 5);
    const subprefix = held()!;
    if (h.subprefix === undefined) {
      // The container behind the host, numbered inside the host's lease.
      h.ns.ip('-6', 'addr', 'add', `${inside(subprefix, 1)}/64`, 'dev', 'ct0', 'nodad');
      h.container.ip('-6', 'addr', 'add', `${inside(subprefix, 2)}/64`, 'dev', 'eth0', 'nodad');
      h.container.ip('-6', 'route', 'add', 'default', 'via', inside(subprefix, 1));
    }
    h.subprefix = subprefix;
    return subprefix;
  }

  /** Sends `signal` to the host and waits for it to exit (SIGKILL after 5 s: a stop that hangs fails the caller's check, not the run). */
  async stop(h: FleetHost, signal: NodeJS.Signals): Promise<void> {
    const child = h.agent!;
    if (!running(h)) return;
    const gone = once(child, 'exit');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }

  /** One ping from `from`'s container to `to`'s, from the container's own address; throws when it gets no answer. */
  ping(from: FleetHost, to: FleetHost): void {
    from.container.exec('busybox', ['ping6', '-c', '1', '-W', '1', '-I', inside(from.subprefix!, 2), inside(to.subprefix!, 2)]);
  }

  /** Every running host routes every other running host's lease via its uplink address. */
  meshComplete(): boolean {
    try {
      this.assertMesh();
      return true;
    } catch {
      return false;
    }
  }

  assertMesh(): void {
    for (const h of this.hosts) {
      if (!running(h)) continue;
      const want = new Map(this.hosts.filter((o) => o !== h && running(o)).map((o) => [o.subprefix!, o.uplink]));
      const got = peerRoutes(h.ns);
      if (JSON.stringify([...got].sort()) !== JSON.stringify([...want].sort())) {
        throw new Error(`${h.name}'s routes to the other hosts: ${JSON.stringify([...got])}, expected ${JSON.stringify([...want])}`);
      }
    }
  }

  async destroy(): Promise<void> {
    for (const h of this.hosts) h.agent?.kill('SIGKILL');
    await this.etcd.destroy();
    this.lab.destroy();
    rmSync(this.#state, { recursive: true, force: true });
  }
}
