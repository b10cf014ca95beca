// `npm run bench -- wire [--packets N]`: the receive gate of the data plane,
// parse + validate, over real captures replayed from one preallocated ring.
// Per packet: walkChain (which starts with the ipv6.check gate) + the L4
// header check (TCP/UDP/ICMPv6; full RFC 4861 validation for ND) + the L4
// checksum. Verdicts are counted per reason code, as the engines do.
// Prints the rate per traffic class and for the mix, then runs N packets
// (default 10M) of the mix under a GC observer: the path must allocate nothing.
import { Bench } from 'tinybench';
import { WireError, WIRE_ERROR_COUNT, wireErrorName } from '../src/wire/error.js';
import { Ipv6Chain, walkChain } from '../src/wire/ipv6-ext.js';
import { Protocol } from '../src/wire/ipv6.js';
import * as tcp from '../src/wire/tcp.js';
import * as udp from '../src/wire/udp.js';
import * as icmpv6 from '../src/wire/icmpv6.js';
import * as ndp from '../src/wire/ndp.js';
import { verifyL4Checksum } from '../src/wire/checksum.js';
import { GcCounter, collectGarbage } from './support/gc.js';
import { loadRing, type PacketRing } from './support/ring.js';

const CLASSES: Record<string, string[]> = {
  tcp: ['suricata-verify__http-body-hook-01.pcap', 'suricata-verify__community-id-ipv6.pcap'],
  udp: ['zeek__quic-chromium-google-de-fragmented.pcap', 'zeek__ipv6-fragmented-dns.pcap'],
  nd: ['zeek__icmp6-nd-options.pcap', 'zeek__communityid-icmp6.pcap', 'tcpdump__icmpv6.pcap'],
};

const chain = new Ipv6Chain();
const verdicts = new Float64Array(WIRE_ERROR_COUNT);

/** The gate for one packet; a reason code, Ok when it may be forwarded. */
function validate(buf: Uint8Array, off: number, len: number): number {
  const err = walkChain(buf, off, len, chain);
  if (err !== WireError.Ok) return err;
  // A fragment's L4 header and checksum belong to the reassembled datagram.
  if (chain.isFragment) return WireError.Ok;
  const l4 = chain.l4Offset;
  const l4Len = chain.l4Length;
  let l4Err: number;
  switch (chain.protocol) {
    case Protocol.Tcp:
      l4Err = tcp.check(buf, l4, l4Len);
      break;
    case Protocol.Udp:
      l4Err = udp.check(buf, l4, l4Len);
      break;
    case Protocol.Icmpv6:
      l4Err = icmpv6.check(buf, l4, l4Len);
      // ND gets RFC 4861's receive rules, checksum included.
      if (l4Err === WireError.Ok && ndp.isNdType(icmpv6.type(buf, l4))) return ndp.validate(buf, off, chain);
      break;
    default:
      return WireError.Ok;
  }
  if (l4Err !== WireError.Ok) return l4Err;
  return verifyL4Checksum(buf, off, l4, l4Len, chain.protocol, chain.pseudoDstOffset) ? WireError.Ok : WireError.BadChecksum;
}

/** One pass over the ring, counting verdicts. */
function replay(ring: PacketRing): void {
  const { buf, lens, slotSize, count } = ring;
  for (let i = 0, off = 0; i < count; i++, off += slotSize) verdicts[validate(buf, off, lens[i])]++;
}

function mixedRing(): PacketRing {
  return loadRing(Object.values(CLASSES).flat());
}

export async function run(args: string[]): Promise<void> {
  const flag = args.indexOf('--packets');
  const steadyPackets = flag >= 0 ? Number(args[flag + 1]) : 10_000_000;
  if (!Number.isInteger(steadyPackets) || steadyPackets <= 0) throw new Error(`--packets needs a positive integer, got ${args[flag + 1]}`);

  const rings: Record<string, PacketRing> = {};
  for (const [name, files] of Object.entries(CLASSES)) rings[name] = loadRing(files);
  rings.mix = mixedRing();

  const bench = new Bench({ name: 'wire', time: 1000 });
  for (const [name, ring] of Object.entries(rings)) bench.add(name, () => replay(ring));
  await bench.run();

  for (const task of bench.tasks) {
    const ring = rings[task.name];
    const result = task.result;
    if (result.state !== 'completed') throw new Error(`bench task ${task.name}: ${result.state}`);
    const mpps = ring.count / (result.period * 1000);
    const bytes = ring.lens.reduce((sum, n) => sum + n, 0);
    process.stdout.write(`  ${task.name.padEnd(4)} ${String(ring.count).padStart(5)} packets, ${Math.round(bytes / ring.count)} B avg: ` +
      `${mpps.toFixed(2)} Mpps, ${(1000 / mpps).toFixed(0)} ns/packet, ±${result.latency.rme.toFixed(1)}%\n`);
  }
  const mix = bench.tasks.find(t => t.name === 'mix')!.result;
  if (mix.state !== 'completed') throw new Error('mix did not complete');
  process.stdout.write(`wire: ${(rings.mix.count / (mix.period * 1000)).toFixed(2)} Mpps\n`);

  // Verdicts of one pass over the mix (offloaded captures carry partial checksums, counted as bad).
  verdicts.fill(0);
  replay(rings.mix);
  const counted = [...verdicts].map((n, code) => (n > 0 ? `${wireErrorName(code)} ${n}` : '')).filter(Boolean);
  process.stdout.write(`verdicts per pass: ${counted.join(', ')}\n`);

  await steadyState(rings.mix, steadyPackets);
}

/** Replays `packets` packets of the ring under a GC observer and reports what the heap did. */
async function steadyState(ring: PacketRing, packets: number): Promise<void> {
  const passes = Math.ceil(packets / ring.count);
  const gc = new GcCounter();
  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  gc.start();
  const t0 = process.hrtime.bigint();
  for (let pass = 0; pass < passes; pass++) replay(ring);
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  const heapAfter = process.memoryUsage().heapUsed;
  const counts = await gc.stop();
  const total = passes * ring.count;
  const ok = counts.minor === 0 && counts.major === 0;
  process.stdout.write(
    `steady state: ${total} packets in ${(elapsedNs / 1e6).toFixed(0)} ms (${(total / elapsedNs * 1000).toFixed(2)} Mpps); ` +
    `GC: ${counts.minor} scavenges, ${counts.major} mark-sweeps; ` +
    `heapUsed ${(heapBefore / 1048576).toFixed(2)} -> ${(heapAfter / 1048576).toFixed(2)} MiB ` +
    `(${((heapAfter - heapBefore) / total).toFixed(4)} B/packet)\n` +
    `allocation check: ${ok ? 'PASS (no GC while replaying)' : 'FAIL (the packet path allocates)'}\n`,
  );
  if (!ok) process.exitCode = 1;
}
