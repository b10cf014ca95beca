// The NAT66 end-to-end topology, shared by the tests and bench/nat-e2e.ts:
//
//   c1, c2 ─┐                                         ┌─ inet  2001:db8:2::2  (MTU 1500)
//           br0 fd66:1::1/64 ─ gw ─ up0 ══ down0 ─ rt ┤
//   c3 ─────br1 fd66:2::1/64   2001:db8:1::2/64       └─ inet2 2001:db8:3::2  (MTU 1280 link)
//
// gw is the Docker host: sixgate runs there as a child process (`sixgate nat`)
// or, for the kernel anchor, ip6tables MASQUERADE does the same job. rt is the
// upstream router: it knows nothing of fd66::/16 and reaches dedicated
// external addresses through NDP on the 2001:db8:1::/64 link; the NPTv6
// prefix 2001:db8:66::/64 is routed to gw.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Lab, type Netns } from '../support/netns.js';
import { jsonLogs } from '../support/process.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export const A = {
  c1: 'fd66:1::2', c2: 'fd66:1::3', c3: 'fd66:2::2',
  gwUp: '2001:db8:1::2', rt: '2001:db8:1::1',
  inet: '2001:db8:2::2', inet2: '2001:db8:3::2',
  dedicated: '2001:db8:1::66', nptPrefix: '2001:db8:66::/64',
} as const;

/**
 * The gateway the data path service tests drive in-process: uplink up0 to a
 * router namespace (2001:db8:1::2/64), bridge br0 with one veth to the
 * router side, an empty bridge br1, forwarding on.
 */
export function serviceGateway(lab: Lab): Netns {
  const gw = lab.ns('gw');
  const rt = lab.ns('rt');
  lab.veth(gw, 'up0', rt, 'down0');
  lab.veth(gw, 'vc1', rt, 'x1');
  lab.bridge(gw, 'br0', ['vc1']);
  lab.bridge(gw, 'br1');
  lab.addr(gw, 'up0', '2001:db8:1::2/64');
  gw.sysctl('net.ipv6.conf.all.forwarding', '1');
  return gw;
}

export class NatLab {
  readonly lab = new Lab();
  readonly gw: Netns;
  readonly rt: Netns;
  readonly inet: Netns;
  readonly inet2: Netns;
  readonly c1: Netns;
  readonly c2: Netns;
  readonly c3: Netns;
  /** The running sixgate child, if any. */
  sixgate: ChildProcess | undefined;
  log = '';

  /** `bare`: the namespaces only, for a topology of its own (renumber-topology.ts). */
  constructor(options: { withNpt?: boolean; withInet2?: boolean; bare?: boolean } = {}) {
    const { lab } = this;
    this.gw = lab.ns('gw');
    this.rt = lab.ns('rt');
    this.inet = lab.ns('inet');
    this.c1 = lab.ns('c1');
    this.c2 = lab.ns('c2');
    this.c3 = options.withNpt === false ? this.c1 : lab.ns('c3');
    this.inet2 = options.withInet2 === false ? this.inet : lab.ns('inet2');
    if (options.bare === true) return;
    const { gw, rt, inet, inet2, c1, c2, c3 } = this;
    lab.veth(c1, 'eth0', gw, 'vc1');
    lab.veth(c2, 'eth0', gw, 'vc2');
    lab.bridge(gw, 'br0', ['vc1', 'vc2']);
    lab.addr(gw, 'br0', 'fd66:1::1/64');
    for (const [ns, a] of [[c1, A.c1], [c2, A.c2]] as const) {
      lab.addr(ns, 'eth0', `${a}/64`);
      ns.ip('-6', 'route', 'add', 'default', 'via', 'fd66:1::1');
    }
    if (c3 !== c1) {
      lab.veth(c3, 'eth0', gw, 'vc3');
      lab.bridge(gw, 'br1', ['vc3']);
      lab.addr(gw, 'br1', 'fd66:2::1/64');
      lab.addr(c3, 'eth0', `${A.c3}/64`);
      c3.ip('-6', 'route', 'add', 'default', 'via', 'fd66:2::1');
    }
    lab.veth(gw, 'up0', rt, 'down0');
    lab.addr(gw, 'up0', `${A.gwUp}/64`);
    lab.addr(rt, 'down0', `${A.rt}/64`);
    gw.ip('-6', 'route', 'add', 'default', 'via', A.rt);
    rt.ip('-6', 'route', 'add', A.nptPrefix, 'via', A.gwUp);
    lab.veth(rt, 'out0', inet, 'eth0');
    lab.addr(rt, 'out0', '2001:db8:2::1/64');
    lab.addr(inet, 'eth0', `${A.inet}/64`);
    inet.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:2::1');
    if (inet2 !== inet) {
      // Only the router's side is 1280: inet2 advertises an MSS for 1500, so
      // full-size segments reach the narrow hop and the router answers with
      // Packet Too Big (ACKs back are small enough for the narrow side).
      lab.veth(rt, 'out1', inet2, 'eth0', 1280);
      inet2.ip('link', 'set', 'eth0', 'mtu', '1500');
      lab.addr(rt, 'out1', '2001:db8:3::1/64');
      lab.addr(inet2, 'eth0', `${A.inet2}/64`);
      inet2.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:3::1');
    }
    gw.sysctl('net.ipv6.conf.all.forwarding', '1');
    rt.sysctl('net.ipv6.conf.all.forwarding', '1');
  }

  /** Writes `yaml` to a file and starts `sixgate nat` in gw; resolves once it logs that it runs. */
  async startSixgate(yaml: string, extraArgs: readonly string[] = []): Promise<ChildProcess> {
    const file = `/tmp/${this.gw.name}-nat.yaml`;
    writeFileSync(file, yaml);
    const child = this.gw.spawn(process.execPath, [CLI, 'nat', '-c', file, ...extraArgs], { env: jsonLogs() });
    this.sixgate = child;
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.log += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; this.log += d; });
    const deadline = Date.now() + 10_000;
    while (!out.includes('nat66 data path running')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sixgate did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return child;
  }

  /** Waits until the log after `mark` (a length of `log`) says `text`; throws after `ms`, or at once when it matches `failure`. */
  async logged(mark: number, text: string, ms = 8000, failure?: RegExp): Promise<void> {
    const end = Date.now() + ms;
    while (!this.log.slice(mark).includes(text)) {
      if (Date.now() > end || failure?.test(this.log.slice(mark))) throw new Error(`waited for "${text}": ${this.log.slice(mark)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Rewrites sixgate's configuration file with `yaml` and sends SIGHUP; resolves once the model is applied. */
  async reload(yaml: string): Promise<void> {
    writeFileSync(`/tmp/${this.gw.name}-nat.yaml`, yaml);
    const mark = this.log.length;
    this.sixgate!.kill('SIGHUP');
    await this.logged(mark, 'model applied', 8000, /apply failed/);
  }

  /** Sends `signal` to sixgate and waits for it to exit. */
  async stopSixgate(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.sixgate;
    if (child === undefined) return null;
    this.sixgate = undefined;
    if (child.exitCode !== null) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  }

  /** Starts a node program (module source) in `ns`; resolves when it prints `ready`. */
  async server(ns: Netns, code: string): Promise<ChildProcess> {
    const child = ns.spawn(process.execPath, ['--input-type=module', '-e', code]);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const deadline = Date.now() + 5000;
    while (!out.includes('ready')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return child;
  }

  /** Runs `code` with node in `where` and parses the last line it prints as JSON (the test programs' result). */
  async nodeResult<T = { peer?: string; bytes: number; error?: string }>(where: Netns, code: string, timeoutMs = 20_000): Promise<T> {
    const r = await where.node(code, timeoutMs);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as T;
    } catch {
      throw new Error(`no result (exit ${r.code}): ${r.stdout} ${r.stderr}\nsixgate log:\n${this.log.slice(-3000)}`);
    }
  }

  destroy(): void {
    this.sixgate?.kill('SIGKILL');
    this.lab.destroy();
  }
}

/** A TCP server: sends `bytes` bytes to each client after a line "peer ADDR\n", then closes. */
export function tcpServerCode(port: number, bytes = 0): string {
  return `import net from 'node:net';
const chunk = Buffer.alloc(65536, 7);
net.createServer((s) => {
  s.on('error', () => {});
  s.write('peer ' + s.remoteAddress + '\\n');
  let left = ${bytes};
  const pump = () => { while (left > 0) { const n = Math.min(left, chunk.length); left -= n; if (!s.write(chunk.subarray(0, n))) { s.once('drain', pump); return; } } s.end(); };
  pump();
}).listen(${port}, '::', () => console.log('ready'));`;
}

/** A TCP client: connects, reads everything, prints {peer, bytes} as JSON. */
export function tcpClientCode(host: string, port: number, upload = 0): string {
  return `import net from 'node:net';
const s = net.connect({ host: '${host}', port: ${port} });
let first = ''; let bytes = 0; let peer;
s.setTimeout(8000, () => { console.log(JSON.stringify({ error: 'timeout', bytes })); process.exit(1); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code, bytes })); process.exit(1); });
if (${upload} > 0) { const b = Buffer.alloc(${upload}, 9); s.write(b); }
s.on('data', (d) => { if (peer === undefined) { first += d.toString('latin1'); const i = first.indexOf('\\n'); if (i >= 0) { peer = first.slice(5, i); bytes += first.length - i - 1; } } else bytes += d.length; });
s.on('end', () => { console.log(JSON.stringify({ peer, bytes })); process.exit(0); });`;
}

/** A TCP sink: counts bytes from each client and answers "peer ADDR bytes N" when the client half-closes. */
export function tcpSinkCode(port: number): string {
  return `import net from 'node:net';
net.createServer({ allowHalfOpen: true }, (s) => {
  let n = 0; s.on('error', () => {});
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => s.end('peer ' + s.remoteAddress + ' bytes ' + n + '\\n'));
}).listen(${port}, '::', () => console.log('ready'));`;
}

/** UDP echo: answers each datagram with "peer ADDR". */
export function udpEchoCode(port: number): string {
  return `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.on('message', (m, r) => s.send('peer ' + r.address, r.port, r.address));
s.bind(${port}, '::', () => console.log('ready'));`;
}

/** UDP client: sends one datagram (retrying), prints the answer or "timeout". */
export function udpClientCode(host: string, port: number): string {
  return `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
let tries = 0;
const send = () => { if (tries++ === 5) { console.log('timeout'); process.exit(1); } s.send('hi', ${port}, '${host}'); };
s.on('message', (m) => { console.log(m.toString()); process.exit(0); });
setInterval(send, 300); send();`;
}

/** UDP client: `count` requests of 32 bytes one after the other, each waiting for its answer; prints how many were answered. */
export function udpPingPongCode(host: string, port: number, count: number): string {
  return `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
let got = 0;
const send = () => s.send(Buffer.alloc(32, got), ${port}, '${host}');
s.on('message', () => { if (++got === ${count}) { console.log(JSON.stringify({ got })); process.exit(0); } setTimeout(send, 5); });
setTimeout(() => { console.log(JSON.stringify({ got })); process.exit(1); }, 8000);
send();`;
}

/** UDP mirror: sends each datagram back to its sender unchanged. */
export function udpMirrorCode(port: number): string {
  return `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(${port}, '::', () => console.log('ready'));`;
}

/** UDP client of a mirror: sends a 4000-byte datagram (fragmented on the way) until it comes back; prints "same" or "differs N". */
export function fragmentedUdpClientCode(host: string, port: number): string {
  return `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
const msg = Buffer.alloc(4000); for (let i = 0; i < msg.length; i++) msg[i] = i & 0xff;
let tries = 0;
const send = () => { if (tries++ === 5) { console.log('timeout'); process.exit(1); } s.send(msg, ${port}, '${host}'); };
s.on('message', (m) => { console.log(m.equals(msg) ? 'same' : 'differs ' + m.length); process.exit(0); });
setInterval(send, 300); send();`;
}

/** Uploads `bytes` to a tcpSinkCode server; prints {peer, bytes} as the sink counted them. */
export function uploadClientCode(host: string, port: number, bytes: number): string {
  return `import net from 'node:net';
const s = net.connect({ host: '${host}', port: ${port} }, () => { s.end(Buffer.alloc(${bytes}, 1)); });
let out = ''; s.on('data', (d) => out += d); s.setTimeout(15000, () => { console.log(JSON.stringify({ error: 'timeout', bytes: 0 })); process.exit(1); });
s.on('end', () => { const m = /peer (\\S+) bytes (\\d+)/.exec(out); console.log(JSON.stringify({ peer: m?.[1], bytes: Number(m?.[2]) })); });`;
}

/** TCP echo: every byte back to its sender. */
export function tcpMirrorCode(port: number): string {
  return `import net from 'node:net';
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(${port}, '::', () => console.log('ready'));`;
}

/**
 * A long-lived TCP connection to a tcpMirrorCode server, started in `ns`:
 * prints "connected", then "got LINE" for each line written to it
 * (`say`), "error CODE" if it breaks.
 */
export class MirrorClient {
  out = '';
  readonly child: ChildProcess;
  constructor(ns: Netns, host: string, port: number, private readonly log: () => string) {
    this.child = ns.spawn(process.execPath, ['--input-type=module', '-e', `import net from 'node:net';
const s = net.connect({ host: '${host}', port: ${port} }, () => console.log('connected'));
s.on('data', (d) => console.log('got ' + d.toString().trim()));
s.on('error', (e) => console.log('error ' + e.code));
process.stdin.on('data', (d) => s.write(d));`]);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
  }

  async waitFor(text: string, ms = 8000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.out.includes(text)) {
      if (Date.now() > end) throw new Error(`waited for ${text}; client said: ${this.out}\nsixgate:\n${this.log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends a line and waits for it to come back. */
  async say(line: string): Promise<void> {
    this.child.stdin!.write(`${line}\n`);
    await this.waitFor(`got ${line}`);
  }
}

/**
 * The published ports of e2e.test.ts's configuration (TCP 8080 and UDP 5353
 * to c1's servers of 1 MB and udpEchoCode) from the internet, and a hairpin
 * from c2: the container sees the client, the hairpinned one the external address.
 */
export async function checkPublishedAndHairpin(lab: NatLab): Promise<void> {
  const r = await lab.nodeResult(lab.inet, tcpClientCode(A.dedicated, 8080));
  assert.equal(r.peer, A.inet);
  assert.equal(r.bytes, 1 << 20);
  const udp = await lab.inet.node(udpClientCode(A.dedicated, 5353), 5000);
  assert.equal(udp.stdout.trim(), `peer ${A.inet}`);
  const hairpin = await lab.nodeResult(lab.c2, tcpClientCode(A.dedicated, 8080));
  assert.equal(hairpin.bytes, 1 << 20);
  assert.equal(hairpin.peer, A.dedicated, 'hairpinned traffic arrives from the external address (RFC 4787 REQ-9a)');
}
