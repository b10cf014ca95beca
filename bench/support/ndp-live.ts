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
//   1. latency: SEQUENTIAL sequential NS for the exact addresses, NA awaited
//      each, the generator asleep in epoll after SPIN_MS (p50/p99: medians of ROUNDS
//      rounds; worst p99: the noisiest round) and, for comparison, with it
//      busy-polling (spin p50/p99, one round; the older method, unfair to the
//      proxies that need a wake-up, see Wait), and as a router asks, one NS
//      every 5-20 ms with both ends idle between them (idle-host p50/p99,
//      IDLE_PROBES probes);
//   2. flood: NS for random targets in 2001:db8:1:1::/64 at RATE per second
//      for 2 s, with one NS for an exact address every millisecond mixed in
//      (at most one per batch); how many of those legit NS got their NA, and
//      how fast (--dump: each latency in PREFIX.<proxy>.flood.tsv), and the
//      share of the flood the proxy spent on a CPU and waiting for one; the
//      same latency on the wire (legit wire p50/p99: tcpdump's timestamps of
//      the NS leaving r0 and its NA arriving), which leaves out the
//      generator's own wait for a CPU to read the answer on;
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
// 2000 so that p99 is the 20th-slowest answer, not the 3rd (one stray wake-up).
const SEQUENTIAL = 2000;
const ROUNDS = 5;
/** How long the generator busy-polls for an answer before it sleeps (see Wait). */
const SPIN_MS = 0.1;
const FLOOD_MS = 2000;
const BATCH = 64;
const SLOT = 128;

/**
 * `base`: sixgate from another build (--base), for an A/B in one run;
 * `sixgate-user`: this build with --kernel-answers off (every answer from user space).
 */
type Proxy = 'base' | 'sixgate' | 'sixgate-user' | 'ndppd' | 'kernel';

// Made once: a probe loop that allocates makes the generator scavenge (~1 ms
// here) between a send and its answer, which was charged to the proxy.
const LEGIT_TARGETS = Array.from({ length: LEGIT }, (_, i) => {
  const t = parseIpv6('2001:db8:1::1:100');
  t[15] = i;
  return t;
});

function legit(i: number): Uint8Array {
  return LEGIT_TARGETS[i % LEGIT]!;
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

  private wake: (() => void) | undefined;

  constructor(gen: Netns) {
    this.sock = gen.enter(() => PacketSocket.open({ ifname: 'r0', filter: icmp6Filter({ types: [Icmp6Type.NA] }) }));
    this.mac = gen.mac('r0');
    // Level-triggered: with no probe waiting the answers are read here, or
    // the event loop would spin on them (during the flood's tail, say).
    this.sock.onReadable(() => {
      const w = this.wake;
      this.wake = undefined;
      if (w !== undefined) w();
      else this.poll(performance.now());
    });
  }

  /** Sleeps (in epoll, through the event loop) until an answer is readable or `ms` passed. */
  readable(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); resolve(); };
    });
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

/**
 * After a short warm-up (JIT, neighbour caches), `rounds` rounds of SEQUENTIAL
 * probes; p50 and p99 are the medians over the rounds, so that one burst of
 * host noise (a multi-ms stall of this microVM's vCPUs, seen by every proxy
 * that needs a wake-up) moves the worst round's p99, not the figure.
 */
async function sequential(g: Generator, wait: Wait, rounds: number, count = SEQUENTIAL): Promise<{ p50: number; p99: number; worstP99: number; answered: number }> {
  await probes(g, 30, wait);
  const p50s: number[] = [];
  const p99s: number[] = [];
  let answered = 0;
  for (let round = 0; round < rounds; round++) {
    await probes(g, count, wait);
    const sorted = [...g.latencies].sort((a, b) => a - b);
    p50s.push(quantile(sorted, 0.5) * 1000);
    p99s.push(quantile(sorted, 0.99) * 1000);
    answered += g.answered;
  }
  const median = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);
  return { p50: median(p50s), p99: median(p99s), worstP99: Math.max(...p99s), answered };
}

/** Per probe of the last sequential round: start (performance.now ms), latency ms (for --dump). */
const trace = new Float64Array(2 * SEQUENTIAL);

/**
 * `spin`: the generator busy-polls the answer (5 ms, then 1 ms sleeps); a
 * proxy woken by the solicitation (sixgate, ndppd) then often lands on the
 * spinning CPU and waits out the generator's time slice (1-7 ms on this
 * 2-vCPU machine). `sleep`: it busy-polls SPIN_MS only, then waits in epoll,
 * leaving the CPU to the proxy; answers within SPIN_MS are timed as exactly
 * as by spinning, later ones include the generator's own wake-up. The kernel
 * answers inside the sender's own softirq and needs no wake-up at all.
 * `idle`: see IDLE_PROBES.
 */
type Wait = 'spin' | 'sleep' | 'idle';
/** `idle`: as `sleep`, and between probes the generator sleeps 5-20 ms, so both ends are idle when an NS comes (the way a router asks). */
const IDLE_PROBES = 400;

async function probes(g: Generator, count: number, wait: Wait): Promise<void> {
  g.reset();
  for (let i = 0; i < count; i++) {
    const k = i % LEGIT;
    g.frame(0, legit(k));
    const start = performance.now();
    g.sentAt[k] = start;
    g.send(1);
    while (g.sentAt[k]! >= 0 && performance.now() - start < 1000) {
      g.poll(performance.now());
      if (g.sentAt[k]! < 0) break;
      const spent = performance.now() - start;
      if (wait !== 'spin' && spent > SPIN_MS) await g.readable(100);
      else if (spent > 5) await sleep(1);
    }
    trace[2 * i] = start;
    trace[2 * i + 1] = g.sentAt[k]! >= 0 ? NaN : g.latencies[g.latencies.length - 1]!;
    g.sentAt[k] = -1;
    if (wait === 'idle') await sleep(5 + ((i * 7) % 16));
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
        // A generator that fell behind skips legit NS rather than bunching them into one batch.
        if (!exactOnly) nextLegit = Math.max(nextLegit + 1, elapsed + 1);
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

/**
 * tcpdump on r0 for the legit NS and NA only (the flood's targets are
 * 2001:db8:1:1::/64, filtered out in the kernel), started before the flood;
 * stop() pairs each NS with the next NA for its target: latencies in µs.
 */
async function wireWatch(gen: Netns): Promise<{ stop(): Promise<number[]> }> {
  const filter = 'icmp6 and (ip6[40] == 135 or ip6[40] == 136) and ip6[48:4] == 0x20010db8 and ip6[52:4] == 0x00010000 and (ip6[60:4] & 0xffffff00) == 0x00010100';
  const child = gen.spawn('tcpdump', ['-i', 'r0', '-n', '-tt', '-l', '-B', '8192', filter]);
  let out = '';
  let ready = false;
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { if (/listening/.test(d.toString())) ready = true; });
  for (const end = Date.now() + 5000; !ready && Date.now() < end;) await sleep(10);
  return {
    stop: async () => {
      await sleep(200);
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await Promise.race([gone, sleep(2000)]);
      const asked = new Map<string, number>();
      const latencies: number[] = [];
      for (const line of out.split('\n')) {
        const m = /^(\d+\.\d+) .*neighbor (solicitation, who has|advertisement, tgt is) ([0-9a-f:]+)/.exec(line);
        if (m === null) continue;
        const at = Number(m[1]);
        if (m[2]!.startsWith('solicitation')) {
          if (!asked.has(m[3]!)) asked.set(m[3]!, at);
        } else if (asked.has(m[3]!)) {
          latencies.push((at - asked.get(m[3]!)!) * 1e6);
          asked.delete(m[3]!);
        }
      }
      return latencies.sort((a, b) => a - b);
    },
  };
}

function config(): string {
  const rules = Array.from({ length: LEGIT }, (_, i) => {
    const t = legit(i);
    return `  rule 2001:db8:1::1:${((t[14]! << 8) | t[15]!).toString(16)} {\n    static\n  }`;
  });
  return `proxy h0 {\n  router yes\n${rules.join('\n')}\n  rule 2001:db8:1:1::/64 {\n    iface hb0\n  }\n}\n`;
}

function dumped(): string {
  const lines: string[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) lines.push(`${trace[2 * i]}\t${trace[2 * i + 1]}`);
  return lines.join('\n') + '\n';
}

interface Running {
  /** What the proxy printed so far (for --dump). */
  output(): string;
  stop(): Promise<void>;
  /** CPU seconds (user + system) the proxy process has used so far; NaN for the kernel. */
  cpuSeconds(): number;
  /** Seconds the proxy process has been runnable but waiting for a CPU so far (schedstat); NaN for the kernel. */
  waitSeconds(): number;
}

function cpu(seconds: number): string {
  return Number.isNaN(seconds) ? 'softirq' : `${Math.round((seconds / (FLOOD_MS / 1000)) * 100)}`;
}

/** `cpus`: the proxy process's CPU list (taskset -c), or undefined for any. */
async function startProxy(which: Proxy, host: Netns, dir: string, nodeFlags: string[], cli: string | undefined, cpus: string | undefined): Promise<Running> {
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
      waitSeconds: () => NaN,
      output: () => '',
    };
  }
  const path = join(dir, `${which}.conf`);
  writeFileSync(path, config());
  const ours = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
  const command = which === 'ndppd' ? ['ndppd', '-c', path] : [process.execPath, ...nodeFlags, which === 'base' ? cli! : ours, 'ndp', '-c', path,
    ...(which === 'sixgate-user' ? ['--kernel-answers', 'off'] : [])];
  // taskset execs the command: the child's pid stays the proxy's.
  const pinned = cpus === undefined ? command : ['taskset', '-c', cpus, ...command];
  const child: ChildProcess = host.spawn(pinned[0]!, pinned.slice(1));
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const ready = which === 'ndppd' ? 'Using configuration file' : 'sixgate ndp running';
  const deadline = Date.now() + 10_000;
  while (!out.includes(ready)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${which} did not start:\n${out}`);
    await sleep(20);
  }
  await sleep(500);
  return {
    output: () => out,
    stop: async () => {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
    // nsenter execs the command, so the child's pid is the proxy's.
    // The main thread's run-queue delay: a reader that needs the CPU and does not get it.
    waitSeconds: () => Number(readFileSync(`/proc/${child.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9,
    cpuSeconds: () => {
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
  };
}

export async function runLive(args: string[]): Promise<void> {
  const rateArg = args.indexOf('--rate');
  const rate = rateArg >= 0 ? Number(args[rateArg + 1]) : 160_000;
  const onlyArg = args.indexOf('--only');
  const dumpArg = args.indexOf('--dump');
  const flagsArg = args.indexOf('--node-flags');
  const nodeFlags = flagsArg >= 0 ? args[flagsArg + 1]!.split(' ') : [];
  const cpuArg = args.indexOf('--proxy-cpus');
  const proxyCpus = cpuArg >= 0 ? args[cpuArg + 1] : undefined;
  const baseArg = args.indexOf('--base');
  const base = baseArg >= 0 ? join(args[baseArg + 1]!, 'src', 'cli', 'main.js') : undefined;
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
      for (const which of ['base', 'sixgate', 'sixgate-user', 'ndppd', 'kernel'] as const) {
        if (which === 'base' ? base === undefined : onlyArg >= 0 && !args[onlyArg + 1]!.split(',').includes(which)) continue;
        const proxy = await startProxy(which, host, dir, nodeFlags, base, proxyCpus);
        try {
          gen.ip('neigh', 'flush', 'dev', 'r0');
          const seq = await sequential(g, 'spin', 1);
          if (dumpArg >= 0) writeFileSync(`${args[dumpArg + 1]}.${which}.spin.tsv`, dumped());
          const idle = await sequential(g, 'sleep', ROUNDS);
          const quiet = await sequential(g, 'idle', 1, IDLE_PROBES);
          if (dumpArg >= 0) {
            writeFileSync(`${args[dumpArg + 1]}.${which}.sleep.tsv`, dumped());
            writeFileSync(`${args[dumpArg + 1]}.${which}.log`, proxy.output());
          }
          const cpuBefore = proxy.cpuSeconds();
          const waitBefore = proxy.waitSeconds();
          const wire = await wireWatch(gen);
          const mixed = {
            ...(await flood(g, rate, false)), cpuSeconds: proxy.cpuSeconds() - cpuBefore, waitSeconds: proxy.waitSeconds() - waitBefore,
          };
          const onWire = await wire.stop();
          if (dumpArg >= 0) writeFileSync(`${args[dumpArg + 1]}.${which}.flood.tsv`, g.latencies.map((ms) => `${ms}`).join('\n') + '\n');
          const load = await flood(g, rate, true);
          rows.push({
            proxy: which,
            'p50 µs': Math.round(idle.p50), 'p99 µs': Math.round(idle.p99), 'worst p99': Math.round(idle.worstP99), [`answered/${ROUNDS * SEQUENTIAL}`]: idle.answered,
            'spin p50': Math.round(seq.p50), 'spin p99': Math.round(seq.p99),
            'idle-host p50': Math.round(quiet.p50), 'idle-host p99': Math.round(quiet.p99),
            'flood NS/s': mixed.rate, 'legit answered': `${Math.min(mixed.naTotal, mixed.legitSent)}/${mixed.legitSent}`,
            'CPU % in flood': cpu(mixed.cpuSeconds), 'CPU wait % in flood': cpu(mixed.waitSeconds),
            'legit p50 µs': Math.round(mixed.p50), 'legit p99 µs': Math.round(mixed.p99),
            'legit wire p50': Math.round(quantile(onWire, 0.5)), 'legit wire p99': Math.round(quantile(onWire, 0.99)),
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
