// `npm run bench -- tun [--seconds N] [--repeat N] [--no-offload]`: a TUN passthrough
// between two namespaces driven through the addon, against the plain veth
// path in the same run.
//
//   ns ba: bt0 (TUN) 2001:db8:100::1  ──┐ forwarder (worker_thread): reads a
//   ns bb: bt0 (TUN) 2001:db8:100::2  ──┘ batch from one TUN, writes it to the other
//   ns ba: va0 (veth) 2001:db8:200::1 ──── vb0 2001:db8:200::2 (ns bb): the anchor
//
// iperf3 TCP (1 stream) and UDP with 64-byte payloads run across each path;
// the forwarder counts its GCs (the per-packet path must allocate nothing).
// Prints: tun: <Gbit/s> Gbit/s tcp, <kpps> kpps udp64; veth: <Gbit/s> Gbit/s tcp; ratio <tun/veth>
// Standalone: node dist/bench/tun.js [args]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Counter, enterNetns, PacketRing, Tun, VNET_HDR_LEN } from '../src/io/index.js';
import { Lab, type Netns } from '../test/support/netns.js';
import { GcCounter, type GcCounts } from './support/gc.js';

interface ForwarderData { role: 'tun-forwarder'; pathA: string; pathB: string; vnet: boolean }
interface ForwarderStats {
  /** CPU time of the forwarder thread (user + system), seconds. */
  cpu: number;
  packets: number;
  bytes: number;
  wakeups: number;
  dropped: number;
  gc: GcCounts;
}

const SLOTS = 64;

/** CPU seconds (utime + stime) of the calling thread, from /proc (10 ms ticks). */
function threadCpu(): number {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5); the slice starts at field 3.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Worker side: owns both TUNs and moves every packet across, in batches. */
function forwarder(data: ForwarderData): void {
  const port = parentPort!;
  const open = (path: string): Tun => {
    const restore = enterNetns(path);
    try {
      return Tun.open({ name: 'bt0', vnetHeader: data.vnet, txqueuelen: 1000 });
    } finally {
      restore();
    }
  };
  const ta = open(data.pathA);
  const tb = open(data.pathB);
  const headroom = data.vnet ? VNET_HDR_LEN : 0;
  const slotSize = data.vnet ? 65536 + headroom : 2048;
  const ra = new PacketRing({ slots: SLOTS, slotSize, headroom });
  const rb = new PacketRing({ slots: SLOTS, slotSize, headroom });
  let dropped = 0;
  const pump = (from: Tun, to: Tun, ring: PacketRing): void => {
    // Bounded: at most 4 full batches per wake-up, then yield to the other direction.
    for (let round = 0; round < 4; round++) {
      const n = from.read(ring);
      if (n === 0) return;
      const sent = to.write(ring, 0, n);
      // A full kernel queue: the rest of the batch is dropped, like a NIC would.
      if (sent < n) dropped += n - sent;
      if (n < ring.slots) return;
    }
  };
  ta.onReadable(() => pump(ta, tb, ra));
  tb.onReadable(() => pump(tb, ta, rb));
  const gc = new GcCounter();
  const c = (i: number): number => ta.counters[i] + tb.counters[i];
  let base = [0, 0, 0, 0, 0];
  port.on('message', (msg: string) => {
    if (msg === 'start') {
      base = [c(Counter.RxPackets), c(Counter.RxBytes), c(Counter.Wakeups), dropped, threadCpu()];
      gc.start();
      return;
    }
    if (msg === 'stats') {
      void gc.stop().then((counts) => {
        const stats: ForwarderStats = {
          cpu: threadCpu() - base[4],
          packets: c(Counter.RxPackets) - base[0], bytes: c(Counter.RxBytes) - base[1],
          wakeups: c(Counter.Wakeups) - base[2], dropped: dropped - base[3], gc: counts,
        };
        port.postMessage(stats);
      });
      return;
    }
    ta.close();
    tb.close();
    port.close();
  });
  port.postMessage('ready');
}

if (!isMainThread && (workerData as ForwarderData | undefined)?.role === 'tun-forwarder') forwarder(workerData as ForwarderData);

class Forwarder {
  readonly worker: Worker;
  private constructor(worker: Worker) {
    this.worker = worker;
  }
  static async start(a: Netns, b: Netns, vnet: boolean): Promise<Forwarder> {
    const data: ForwarderData = { role: 'tun-forwarder', pathA: a.path, pathB: b.path, vnet };
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: data });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new Forwarder(worker);
  }
  startCounting(): void {
    this.worker.postMessage('start');
  }
  stats(): Promise<ForwarderStats> {
    return new Promise((resolve) => {
      this.worker.once('message', (s: ForwarderStats) => resolve(s));
      this.worker.postMessage('stats');
    });
  }
  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await new Promise((r) => this.worker.once('exit', r));
  }
}

interface IperfResult { bitsPerSecond: number; pps: number; seconds: number }

let nextPort = 5400;

/** One bounded iperf3 run from `a` to `dst` in `b`. */
async function iperf(a: Netns, b: Netns, dst: string, seconds: number, udp64: boolean): Promise<IperfResult> {
  const port = String(nextPort++);
  const server = b.spawn('iperf3', ['-s', '-1', '-B', dst, '-p', port]);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const args = ['-c', dst, '-p', port, '-t', String(seconds), '-J', ...(udp64 ? ['-u', '-b', '0', '-l', '64'] : [])];
    const run = await a.run('iperf3', args, (seconds + 15) * 1000);
    if (run.code !== 0) throw new Error(`iperf3 ${args.join(' ')} failed: ${run.stderr || run.stdout.slice(0, 400)}`);
    const end = (JSON.parse(run.stdout) as { end: Record<string, { seconds: number; bits_per_second: number; packets?: number; lost_packets?: number }> }).end;
    if (udp64) {
      const sum = end.sum;
      const delivered = (sum.packets ?? 0) - (sum.lost_packets ?? 0);
      return { bitsPerSecond: sum.bits_per_second, pps: delivered / sum.seconds, seconds: sum.seconds };
    }
    return { bitsPerSecond: end.sum_received.bits_per_second, pps: 0, seconds: end.sum_received.seconds };
  } finally {
    server.kill('SIGKILL');
  }
}

function gbit(bps: number): string {
  return (bps / 1e9).toFixed(2);
}

export async function run(args: string[]): Promise<void> {
  const seconds = Number(args[args.indexOf('--seconds') + 1]) || 5;
  const repeat = Math.min(9, Number(args[args.indexOf('--repeat') + 1]) || 1);
  const vnet = !args.includes('--no-offload');
  if (process.getuid?.() !== 0) throw new Error('bench tun needs root (network namespaces and TUN devices)');
  const lab = new Lab();
  let fwd: Forwarder | undefined;
  try {
    const a = lab.ns('ba');
    const b = lab.ns('bb');
    lab.veth(a, 'va0', b, 'vb0');
    lab.addr(a, 'va0', '2001:db8:200::1/64');
    lab.addr(b, 'vb0', '2001:db8:200::2/64');
    fwd = await Forwarder.start(a, b, vnet);
    lab.addr(a, 'bt0', '2001:db8:100::1/64');
    lab.addr(b, 'bt0', '2001:db8:100::2/64');

    // Rounds interleave the two paths, so load from elsewhere on the machine
    // hits both alike; the medians are printed.
    const rounds: Array<{ tcp: IperfResult; tcpStats: ForwarderStats; udp: IperfResult; udpStats: ForwarderStats;
      veth: IperfResult; vethUdp: IperfResult }> = [];
    for (let r = 0; r < repeat; r++) {
      fwd.startCounting();
      const tcp = await iperf(a, b, '2001:db8:100::2', seconds, false);
      const tcpStats = await fwd.stats();
      const veth = await iperf(a, b, '2001:db8:200::2', seconds, false);
      fwd.startCounting();
      const udp = await iperf(a, b, '2001:db8:100::2', seconds, true);
      const udpStats = await fwd.stats();
      const vethUdp = await iperf(a, b, '2001:db8:200::2', seconds, true);
      rounds.push({ tcp, tcpStats, udp, udpStats, veth, vethUdp });
      if (repeat > 1) {
        process.stdout.write(`  round ${r + 1}: tun ${gbit(tcp.bitsPerSecond)} / veth ${gbit(veth.bitsPerSecond)} Gbit/s tcp, ` +
          `${(udpStats.packets / udp.seconds / 1000).toFixed(0)} kpps udp64 forwarded\n`);
      }
    }
    const median = (pick: (x: (typeof rounds)[number]) => number): (typeof rounds)[number] => {
      const sorted = [...rounds].sort((x, y) => pick(x) - pick(y));
      return sorted[(sorted.length - 1) >> 1];
    };
    const mTcp = median((x) => x.tcp.bitsPerSecond / x.veth.bitsPerSecond);
    const mUdp = median((x) => x.udpStats.packets / x.udp.seconds);
    const { tcp, tcpStats, veth } = mTcp;
    const { udp, udpStats, vethUdp } = mUdp;

    // The udp64 figure is what the forwarder moved (the prototype's measure);
    // iperf3's receiver, sharing 2 CPUs with sender and forwarder, loses some.
    const forwarded = udpStats.packets / udp.seconds;
    process.stdout.write(`tun: ${gbit(tcp.bitsPerSecond)} Gbit/s tcp, ${(forwarded / 1000).toFixed(0)} kpps udp64; ` +
      `veth: ${gbit(veth.bitsPerSecond)} Gbit/s tcp; ratio ${(tcp.bitsPerSecond / veth.bitsPerSecond).toFixed(2)}\n`);
    const detail = (label: string, s: ForwarderStats, secs: number): string =>
      `  ${label}: ${(s.packets / secs / 1000).toFixed(0)} kpps through the forwarder, ` +
      `${(s.packets / Math.max(1, s.wakeups)).toFixed(1)} packets per wake-up and ${(s.bytes / Math.max(1, s.packets)).toFixed(0)} bytes per read on average, ` +
      `${s.dropped} dropped; forwarder thread ${(s.cpu / secs * 100).toFixed(0)}% of a CPU, ` +
      `${(s.cpu * 1e6 / Math.max(1, s.packets)).toFixed(2)} µs CPU per packet; GC during the run: ${s.gc.minor} minor, ${s.gc.major} major\n`;
    process.stdout.write(`  offloads ${vnet ? 'on (IFF_VNET_HDR + TSO/USO)' : 'off'}, ${SLOTS}-slot rings, forwarder in a worker_thread, ${seconds} s per run\n`);
    process.stdout.write(detail('tcp', tcpStats, tcp.seconds));
    process.stdout.write(detail('udp64', udpStats, udp.seconds));
    // Packets the kernel could not queue to the TUN because the forwarder fell behind.
    const txDropped = (ns: Netns): number =>
      ns.ipJson<Array<{ stats64: { tx: { dropped: number } } }>>('-s', 'link', 'show', 'dev', 'bt0')[0].stats64.tx.dropped;
    process.stdout.write(`  kernel drops queueing to the TUNs over all runs: ${txDropped(a) + txDropped(b)}\n`);
    process.stdout.write(`  udp64 delivered to the iperf3 receiver: tun ${(udp.pps / 1000).toFixed(0)} kpps, ` +
      `veth ${(vethUdp.pps / 1000).toFixed(0)} kpps\n`);
  } finally {
    await fwd?.stop();
    lab.destroy();
  }
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  run(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
