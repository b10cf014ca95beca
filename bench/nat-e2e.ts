// `npm run bench -- nat-e2e [--seconds N] [--repeat N] [--udp-kpps N] [--udp-only] [--base DIR]
//                           [--workers N] [--streams N] [--clients 2] [--pin CPU] [--offload on|off|both]`: the NAT66 data path
// end to end, against kernel NAT66 (ip6tables MASQUERADE) on the identical
// topology in the same run (test/datapath/topology.ts):
//
//   c1 ─ br0 ─ gw (sixgate | ip6tables MASQUERADE) ─ up0 ══ rt ─ inet
//
// iperf3 from the container to the internet host: TCP 1 stream, and UDP
// with 64-byte payloads (-b 0, or an offered rate of N kpps with --udp-kpps:
// on 2 CPUs an unthrottled sender starves the receiver, and only kernel NAT
// slows the sender down by forwarding in its context); rounds alternate sixgate and kernel so load
// from elsewhere hits both alike, medians printed. sixgate runs as the real
// `sixgate nat` child with --trace-gc: the scavenges it logs during the
// measured runs are counted (the per-packet path must allocate nothing).
// The UDP runs also report CPU per packet forwarded (cpuSample); --base DIR
// adds another build's sixgate (DIR/dist) to every round, for an A/B.
// --workers N runs `sixgate nat --workers N`; --streams N runs iperf3 -P N;
// --clients 2 sends from c1 and c2 at once (a worker serves an inside address's
// flows, so one container's streams stay on one worker); --pin CPU pins
// iperf3 (both ends) to that CPU (taskset), apart from the data path.
// sixgate runs with its default, the fast path on (established flows
// translated by tc programs, the TUN out of their path); --offload off turns
// it off, --offload both adds this build with it off to every round (in
// place of --base), so the fast path is A/B'd against the TUN path and the
// kernel in one run. Each arm reports the share of packets the fast path took.
// Prints: nat-e2e: sixgate <Gbit/s> tcp <kpps> udp64; kernel <Gbit/s> tcp <kpps> udp64; ratio tcp <r> udp <r>
// (with --repeat, the range of the per-round ratios too)
import { fileURLToPath } from 'node:url';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from '../test/support/netns.js';
import { NatLab, A, CLI } from '../test/datapath/topology.js';
import { request } from '../src/service/control.js';

/** senderSysNs: the iperf3 client's system CPU time (its own getrusage, in the JSON's cpu_utilization_percent). */
interface IperfResult { bitsPerSecond: number; pps: number; sentPps: number; seconds: number; senderSysNs: number }

let nextPort = 5600;

/** From the command line: iperf3's streams (-P), the CPU it is pinned to (taskset), its senders (--clients), sixgate's workers. */
const load: { streams: number; pin: number; workers: number; senders: Netns[] } = { streams: 1, pin: -1, workers: 1, senders: [] };

/** A sixgate arm: which build, with which extra flags. */
interface Build { readonly cli: string; readonly args: readonly string[]; readonly label: string }

function iperf3(args: string[]): [string, string[]] {
  return load.pin < 0 ? ['iperf3', args] : ['taskset', ['-c', String(load.pin), 'iperf3', ...args]];
}

/** iperf3 from every sender at once (each to a server of its own on `b`), summed. */
async function iperf(senders: readonly Netns[], b: Netns, dst: string, seconds: number, udp64: boolean, udpKpps = 0): Promise<IperfResult> {
  const all = await Promise.all(senders.map((a) => iperfFrom(a, b, dst, seconds, udp64, udpKpps)));
  return {
    bitsPerSecond: all.reduce((n, r) => n + r.bitsPerSecond, 0), pps: all.reduce((n, r) => n + r.pps, 0),
    sentPps: all.reduce((n, r) => n + r.sentPps, 0), seconds: Math.max(...all.map((r) => r.seconds)),
    senderSysNs: all.reduce((n, r) => n + r.senderSysNs, 0),
  };
}

async function iperfFrom(a: Netns, b: Netns, dst: string, seconds: number, udp64: boolean, udpKpps = 0): Promise<IperfResult> {
  const port = String(nextPort++);
  const server = b.spawn(...iperf3(['-s', '-1', '-p', port]));
  try {
    await new Promise((r) => setTimeout(r, 300));
    const args = ['-c', dst, '-p', port, '-t', String(seconds), '-J', '-P', String(load.streams), ...(udp64 ? ['-u', '-b', String(udpKpps * 1000 * 64 * 8), '-l', '64'] : [])];
    const run = await a.run(...iperf3(args), (seconds + 15) * 1000);
    if (run.code !== 0) throw new Error(`iperf3 ${args.join(' ')} failed: ${run.stderr || run.stdout.slice(0, 400)}`);
    const end = (JSON.parse(run.stdout) as { end: Record<string, { seconds: number; bits_per_second: number; packets?: number; lost_packets?: number; host_system?: number }> }).end;
    const senderSysNs = (end.cpu_utilization_percent?.host_system ?? 0) / 100 * seconds * 1e9;
    if (udp64) {
      const sum = end.sum;
      const delivered = (sum.packets ?? 0) - (sum.lost_packets ?? 0);
      return { bitsPerSecond: sum.bits_per_second, pps: delivered / sum.seconds, sentPps: (sum.packets ?? 0) / sum.seconds, seconds: sum.seconds, senderSysNs };
    }
    return { bitsPerSecond: end.sum_received.bits_per_second, pps: 0, sentPps: 0, seconds: end.sum_received.seconds, senderSysNs };
  } finally {
    server.kill('SIGKILL');
  }
}

const CONFIG = `uplink: up0
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
published: []
`;

/** sixgate as `node --trace-gc CLI nat`, with its scavenges counted between mark() calls. */
class Sixgate {
  scavenges = 0;
  marks = 0;
  /** Its TUN batches through io_uring (the start-up line's ioUring; absent in builds before it). */
  ioUring = false;
  /** The start-up line's offload ("on", "off (why)"; absent in builds before the fast path). */
  offload = 'absent';
  private constructor(readonly child: ChildProcess, readonly socket: string) {}
  static async start(lab: NatLab, build: Build): Promise<Sixgate> {
    const file = `/tmp/${lab.gw.name}-bench.yaml`;
    const socket = `/tmp/${lab.gw.name}-bench.sock`;
    writeFileSync(file, CONFIG);
    // --workers only when asked: a --base build from before workers has no such option.
    const workers = load.workers > 1 ? ['--workers', String(load.workers)] : [];
    const child = lab.gw.spawn(process.execPath, ['--trace-gc', build.cli, 'nat', '-c', file, '--cleanup', '--control-socket', socket, ...workers, ...build.args]);
    const s = new Sixgate(child, socket);
    let out = '';
    // V8's --trace-gc lines come on stdout, sixgate's log on stderr.
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      for (const line of d.split('\n')) if (/Scavenge/.test(line)) s.scavenges++;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const deadline = Date.now() + 10_000;
    while (!out.includes('nat66 data path running')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sixgate did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    s.ioUring = / ioUring=true/.test(out);
    s.offload = / offload="?(on|off[^"\n]*)/.exec(out)?.[1] ?? 'absent';
    return s;
  }

  /** Packets the fast path translated (both ways) and packets read from the TUN, so far. */
  async paths(): Promise<{ fast: number; tun: number }> {
    const { counters: c } = await request(this.socket, { op: 'counters' }) as { counters: Record<string, number | undefined> };
    return { fast: (c.sixgate_nat_offload_out_packets_total ?? 0) + (c.sixgate_nat_offload_in_packets_total ?? 0), tun: c.sixgate_nat_tun_rx_packets_total ?? 0 };
  }
  async stop(): Promise<void> {
    const exited = once(this.child, 'exit');
    this.child.kill('SIGTERM');
    await exited;
  }
}

function tunStats(lab: NatLab): { tx: { dropped: number }; rx: { packets: number } } {
  const [link] = lab.gw.ipJson<Array<{ stats64: { tx: { dropped: number }; rx: { packets: number } } }>>('-s', 'link', 'show', 'sixgate0');
  return link!.stats64;
}

/**
 * Datagrams the receiving host has dropped for a full socket buffer, in all
 * (absolute, -a; history untouched, -s): nstat's history file is one per
 * user, not per namespace, so deltas from it mix in other namespaces' counts.
 */
function rcvbufDrops(lab: NatLab): number {
  const m = /Udp6RcvbufErrors\s+(\d+)/.exec(lab.inet.exec('nstat', ['-a', '-s', 'Udp6RcvbufErrors']));
  return m ? Number(m[1]) : 0;
}

function gbit(bps: number): string {
  return (bps / 1e9).toFixed(2);
}

function kpps(pps: number): string {
  return (pps / 1000).toFixed(0);
}

/**
 * CPU time from /proc in nanoseconds. Both files count USER_HZ (100) ticks,
 * sampled: this kernel has no IRQ time accounting, so a tick that lands in
 * softirq work done in a task's context (at local_bh_enable after a write, a
 * send) counts in that task's time and in the softirq column alike. The
 * machine's busy total counts every tick once.
 */
const TICK_NS = 1e9 / 100;
interface CpuSample { busy: number; softirq: number; proc: number }

function cpuSample(pid: number | undefined): CpuSample {
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const t = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  let proc = 0;
  if (pid !== undefined) {
    // After "(comm)": state is field 3, utime field 14, stime field 15 (proc(5)).
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    proc = Number(f[11]) + Number(f[12]);
  }
  return { busy: (t[0]! + t[1]! + t[2]! + t[5]! + t[6]!) * TICK_NS, softirq: t[6]! * TICK_NS, proc: proc * TICK_NS };
}

/** Packets the gateway sent out of its uplink: forwarded by whichever NAT runs. */
function uplinkSent(lab: NatLab): number {
  const [link] = lab.gw.ipJson<Array<{ stats64: { tx: { packets: number } } }>>('-s', 'link', 'show', 'up0');
  return link!.stats64.tx.packets;
}

/** One UDP run's CPU per packet the gateway forwarded, in ns: the forwarder's process, softirq, iperf3's sender (sys), the whole machine. */
interface UdpCpu { packets: number; proc: number; softirq: number; senderSys: number; busy: number }

async function measuredUdp(lab: NatLab, pid: number | undefined, seconds: number, udpKpps: number): Promise<{ r: IperfResult; cpu: UdpCpu }> {
  const sent0 = uplinkSent(lab);
  const a = cpuSample(pid);
  const r = await iperf(load.senders, lab.inet, A.inet, seconds, true, udpKpps);
  const b = cpuSample(pid);
  const packets = Math.max(1, uplinkSent(lab) - sent0);
  return {
    r,
    cpu: {
      packets,
      proc: (b.proc - a.proc) / packets,
      softirq: (b.softirq - a.softirq) / packets,
      senderSys: r.senderSysNs / packets,
      busy: (b.busy - a.busy) / packets,
    },
  };
}

/** One NAT's figures in a round: sixgate (this build or --base's) or the kernel. */
interface Arm {
  tcp?: IperfResult; udp: IperfResult; cpu: UdpCpu; rcvDrops: number; gc?: number; gcTotal?: number; tunDrops?: number; forwardedPps?: number; ioUring?: boolean;
  /** The fast path's state, and its share of the packets sixgate translated in the TCP and UDP runs. */
  offload?: string; fastTcp?: number; fastUdp?: number;
}

/** The fast path's share of the packets translated between two reads (its counters come back once a second: read 1.2 s after a run). */
function fastShare(a: { fast: number; tun: number }, b: { fast: number; tun: number }): number {
  const fast = b.fast - a.fast;
  return fast / Math.max(1, fast + b.tun - a.tun);
}

async function sixgateArm(lab: NatLab, build: Build, seconds: number, udpKpps: number, udpOnly: boolean): Promise<Arm> {
  const sg = await Sixgate.start(lab, build);
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1200));
  try {
    // Start-up's last scavenges come up to half a second after its "running" line: not the data path's.
    await new Promise((r) => setTimeout(r, 1000));
    const gc0 = sg.scavenges;
    const p0 = await sg.paths();
    const tcp = udpOnly ? undefined : await iperf(load.senders, lab.inet, A.inet, seconds, false);
    if (!udpOnly) await settle();
    const p1 = await sg.paths();
    const written0 = tunStats(lab).rx.packets;
    const drops0 = tunStats(lab).tx.dropped;
    const rcv0 = rcvbufDrops(lab);
    const { r: udp, cpu } = await measuredUdp(lab, sg.child.pid, seconds, udpKpps);
    const rcvDrops = rcvbufDrops(lab) - rcv0;
    const link = tunStats(lab);
    await settle();
    const p2 = await sg.paths();
    return {
      tcp, udp, cpu, rcvDrops, gc: sg.scavenges - gc0, gcTotal: sg.scavenges, ioUring: sg.ioUring,
      tunDrops: link.tx.dropped - drops0, forwardedPps: (link.rx.packets - written0) / udp.seconds,
      offload: sg.offload, fastTcp: fastShare(p0, p1), fastUdp: fastShare(p1, p2),
    };
  } finally {
    await sg.stop();
  }
}

async function kernelArm(lab: NatLab, seconds: number, udpKpps: number, udpOnly: boolean): Promise<Arm> {
  lab.gw.exec('ip6tables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', 'fd66:1::/64', '-o', 'up0', '-j', 'MASQUERADE']);
  try {
    const tcp = udpOnly ? undefined : await iperf(load.senders, lab.inet, A.inet, seconds, false);
    const rcv0 = rcvbufDrops(lab);
    const { r: udp, cpu } = await measuredUdp(lab, undefined, seconds, udpKpps);
    return { tcp, udp, cpu, rcvDrops: rcvbufDrops(lab) - rcv0 };
  } finally {
    lab.gw.exec('ip6tables', ['-t', 'nat', '-F', 'POSTROUTING']);
  }
}

export async function run(args: string[]): Promise<void> {
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined && Number.isFinite(Number(args[i + 1])) ? Number(args[i + 1]) : dflt;
  };
  const seconds = opt('--seconds', 5);
  const repeat = Math.min(9, opt('--repeat', 1));
  const udpKpps = opt('--udp-kpps', 0);
  const udpOnly = args.includes('--udp-only');
  // --base DIR: another build's sixgate (a worktree with its dist/) as a third arm in every round, for A/B.
  const baseAt = args.indexOf('--base');
  const offloadAt = args.indexOf('--offload');
  const offload = offloadAt >= 0 ? args[offloadAt + 1] : 'on';
  if (offload !== 'on' && offload !== 'off' && offload !== 'both') throw new Error(`--offload on|off|both, got ${offload}`);
  const self: Build = { cli: CLI, args: offload === 'off' ? ['--offload', 'off'] : [], label: `this build (offload ${offload === 'off' ? 'off' : 'on'})` };
  // The second sixgate arm: another build (--base), or this one with the fast path off (--offload both).
  const other: Build | undefined = offload === 'both' ? { cli: CLI, args: ['--offload', 'off'], label: 'this build, offload off' }
    : baseAt >= 0 ? { cli: resolve(args[baseAt + 1]!, 'dist/src/cli/main.js'), args: [], label: `base ${args[baseAt + 1]}` } : undefined;
  load.workers = opt('--workers', 1);
  load.streams = opt('--streams', 1);
  load.pin = opt('--pin', -1);
  if (process.getuid?.() !== 0) throw new Error('bench nat-e2e needs root (network namespaces and a TUN)');
  const lab = new NatLab({ withNpt: false, withInet2: false });
  // --clients 2: c1 and c2 send at once (two inside addresses: with workers, one each).
  load.senders = opt('--clients', 1) >= 2 ? [lab.c1, lab.c2] : [lab.c1];
  // --clients 2: c1 and c2 send at once (two inside addresses: with workers, one each).
  const senders = opt('--clients', 1) >= 2 ? [lab.c1, lab.c2] : [lab.c1];
  try {
    const rounds: Array<{ s: Arm; b?: Arm; k: Arm }> = [];
    for (let r = 0; r < repeat; r++) {
      // Base and this build swap order every round, so neither always runs first.
      const b = other !== undefined && r % 2 === 1 ? await sixgateArm(lab, other, seconds, udpKpps, udpOnly) : undefined;
      const s = await sixgateArm(lab, self, seconds, udpKpps, udpOnly);
      const b2 = other !== undefined && r % 2 === 0 ? await sixgateArm(lab, other, seconds, udpKpps, udpOnly) : b;
      const k = await kernelArm(lab, seconds, udpKpps, udpOnly);
      rounds.push({ s, b: b2, k });
      if (repeat > 1) {
        const tcp = udpOnly ? '' : `${gbit(s.tcp!.bitsPerSecond)} / kernel ${gbit(k.tcp!.bitsPerSecond)} Gbit/s tcp (ratio ${(s.tcp!.bitsPerSecond / k.tcp!.bitsPerSecond).toFixed(2)}), `;
        process.stdout.write(`  round ${r + 1}: sixgate ${tcp}${kpps(s.udp.pps)} / kernel ${kpps(k.udp.pps)} kpps udp64` +
          (b2 ? `; ${other!.label} ${udpOnly ? '' : `${gbit(b2.tcp!.bitsPerSecond)} Gbit/s tcp, `}${kpps(b2.udp.pps)} kpps, TUN-forwarded ${kpps(s.forwardedPps!)} / ${kpps(b2.forwardedPps!)}` : '') + '\n');
      }
    }
    const median = (pick: (x: (typeof rounds)[number]) => number): number => {
      const v = rounds.map(pick).sort((x, y) => x - y);
      return v[(v.length - 1) >> 1]!;
    };
    const range = (pick: (x: (typeof rounds)[number]) => number): string => {
      const v = rounds.map(pick);
      return `${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}`;
    };
    const kU = median((x) => x.k.udp.pps);
    const sU = median((x) => x.s.udp.pps);
    const tcpPart = (arm: (x: (typeof rounds)[number]) => Arm): string => udpOnly ? '' : `${gbit(median((x) => arm(x).tcp!.bitsPerSecond))} Gbit/s tcp `;
    process.stdout.write(`nat-e2e: sixgate ${tcpPart((x) => x.s)}${kpps(sU)} kpps udp64; kernel ${tcpPart((x) => x.k)}${kpps(kU)} kpps udp64; ratio ` +
      (udpOnly ? '' : `tcp ${(median((x) => x.s.tcp!.bitsPerSecond) / median((x) => x.k.tcp!.bitsPerSecond)).toFixed(2)} `) + `udp ${(sU / kU).toFixed(2)}` +
      (repeat > 1 ? ` (ratio of medians; per round${udpOnly ? '' : ` tcp ${range((x) => x.s.tcp!.bitsPerSecond / x.k.tcp!.bitsPerSecond)},`} udp ${range((x) => x.s.udp.pps / x.k.udp.pps)})` : '') + '\n');
    process.stdout.write(`  udp64 sent by iperf3 (sender-bound): sixgate ${kpps(median((x) => x.s.udp.sentPps))} kpps, ` +
      `kernel ${kpps(median((x) => x.k.udp.sentPps))} kpps; delivered figures above are what the receiver got\n`);
    // On 2 vCPUs the sender, the receiver and sixgate compete: the kernel's
    // forwarding runs in the sender's own context (back-pressure), sixgate's
    // does not, so the receiver starves and drops at its socket.
    const fwd = median((x) => x.s.forwardedPps!);
    const pct = (v: number): string => `${(v * 100).toFixed(0)} %`;
    process.stdout.write(`  fast path: ${rounds[0]!.s.offload}; its share of the packets sixgate translated: tcp ${rounds.map((x) => pct(x.s.fastTcp ?? 0)).join(', ')}; ` +
      `udp ${rounds.map((x) => pct(x.s.fastUdp ?? 0)).join(', ')}\n`);
    process.stdout.write(`  udp64 forwarded by sixgate through the TUN (written back into it; the fast path's packets are not): ${kpps(fwd)} kpps ` +
      `(${(fwd / kU).toFixed(2)}x kernel delivered); receiver socket-buffer drops per run: sixgate ${rounds.map((x) => x.s.rcvDrops).join(', ')}; kernel ${rounds.map((x) => x.k.rcvDrops).join(', ')}\n`);
    process.stdout.write(`  packets the kernel dropped at the TUN queue (sixgate not reading fast enough): ${rounds.map((x) => x.s.tunDrops).join(', ')}\n`);
    const cpu = (arm: (x: (typeof rounds)[number]) => Arm, key: keyof UdpCpu): number => median((x) => arm(x).cpu[key]);
    const ns = (v: number): string => v.toFixed(0);
    const sProc = cpu((x) => x.s, 'proc');
    const sSoft = cpu((x) => x.s, 'softirq');
    const kSoft = cpu((x) => x.k, 'softirq');
    const kSender = cpu((x) => x.k, 'senderSys');
    process.stdout.write(`  CPU ns per udp64 packet forwarded out of the uplink (medians): sixgate process ${ns(sProc)} + softirq ${ns(sSoft)} = ${ns(sProc + sSoft)}; ` +
      `kernel softirq ${ns(kSoft)} + iperf3 sender sys ${ns(kSender)} = ${ns(kSoft + kSender)} (sender sys with sixgate ${ns(cpu((x) => x.s, 'senderSys'))}); ` +
      `whole machine busy: sixgate ${ns(cpu((x) => x.s, 'busy'))}, kernel ${ns(cpu((x) => x.k, 'busy'))}. ` +
      'Tick samples: softirq run in a task\'s context counts in the task\'s time and in softirq alike; the machine total counts each tick once (and any other load)\n');
    process.stdout.write(`  sixgate GC during the measured runs (--trace-gc scavenges): ${rounds.map((x) => x.s.gc).join(', ')}; ` +
      `${seconds} s per run, ${repeat} round(s), ${load.workers} worker(s), ${load.senders.length} client(s) of ${load.streams} stream(s)${load.pin < 0 ? '' : `, iperf3 on CPU ${load.pin}`}, TUN I/O ${rounds[0]!.s.ioUring ? 'io_uring' : 'readv/write'}; scavenges logged since each start (incl. start-up): ${rounds.map((x) => x.s.gcTotal).join(', ')}\n`);
    if (other !== undefined) {
      const bU = median((x) => x.b!.udp.pps);
      const bF = median((x) => x.b!.forwardedPps!);
      const kT = udpOnly ? '' : `; ${other.label} / kernel: tcp ${(median((x) => x.b!.tcp!.bitsPerSecond) / median((x) => x.k.tcp!.bitsPerSecond)).toFixed(2)} ` +
        `(per round ${range((x) => x.b!.tcp!.bitsPerSecond / x.k.tcp!.bitsPerSecond)})`;
      process.stdout.write(`  ${other.label} (fast path ${rounds[0]!.b!.offload}): ${tcpPart((x) => x.b!)}${kpps(bU)} kpps udp64 delivered, ${kpps(bF)} kpps TUN-forwarded${kT}; ` +
        `this build / that: delivered ${(sU / bU).toFixed(2)}x, forwarded ${(fwd / bF).toFixed(2)}x` +
        (udpOnly ? '' : `, tcp ${(median((x) => x.s.tcp!.bitsPerSecond) / median((x) => x.b!.tcp!.bitsPerSecond)).toFixed(2)}x`) +
        `; TUN-queue drops ${rounds.map((x) => x.b!.tunDrops).join(', ')}; receiver socket-buffer drops ${rounds.map((x) => x.b!.rcvDrops).join(', ')}; CPU ns per packet process ${ns(cpu((x) => x.b!, 'proc'))} + softirq ${ns(cpu((x) => x.b!, 'softirq'))}, ` +
        `machine ${ns(cpu((x) => x.b!, 'busy'))}; GC ${rounds.map((x) => x.b!.gc).join(', ')}; TUN I/O ${rounds[0]!.b!.ioUring ? 'io_uring' : 'readv/write'}\n`);
    }
  } finally {
    rmSync(`/tmp/${lab.gw.name}-bench.yaml`, { force: true });
    lab.destroy();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
