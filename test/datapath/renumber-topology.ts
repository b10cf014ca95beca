// The renumbering topology, shared by test/datapath/renumber.test.ts and
// bench/renumber.ts:
//
//   c1 fd66:1::2/64 ─ br0 ─ gw ─ up0 (SLAAC) ══ down0 ─ rt ─ out0 ══ inet 2001:db8:2::2
//   c2 fd66:7::2/80 ─ br1 ─┘                    radvd
//
// rt runs radvd on down0 and holds an address in every prefix it may
// announce (2001:db8:1::/64, 2001:db8:9::/64, ...), so it reaches gw's
// external addresses on the link through NDP, which sixgate answers. gw
// forwards and takes its address and default route from the RAs
// (accept_ra=2), as a Docker host on a home or office LAN does; sixgate runs
// there as `sixgate nat` (a child process). `announce` rewrites radvd's
// file and sends it SIGHUP: radvd then sends an RA at once. `startKea` runs
// a DHCPv6 server delegating /56s of a /48 on down0 (short lifetimes: T1 2 s,
// T2 3 s, valid 6 s); started again with another pool, it moves the client
// at its next renewal.
import { writeFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatLab } from './topology.js';
import type { Netns } from '../support/netns.js';
import { parseIpv6Prefix, formatIpv6 } from '../../src/wire/address.js';
import { autoNptPrefix, pickDedicated } from '../../src/datapath/resolve.js';

export const R = {
  c1: 'fd66:1::2', c2: 'fd66:7::2', inet: '2001:db8:2::2', rtOut: '2001:db8:2::1',
} as const;

/** A prefix as radvd announces it (lifetimes in seconds). */
export interface Announced {
  readonly prefix: string;
  readonly valid: number;
  readonly preferred: number;
}

/** radvd on `rt`'s down0, run by hand (never as a service); `announce` rewrites its file and sends SIGHUP (radvd then sends an RA at once). */
export class Radvd {
  private child: ChildProcess | undefined;
  private readonly file: string;
  log = '';

  constructor(private readonly rt: Netns) {
    this.file = `/tmp/${rt.name}-radvd.conf`;
  }

  /** Makes radvd announce exactly `prefixes` (starting it the first time). */
  announce(prefixes: readonly Announced[]): void {
    const body = prefixes.map((p) => `  prefix ${p.prefix} { AdvValidLifetime ${p.valid}; AdvPreferredLifetime ${p.preferred}; };`);
    writeFileSync(this.file, `interface down0 {
  AdvSendAdvert on; MinRtrAdvInterval 3; MaxRtrAdvInterval 4; AdvDefaultLifetime 60;
${body.join('\n')}
};
`);
    if (this.child === undefined) {
      this.child = this.rt.spawn('radvd', ['-n', '-C', this.file, '-p', `${this.file}.pid`, '-m', 'stderr']);
      this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.log += d; });
      return;
    }
    this.child.kill('SIGHUP');
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    for (const f of [this.file, `${this.file}.pid`]) rmSync(f, { force: true });
  }
}

/**
 * Kea (kea-dhcp6) on `rt`'s down0, run by hand: delegates /56s of a /48
 * with short lifetimes (T1 2 s, T2 3 s, valid 6 s); started again with
 * another pool, it moves the client at its next renewal (its lease file stays).
 */
export class Kea {
  private child: ChildProcess | undefined;
  private readonly file: string;
  log = '';

  constructor(private readonly rt: Netns) {
    this.file = `/tmp/${rt.name}-kea`;
  }

  async start(pool: string, onLink: string): Promise<void> {
    this.stop();
    writeFileSync(`${this.file}.json`, JSON.stringify({
      Dhcp6: {
        'interfaces-config': { interfaces: ['down0'] },
        'server-id': { type: 'EN', 'enterprise-id': 2495, identifier: '0102030405', persist: false },
        'lease-database': { type: 'memfile', persist: true, name: `${this.file}-leases.csv`, 'lfc-interval': 0 },
        'renew-timer': 2, 'rebind-timer': 3, 'preferred-lifetime': 4, 'valid-lifetime': 6,
        subnet6: [{ id: 1, subnet: onLink, interface: 'down0', 'pd-pools': [{ prefix: pool, 'prefix-len': 48, 'delegated-len': 56 }] }],
        loggers: [{ name: 'kea-dhcp6', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
      },
    }));
    const seen = this.log.length;
    this.child = this.rt.spawn('kea-dhcp6', ['-c', `${this.file}.json`], { env: { ...process.env, KEA_LOCKFILE_DIR: 'none', KEA_PIDFILE_DIR: '/tmp' } });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.log += d; });
    const end = Date.now() + 5000;
    while (!this.log.slice(seen).includes('DHCP6_STARTED')) {
      if (Date.now() > end) throw new Error(`Kea did not start:\n${this.log.slice(seen)}`);
      await sleep(20);
    }
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }

  /** Stops it and removes its files. */
  remove(): void {
    this.stop();
    for (const f of [`${this.file}.json`, `${this.file}-leases.csv`]) rmSync(f, { force: true });
  }
}

/** `ns`'s global addresses on `dev` that are not deprecated. */
export function preferredAddresses(ns: Netns, dev: string): string[] {
  const [link] = ns.ipJson<Array<{ addr_info: Array<{ local?: string; scope?: string; deprecated?: boolean }> }>>('-6', 'addr', 'show', 'dev', dev);
  return (link?.addr_info ?? []).filter((a) => a.scope === 'global' && a.deprecated !== true).map((a) => a.local!);
}

/** Waits until `ns` has a preferred address in the /64 `prefix` on `dev` (SLAAC from the RA). */
export async function waitForPrefix(ns: Netns, dev: string, prefix: string, timeoutMs = 5000): Promise<void> {
  const p = prefix.replace('::/64', ':');
  const end = Date.now() + timeoutMs;
  while (!preferredAddresses(ns, dev).some((a) => a.startsWith(p))) {
    if (Date.now() > end) throw new Error(`${ns.name} got no address in ${prefix}:\n${ns.ip('-6', 'addr', 'show', 'dev', dev)}`);
    await sleep(20);
  }
}

/** The dedicated address sixgate picks for network `name` in `prefix` (resolve.ts pickDedicated). */
export function dedicatedIn(prefix: string, name: string): string {
  const p = parseIpv6Prefix(prefix);
  return formatIpv6(pickDedicated(p.address, p.length, name, []), 0);
}

/** The range sixgate maps NPTv6 network `name` (inside `inside`) to while the uplink of `ns` is in `prefix` (resolve.ts autoNptPrefix). */
export function autoRangeIn(ns: Netns, dev: string, prefix: string, name: string, inside: string): string {
  const own = prefix.replace('::/64', ':');
  const uplinkAddresses = preferredAddresses(ns, dev).filter((a) => a.startsWith(own)).map((address) => ({ address, prefixLength: 64 }));
  return autoNptPrefix(name, inside, { uplinkAddresses }, []).prefix;
}

export class RenumberLab extends NatLab {
  private readonly radvd: Radvd;

  /** `prefixes`: every prefix the router may announce (it holds ::1 in each). */
  constructor(prefixes: readonly string[]) {
    super({ bare: true, withNpt: false, withInet2: false });
    const { lab, gw, rt, inet, c1, c2 } = this;
    // Each container alone on its bridge, the bridge's address its default gateway.
    for (const [c, port, bridge, gateway, address, length] of [[c1, 'vc1', 'br0', 'fd66:1::1', R.c1, 64], [c2, 'vc2', 'br1', 'fd66:7::1', R.c2, 80]] as const) {
      lab.veth(c, 'eth0', gw, port);
      lab.bridge(gw, bridge, [port]);
      lab.addr(gw, bridge, `${gateway}/${length}`);
      lab.addr(c, 'eth0', `${address}/${length}`);
      c.ip('-6', 'route', 'add', 'default', 'via', gateway);
    }
    gw.sysctl('net.ipv6.conf.all.forwarding', '1');
    lab.veth(gw, 'up0', rt, 'down0');
    gw.sysctl('net.ipv6.conf.up0.accept_ra', '2');
    for (const p of prefixes) lab.addr(rt, 'down0', `${p.replace('::/64', '::1/64')}`);
    lab.veth(rt, 'out0', inet, 'eth0');
    lab.addr(rt, 'out0', `${R.rtOut}/64`);
    lab.addr(inet, 'eth0', `${R.inet}/64`);
    inet.ip('-6', 'route', 'add', 'default', 'via', R.rtOut);
    rt.sysctl('net.ipv6.conf.all.forwarding', '1');
    this.radvd = new Radvd(rt);
    this.kea = new Kea(rt);
  }

  /** Makes the router announce exactly `prefixes`. */
  announce(prefixes: readonly Announced[]): void {
    this.radvd.announce(prefixes);
  }

  private readonly kea: Kea;

  /** (Re)starts Kea delegating /56s of `pool`/48 on the `onLink` subnet (see Kea). */
  startKea(pool: string, onLink: string): Promise<void> {
    return this.kea.start(pool, onLink);
  }

  stopKea(): void {
    this.kea.stop();
  }

  get keaLog(): string {
    return this.kea.log;
  }

  /** Waits until gw has a preferred address in `prefix` (SLAAC from the RA). */
  waitForPrefix(prefix: string): Promise<void> {
    return waitForPrefix(this.gw, 'up0', prefix);
  }

  /** The range sixgate maps NPTv6 network `name` (inside fd66:7::/80) to when the uplink is in `prefix`. */
  autoRange(prefix: string, name: string): string {
    return autoRangeIn(this.gw, 'up0', prefix, name, 'fd66:7::/80');
  }

  /** The dedicated address sixgate picks for network `name` in `prefix`. */
  dedicated(prefix: string, name: string): string {
    return dedicatedIn(prefix, name);
  }

  override destroy(): void {
    this.radvd.stop();
    this.kea.remove();
    super.destroy();
  }
}

/** A TCP server answering every line with "peer ADDR LINE". */
export function lineEchoCode(port: number): string {
  return `import net from 'node:net';
net.createServer((s) => {
  s.on('error', () => {});
  let buf = '';
  s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { s.write('peer ' + s.remoteAddress + ' ' + buf.slice(0, i) + '\\n'); buf = buf.slice(i + 1); } });
}).listen(${port}, '::', () => console.log('ready'));`;
}

/** A TCP client: sends one line, prints the address the server saw (JSON {peer} or {error}). */
export function lineClientCode(host: string, port: number, timeoutMs = 1500): string {
  return `import net from 'node:net';
const s = net.connect({ host: '${host}', port: ${port} }, () => s.write('hi\\n'));
s.setTimeout(${timeoutMs}, () => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(1); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
let buf = ''; s.on('data', (d) => { buf += d; const m = /^peer (\\S+)/.exec(buf); if (m && buf.includes('\\n')) { console.log(JSON.stringify({ peer: m[1] })); process.exit(0); } });`;
}

/**
 * A connection kept open across the test: each `ask()` sends a line and
 * resolves with the peer address the server saw, or "error ..." when the
 * connection broke or did not answer within a second.
 */
export class LongConnection {
  private buffered = '';
  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.buffered += d; });
  }

  static async open(ns: Netns, host: string, port: number): Promise<LongConnection> {
    const child = ns.spawn(process.execPath, ['--input-type=module', '-e', `import net from 'node:net';
import readline from 'node:readline';
const s = net.connect({ host: '${host}', port: ${port} }, () => console.log('open'));
s.on('error', (e) => console.log('error ' + e.code));
s.on('close', () => console.log('error closed'));
let buf = ''; s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { console.log(buf.slice(0, i)); buf = buf.slice(i + 1); } });
readline.createInterface({ input: process.stdin }).on('line', (l) => s.write(l + '\\n'));`]);
    const c = new LongConnection(child);
    const line = await c.next(3000);
    if (line !== 'open') throw new Error(`connection did not open: ${line}`);
    return c;
  }

  private async next(timeoutMs: number): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (!this.buffered.includes('\n')) {
      if (Date.now() > end) return 'error timeout';
      await sleep(10);
    }
    const i = this.buffered.indexOf('\n');
    const line = this.buffered.slice(0, i);
    this.buffered = this.buffered.slice(i + 1);
    return line;
  }

  async ask(): Promise<string> {
    this.child.stdin!.write('ping\n');
    const line = await this.next(1000);
    return line.startsWith('peer ') ? line.split(' ')[1]! : line;
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}
