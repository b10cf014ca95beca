// `npm run bench -- nat-e2e [--seconds N] [--repeat N] [--udp-kpps N] [--workers N] [--streams N] [--clients 2] [--pin CPU]`: the NAT66 data path
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
// --workers N runs `sixgate nat --workers N`; --streams N runs iperf3 -P N;
// --clients 2 sends from c1 and c2 at once (a worker serves an inside address's
// flows, so one container's streams stay on one worker); --pin CPU pins
// iperf3 (both ends) to that CPU (taskset), apart from the data path.
// Prints: nat-e2e: sixgate <Gbit/s> tcp <kpps> udp64; kernel <Gbit/s> tcp <kpps> udp64; ratio tcp <r> udp <r>
import { fileURLToPath } from 'node:url';
import { rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from '../test/support/netns.js';
import { NatLab, A, CLI } from '../test/datapath/topology.js';

interface IperfResult { bitsPerSecond: number; pps: number; sentPps: number; seconds: number }

let nextPort = 5600;

/** iperf3's streams (-P) and the CPU it is pinned to (taskset), from the command line. */
const load = { streams: 1, pin: -1 };

function iperf3(args: string[]): [string, string[]] {
  return load.pin < 0 ? ['iperf3', args] : ['taskset', ['-c', String(load.pin), 'iperf3', ...args]];
}

/** iperf3 from every sender at once (each to a server of its own on `b`), summed. */
async function iperf(senders: readonly Netns[], b: Netns, dst: string, seconds: number, udp64: boolean, udpKpps = 0): Promise<IperfResult> {
  const all = await Promise.all(senders.map((a) => iperfFrom(a, b, dst, seconds, udp64, udpKpps)));
  return {
    bitsPerSecond: all.reduce((n, r) => n + r.bitsPerSecond, 0), pps: all.reduce((n, r) => n + r.pps, 0),
    sentPps: all.reduce((n, r) => n + r.sentPps, 0), seconds: Math.max(...all.map((r) => r.seconds)),
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
    const end = (JSON.parse(run.stdout) as { end: Record<string, { seconds: number; bits_per_second: number; packets?: number; lost_packets?: number }> }).end;
    if (udp64) {
      const sum = end.sum;
      const delivered = (sum.packets ?? 0) - (sum.lost_packets ?? 0);
      return { bitsPerSecond: sum.bits_per_second, pps: delivered / sum.seconds, sentPps: (sum.packets ?? 0) / sum.seconds, seconds: sum.seconds };
    }
    return { bitsPerSecond: end.sum_received.bits_per_second, pps: 0, sentPps: 0, seconds: end.sum_received.seconds };
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
  private constructor(readonly child: ChildProcess) {}
  static async start(lab: NatLab, workers: number): Promise<Sixgate> {
    const file = `/tmp/${lab.gw.name}-bench.yaml`;
    writeFileSync(file, CONFIG);
    const child = lab.gw.spawn(process.execPath, ['--trace-gc', CLI, 'nat', '-c', file, '--cleanup', '--workers', String(workers)]);
    const s = new Sixgate(child);
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
    return s;
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

/** Datagrams the receiving host dropped for a full socket buffer since the last call (nstat keeps the history). */
function rcvbufDrops(lab: NatLab): number {
  const m = /Udp6RcvbufErrors\s+(\d+)/.exec(lab.inet.exec('nstat', ['Udp6RcvbufErrors']));
  return m ? Number(m[1]) : 0;
}

function gbit(bps: number): string {
  return (bps / 1e9).toFixed(2);
}

export async function run(args: string[]): Promise<void> {
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined && Number.isFinite(Number(args[i + 1])) ? Number(args[i + 1]) : dflt;
  };
  const seconds = opt('--seconds', 5);
  const repeat = Math.min(9, opt('--repeat', 1));
  const udpKpps = opt('--udp-kpps', 0);
  const workers = opt('--workers', 1);
  load.streams = opt('--streams', 1);
  load.pin = opt('--pin', -1);
  if (process.getuid?.() !== 0) throw new Error('bench nat-e2e needs root (network namespaces and a TUN)');
  const lab = new NatLab({ withNpt: false, withInet2: false });
  // --clients 2: c1 and c2 send at once (two inside addresses: with workers, one each).
  const senders = opt('--clients', 1) >= 2 ? [lab.c1, lab.c2] : [lab.c1];
  try {
    const rounds: Array<{ s: IperfResult; su: IperfResult; k: IperfResult; ku: IperfResult; gc: number; gcTotal: number; tunDrops: number; forwardedPps: number; sDrops: number; kDrops: number }> = [];
    for (let r = 0; r < repeat; r++) {
      const sg = await Sixgate.start(lab, workers);
      const gc0 = sg.scavenges;
      const s = await iperf(senders, lab.inet, A.inet, seconds, false);
      const written0 = tunStats(lab).rx.packets;
      rcvbufDrops(lab);
      const su = await iperf(senders, lab.inet, A.inet, seconds, true, udpKpps);
      const sDrops = rcvbufDrops(lab);
      const link = tunStats(lab);
      const forwardedPps = (link.rx.packets - written0) / su.seconds;
      const tunDrops = link.tx.dropped;
      const gc = sg.scavenges - gc0;
      const gcTotal = sg.scavenges;
      await sg.stop();
      lab.gw.exec('ip6tables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', 'fd66:1::/64', '-o', 'up0', '-j', 'MASQUERADE']);
      const k = await iperf(senders, lab.inet, A.inet, seconds, false);
      rcvbufDrops(lab);
      const ku = await iperf(senders, lab.inet, A.inet, seconds, true, udpKpps);
      const kDrops = rcvbufDrops(lab);
      lab.gw.exec('ip6tables', ['-t', 'nat', '-F', 'POSTROUTING']);
      rounds.push({ s, su, k, ku, gc, gcTotal, tunDrops, forwardedPps, sDrops, kDrops });
      if (repeat > 1) {
        process.stdout.write(`  round ${r + 1}: sixgate ${gbit(s.bitsPerSecond)} / kernel ${gbit(k.bitsPerSecond)} Gbit/s tcp, ` +
          `${(su.pps / 1000).toFixed(0)} / ${(ku.pps / 1000).toFixed(0)} kpps udp64\n`);
      }
    }
    const median = (pick: (x: (typeof rounds)[number]) => number): number => {
      const v = rounds.map(pick).sort((x, y) => x - y);
      return v[(v.length - 1) >> 1]!;
    };
    const sT = median((x) => x.s.bitsPerSecond);
    const kT = median((x) => x.k.bitsPerSecond);
    const sU = median((x) => x.su.pps);
    const kU = median((x) => x.ku.pps);
    process.stdout.write(`nat-e2e: sixgate ${gbit(sT)} Gbit/s tcp ${(sU / 1000).toFixed(0)} kpps udp64; ` +
      `kernel ${gbit(kT)} Gbit/s tcp ${(kU / 1000).toFixed(0)} kpps udp64; ratio tcp ${(sT / kT).toFixed(2)} udp ${(sU / kU).toFixed(2)}\n`);
    process.stdout.write(`  udp64 sent by iperf3 (sender-bound): sixgate ${(median((x) => x.su.sentPps) / 1000).toFixed(0)} kpps, ` +
      `kernel ${(median((x) => x.ku.sentPps) / 1000).toFixed(0)} kpps; delivered figures above are what the receiver got\n`);
    // On 2 vCPUs the sender, the receiver and sixgate compete: the kernel's
    // forwarding runs in the sender's own context (back-pressure), sixgate's
    // does not, so the receiver starves and drops at its socket.
    process.stdout.write(`  udp64 forwarded by sixgate (written back into the TUN): ${(median((x) => x.forwardedPps) / 1000).toFixed(0)} kpps ` +
      `(${(median((x) => x.forwardedPps) / kU).toFixed(2)}x kernel delivered); receiver socket-buffer drops per run: sixgate ${rounds.map((x) => x.sDrops).join(', ')}; kernel ${rounds.map((x) => x.kDrops).join(', ')}\n`);
    process.stdout.write(`  packets the kernel dropped at the TUN queue (sixgate not reading fast enough): ${rounds.map((x) => x.tunDrops).join(', ')}\n`);
    process.stdout.write(`  sixgate GC during the measured runs (--trace-gc scavenges): ${rounds.map((x) => x.gc).join(', ')}; ` +
      `${seconds} s per run, ${repeat} round(s), ${workers} worker(s), ${senders.length} client(s) of ${load.streams} stream(s)${load.pin < 0 ? '' : `, iperf3 on CPU ${load.pin}`}; scavenges logged since each start (incl. start-up): ${rounds.map((x) => x.gcTotal).join(', ')}\n`);
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
