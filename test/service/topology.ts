// The service end-to-end topology, shared by the tests and bench/docker-e2e.ts:
//
//   containers ─ Docker bridges ─ dhost (dockerd + sixgate) ─ up0 ══ down0 ─ rt ─ out0 ══ eth0 ─ inet
//                                      2001:db8:1::2/64        2001:db8:1::1        2001:db8:2::2
//
// dhost is a Docker host: Debian's dockerd runs there (test/support/docker.ts)
// and `sixgate run` as a child process. rt is the upstream router: it knows
// nothing of the ULA networks and finds container and external addresses of
// 2001:db8:1::/64 by NDP only (which sixgate answers).
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Lab, type Netns } from '../support/netns.js';
import { DockerHost } from '../support/docker.js';
import { pickDedicated } from '../../src/datapath/resolve.js';
import { formatIpv6, parseIpv6, parseIpv6Prefix } from '../../src/wire/address.js';
import { jsonLogs } from '../support/process.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export const A = {
  up: '2001:db8:1::2', rt: '2001:db8:1::1', uplinkPrefix: '2001:db8:1::/64',
  inet: '2001:db8:2::2',
  /** A global Docker subnet inside the uplink's on-link prefix: NDP-proxied. */
  global: '2001:db8:1:0:d0c::/80',
  /** A second one; its network name sorts after "ula", so Docker keeps the ULA gateway as a container's default route. */
  global2: '2001:db8:1:0:d0d::/80',
  ula: 'fd66:1::/64', internal: 'fd66:3::/64', noMasq: 'fd66:4::/64',
} as const;

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export class ServiceLab {
  readonly lab = new Lab();
  readonly rt: Netns;
  readonly inet: Netns;
  docker!: DockerHost;
  sixgate: ChildProcess | undefined;
  /** Every sixgate log line so far (JSON), across restarts. */
  readonly lines: LogLine[] = [];
  text = '';
  readonly statusFile: string;

  constructor() {
    this.rt = this.lab.ns('rt');
    this.inet = this.lab.ns('inet');
    this.statusFile = `/tmp/${this.rt.name}-status.json`;
  }

  get dhost(): Netns {
    return this.docker.ns;
  }

  /** Starts dockerd in its namespace and wires the uplink, router and internet. */
  async start(extraDockerArgs: string[] = []): Promise<void> {
    this.docker = await DockerHost.start(this.lab, { extraArgs: extraDockerArgs });
    const { lab, rt, inet, dhost } = this;
    lab.veth(dhost, 'up0', rt, 'down0');
    lab.addr(dhost, 'up0', `${A.up}/64`);
    lab.addr(rt, 'down0', `${A.rt}/64`);
    dhost.ip('-6', 'route', 'add', 'default', 'via', A.rt);
    lab.veth(rt, 'out0', inet, 'eth0');
    lab.addr(rt, 'out0', '2001:db8:2::1/64');
    lab.addr(inet, 'eth0', `${A.inet}/64`);
    inet.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:2::1');
    dhost.sysctl('net.ipv6.conf.all.forwarding', '1');
    rt.sysctl('net.ipv6.conf.all.forwarding', '1');
  }

  /** The dedicated external address sixgate picks for a Docker network. */
  external(network: string): string {
    const p = parseIpv6Prefix(A.uplinkPrefix);
    return formatIpv6(pickDedicated(p.address, p.length, network, [parseIpv6(A.up)]), 0);
  }

  /** Starts `sixgate <args>` in dhost; resolves once `ready` (a log message) appears. */
  async startSixgate(args: readonly string[], ready: RegExp | null = /sixgate starting/, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
    const child = this.dhost.spawn(process.execPath, [CLI, ...args], { env: { ...jsonLogs(), ...env } });
    this.sixgate = child;
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.text += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.text += d;
      partial += d;
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const p of parts) {
        try { this.lines.push(JSON.parse(p) as LogLine); } catch { /* not JSON */ }
      }
    });
    if (ready !== null) await this.waitLog(ready, 15_000, 0, child);
    return child;
  }

  /** Index of the first log line from `from` whose msg matches; waits up to `timeoutMs`. */
  async waitLog(re: RegExp, timeoutMs = 10_000, from = 0, child = this.sixgate): Promise<number> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l, k) => k >= from && re.test(l.msg));
      if (i >= 0) return i;
      if (child !== undefined && child.exitCode !== null) throw new Error(`sixgate exited (${child.exitCode}) before ${re}:\n${this.text.slice(-4000)}`);
      if (Date.now() > end) throw new Error(`no log line ${re} within ${timeoutMs} ms:\n${this.text.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stopSixgate(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.sixgate;
    this.sixgate = undefined;
    if (child === undefined) return null;
    if (child.exitCode !== null) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  }

  /** Whether something answers NDP for `address` on the router's link (ndisc6 from rt). */
  async ndpAnswers(address: string): Promise<boolean> {
    this.rt.exec('ip', ['-6', 'neigh', 'flush', 'dev', 'down0']);
    const r = await this.rt.run('ndisc6', ['-q', '-r', '3', '-w', '300', address, 'down0'], 5_000);
    return r.code === 0 && /^[0-9a-f:]{17}$/i.test(r.stdout.trim());
  }

  async destroy(): Promise<void> {
    await this.stopSixgate('SIGKILL');
    await this.docker?.destroy();
    this.lab.destroy();
    rmSync(this.statusFile, { force: true });
  }
}

/**
 * A busybox httpd whose /cgi-bin/ip answers with the client's address
 * (REMOTE_ADDR). Its CGI answers end lines with a bare LF, so clients parse leniently.
 */
export const HTTPD_CMD = ['sh', '-c',
  'busybox mkdir -p /www/cgi-bin && busybox printf \'#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "peer $REMOTE_ADDR"\\n\' > /www/cgi-bin/ip'
  + ' && busybox chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www'];

/** Node code for `ns.node()`: GET url, print the body (or "error CODE"). */
export function httpGetCode(url: string): string {
  return `import http from 'node:http';
const req = http.get(${JSON.stringify(url)}, { timeout: 5000, insecureHTTPParser: true }, (res) => { let b = ''; res.on('data', (d) => { b += d; }); res.on('end', () => { console.log(b.trim()); process.exit(0); }); });
req.on('timeout', () => { console.log('error timeout'); process.exit(1); });
req.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });`;
}
