// The live half of `npm run bench -- ndp --live` (root; ndppd and iproute2
// installed). One topology in namespaces made and removed here:
//
//   gen (r0, 2001:db8:1::1/64) ---- (h0) host (hb0) ---- (c0) ctr
//
// Each proxy in turn answers on h0 for 50 exact addresses 2001:db8:1::1:100..131
// (sixgate and ndppd: 50 static /128 rules; the kernel: 50 `ip neigh add
// proxy` entries, proxy_delay 0), and sixgate and ndppd also carry an
// `iface hb0` rule for 2001:db8:1:1::/64, the target of the random flood.
// This process sits in `gen` with an AF_PACKET socket on r0:
//   1. latency: 300 sequential NS for the exact addresses, NA awaited each;
//   2. flood: NS for random targets in 2001:db8:1:1::/64 at RATE per second
//      for 2 s, with one NS for an exact address every millisecond mixed in;
//      how many of those legit NS got their NA, and how fast;
//   3. answer load: NS for the exact addresses only, at RATE per second:
//      NAs per second that came back.
// All NS come from r0's own address and MAC, so proxies that answer through
// the kernel (ndppd, proxy_ndp) can resolve the destination.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Lab, type Netns } from '../../test/support/netns.js';
import { repoRoot } from '../../test/support/paths.js';
import { PacketSocket } from '../../src/io/packet.js';
import { PacketRing } from '../../src/io/ring.js';
import { icmp6Filter, Icmp6Type } from '../../src/io/bpf.js';
import { buildNs } from '../../src/wire/ndp-build.js';
import { writeHeader as writeEthernet, EtherType } from '../../src/wire/ethernet.js';
import { parseIpv6, writeSolicitedNode, writeMulticastMac } from '../../src/wire/address.js';

const LEGIT = 50;
const SEQUENTIAL = 300;
const FLOOD_MS = 2000;
const BATCH = 64;
const SLOT = 128;

type Proxy = 'sixgate' | 'ndppd' | 'kernel';

function legit(i: number): Uint8Array {
  const t = parseIpv6('2001:db8:1::1:100');
  t[15] = (0x00 + (i % LEGIT)) & 0xff;
  t[14] = 0x01;
  return t;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

class Generator {
  private readonly sock: PacketSocket;
  private readonly tx = new PacketRing({ slots: BATCH, slotSize: SLOT });
  private readonly rx = new PacketRing({ slots: 256, slotSize: 256 });
  private readonly mac: Uint8Array;
  private readonly src = parseIpv6('2001:db8:1::1');
  private readonly group = new Uint8Array(16);
  private readonly dstMac = new Uint8Array(6);
  /** Per legit target: when its outstanding NS left (ms), or -1. */
  readonly sentAt = new Float64Array(LEGIT).fill(-1);
  readonly latencies: number[] = [];
  answered = 0;
  /** Every NA for a legit target, awaited or not. */
  naTotal = 0;

  constructor(gen: Netns) {
    this.sock = gen.enter(() => PacketSocket.open({ ifname: 'r0', filter: icmp6Filter({ types: [Icmp6Type.NA] }) }));
    this.mac = gen.mac('r0');
  }

  /** Writes an NS for `target` into tx slot i. */
  frame(i: number, target: Uint8Array): void {
    const o = this.tx.offset(i);
    writeSolicitedNode(target, 0, this.group, 0);
    writeMulticastMac(this.group, 0, this.dstMac, 0);
    writeEthernet(this.tx.buf, o, this.dstMac, 0, this.mac, 0, EtherType.Ipv6);
    this.tx.lens[i] = 14 + buildNs(this.tx.buf, o + 14, this.src, 0, this.group, 0, target, 0, this.mac, 0);
  }

  send(count: number): void {
    let done = 0;
    while (done < count) done += this.sock.send(this.tx, done, count - done);
  }

  /** Reads NAs; counts those for legit targets and records their latency. */
  poll(now: number): void {
    const n = this.sock.recv(this.rx);
    for (let i = 0; i < n; i++) {
      const o = this.rx.offset(i);
      const b = this.rx.buf;
      // NA target at 14 + 40 + 8; legit targets are 2001:db8:1::1:1xx.
      const t = o + 62;
      if (b[t] !== 0x20 || b[t + 1] !== 0x01 || b[t + 13] !== 0x01 || b[t + 14] !== 0x01) continue;
      const k = b[t + 15]!;
      if (k >= LEGIT) continue;
      this.naTotal++;
      if (this.sentAt[k]! < 0) continue;
      this.latencies.push(now - this.sentAt[k]!);
      this.sentAt[k] = -1;
      this.answered++;
    }
  }

  reset(): void {
    this.sentAt.fill(-1);
    this.latencies.length = 0;
    this.answered = 0;
    this.naTotal = 0;
    while (this.sock.recv(this.rx) > 0) { /* drain */ }
  }

  close(): void {
    this.sock.close();
  }
}

async function sequential(g: Generator): Promise<{ p50: number; p99: number; answered: number }> {
  // Warm-up rounds (JIT, neighbour caches) are run and then forgotten.
  for (let round = 0; round < 2; round++) {
    await probes(g, round === 0 ? 30 : SEQUENTIAL);
  }
  const sorted = [...g.latencies].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5) * 1000, p99: quantile(sorted, 0.99) * 1000, answered: g.answered };
}

async function probes(g: Generator, count: number): Promise<void> {
  g.reset();
  for (let i = 0; i < count; i++) {
    const k = i % LEGIT;
    g.frame(0, legit(k));
    const start = performance.now();
    g.sentAt[k] = start;
    g.send(1);
    while (g.sentAt[k]! >= 0 && performance.now() - start < 1000) {
      g.poll(performance.now());
      if (performance.now() - start > 5) await sleep(1);
    }
    g.sentAt[k] = -1;
  }
}

async function flood(g: Generator, rate: number, exactOnly: boolean): Promise<{ sent: number; rate: number; legitSent: number; answered: number; naTotal: number; p50: number; p99: number }> {
  g.reset();
  const target = parseIpv6('2001:db8:1:1::');
  let sent = 0;
  let legitSent = 0;
  let nextLegit = 0;
  const start = performance.now();
  for (;;) {
    const now = performance.now();
    const elapsed = now - start;
    if (elapsed >= FLOOD_MS) break;
    const due = Math.floor((elapsed / 1000) * rate);
    if (sent >= due) {
      g.poll(now);
      continue;
    }
    let n = 0;
    for (; n < BATCH; n++) {
      if (exactOnly || elapsed >= nextLegit) {
        const k = (legitSent++) % LEGIT;
        g.frame(n, legit(k));
        if (g.sentAt[k]! < 0) g.sentAt[k] = now;
        if (!exactOnly) nextLegit += 1;
      } else {
        const x = Math.imul(sent + n + 1, 2654435761) >>> 0;
        target[12] = x >>> 24; target[13] = x >>> 16; target[14] = x >>> 8; target[15] = x;
        target[10] = sent >>> 8; target[11] = sent;
        g.frame(n, target);
      }
    }
    g.send(n);
    sent += n;
    g.poll(performance.now());
  }
  const end = performance.now() + 300;
  while (performance.now() < end) {
    g.poll(performance.now());
    await sleep(1);
  }
  const seconds = FLOOD_MS / 1000;
  const sorted = [...g.latencies].sort((a, b) => a - b);
  return {
    sent, rate: Math.round(sent / seconds), legitSent, answered: g.answered, naTotal: g.naTotal,
    p50: quantile(sorted, 0.5) * 1000, p99: quantile(sorted, 0.99) * 1000,
  };
}

function config(): string {
  const rules = Array.from({ length: LEGIT }, (_, i) => {
    const t = legit(i);
    return `  rule 2001:db8:1::1:${((t[14]! << 8) | t[15]!).toString(16)} {\n    static\n  }`;
  });
  return `proxy h0 {\n  router yes\n${rules.join('\n')}\n  rule 2001:db8:1:1::/64 {\n    iface hb0\n  }\n}\n`;
}

interface Running {
  stop(): Promise<void>;
  /** CPU seconds (user + system) the proxy process has used so far; NaN for the kernel. */
  cpuSeconds(): number;
}

function cpu(seconds: number): string {
  return Number.isNaN(seconds) ? 'softirq' : `${Math.round((seconds / (FLOOD_MS / 1000)) * 100)}`;
}

async function startProxy(which: Proxy, host: Netns, dir: string): Promise<Running> {
  if (which === 'kernel') {
    host.sysctl('net.ipv6.conf.h0.proxy_ndp', '1');
    host.sysctl('net.ipv6.neigh.h0.proxy_delay', '0');
    for (let i = 0; i < LEGIT; i++) {
      const t = legit(i);
      host.ip('-6', 'neigh', 'add', 'proxy', `2001:db8:1::1:${((t[14]! << 8) | t[15]!).toString(16)}`, 'dev', 'h0');
    }
    return {
      stop: async () => {
        host.ip('-6', 'neigh', 'flush', 'proxy');
        host.sysctl('net.ipv6.conf.h0.proxy_ndp', '0');
      },
      cpuSeconds: () => NaN,
    };
  }
  const path = join(dir, `${which}.conf`);
  writeFileSync(path, config());
  const child: ChildProcess = which === 'sixgate'
    ? host.spawn(process.execPath, [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'ndp', '-c', path])
    : host.spawn('ndppd', ['-c', path]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const ready = which === 'sixgate' ? 'sixgate ndp running' : 'Using configuration file';
  const deadline = Date.now() + 10_000;
  while (!out.includes(ready)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${which} did not start:\n${out}`);
    await sleep(20);
  }
  await sleep(500);
  return {
    stop: async () => {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
    // nsenter execs the command, so the child's pid is the proxy's.
    cpuSeconds: () => {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
  };
}

export async function runLive(args: string[]): Promise<void> {
  const rateArg = args.indexOf('--rate');
  const rate = rateArg >= 0 ? Number(args[rateArg + 1]) : 160_000;
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-bench-ndp-'));
  const lab = new Lab();
  try {
    const gen = lab.ns('gen');
    const host = lab.ns('host');
    const ctr = lab.ns('ctr');
    lab.veth(gen, 'r0', host, 'h0');
    lab.veth(host, 'hb0', ctr, 'c0');
    lab.addr(gen, 'r0', '2001:db8:1::1/64');
    lab.addr(host, 'h0', '2001:db8:1::2/64');
    host.sysctl('net.ipv6.conf.all.forwarding', '1');
    await sleep(2500);
    const g = new Generator(gen);
    const rows: Record<string, unknown>[] = [];
    try {
      for (const which of ['sixgate', 'ndppd', 'kernel'] as const) {
        const proxy = await startProxy(which, host, dir);
        try {
          gen.ip('neigh', 'flush', 'dev', 'r0');
          const seq = await sequential(g);
          const cpuBefore = proxy.cpuSeconds();
          const mixed = { ...(await flood(g, rate, false)), cpuSeconds: proxy.cpuSeconds() - cpuBefore };
          const load = await flood(g, rate, true);
          rows.push({
            proxy: which,
            'p50 µs': Math.round(seq.p50), 'p99 µs': Math.round(seq.p99), 'answered/300': seq.answered,
            'flood NS/s': mixed.rate, 'legit answered': `${Math.min(mixed.naTotal, mixed.legitSent)}/${mixed.legitSent}`,
            'CPU % in flood': cpu(mixed.cpuSeconds),
            'legit p50 µs': Math.round(mixed.p50), 'legit p99 µs': Math.round(mixed.p99),
            'exact NS/s sent': load.rate, 'NA/s back': Math.round(load.naTotal / (FLOOD_MS / 1000)),
          });
        } finally {
          await proxy.stop();
        }
      }
    } finally {
      g.close();
    }
    console.log(`\nlive, same topology and run (flood target ${rate.toLocaleString()} NS/s for ${FLOOD_MS} ms):`);
    console.table(rows);
  } finally {
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
