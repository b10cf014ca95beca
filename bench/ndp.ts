// `npm run bench -- ndp [--packets N] [--live [--rate NS_PER_S] [--only sixgate,sixgate-user,ndppd,kernel]
//                                     [--dump PREFIX] [--node-flags '--trace-gc'] [--base DIST] [--proxy-cpus LIST]]`
//
// 1. The engine alone (no I/O): NS per second for an exact address, for a
//    static prefix, and for a flood of random targets under an iface rule
//    (rate-limited away) with 1% NS for an exact address mixed in; then N
//    packets (default 5M) of that mix under a GC observer: the per-packet
//    path must allocate nothing, so no scavenge may happen.
// 2. --live (root, ndppd installed): the same namespace topology as the
//    tests, answered in turn by sixgate, ndppd 0.2.5 and the kernel's
//    proxy_ndp (proxy_delay 0) -- sixgate twice: as it runs (exact addresses
//    answered by its tc program where the kernel takes one) and with
//    --kernel-answers off (sixgate-user) --: NS->NA latency p50/p99 over sequential probes
//    (--dump PREFIX writes each probe's start and latency, and the proxy's
//    output, to PREFIX.<proxy>.*; --node-flags are given to sixgate's node;
//    --base DIST adds a row for another build's sixgate, e.g. main's dist,
//    run just before this one's: an A/B in one run; --proxy-cpus pins the
//    proxy's process with taskset -c, e.g. `taskset -c 0 npm run bench -- ndp
//    --live --proxy-cpus 1` keeps the generator and the proxy off each other's CPU),
//    then a flood (target >= 150k NS/s for random targets) with one legit NS
//    every millisecond, counting the legit ones answered.
import { Bench } from 'tinybench';
import { NdpEngine } from '../src/ndp/engine.js';
import { NdpDrop, NdpEvent } from '../src/ndp/counters.js';
import { IP_OFFSET } from '../src/ndp/actions.js';
import { buildNs } from '../src/wire/ndp-build.js';
import { writeHeader as writeEthernet, EtherType } from '../src/wire/ethernet.js';
import { parseIpv6, parseMac, writeSolicitedNode } from '../src/wire/address.js';
import { fillL4Checksum } from '../src/wire/checksum.js';
import { Protocol } from '../src/wire/ipv6.js';
import { GcCounter, collectGarbage } from './support/gc.js';

const UPLINK = 0;
const INNER = 1;
const ROUTER_MAC = parseMac('0a:00:00:00:00:01');

function engine(): NdpEngine {
  const e = new NdpEngine({ queueCapacity: 1024 });
  e.setInterface(UPLINK, { name: 'eth0', mac: parseMac('02:00:00:00:00:01'), linkLocal: parseIpv6('fe80::1') });
  e.setInterface(INNER, { name: 'veth1', mac: parseMac('02:00:00:00:00:02'), linkLocal: parseIpv6('fe80::2') });
  e.configure([{
    iface: UPLINK, router: true, timeout: 500, ttl: 30000, deadtime: 30000, retries: 3, keepalive: true, autowire: false,
    rules: [
      { prefix: parseIpv6('2001:db8:2::'), prefixLength: 64, method: 'static', iface: -1, autovia: false },
      { prefix: parseIpv6('2001:db8:3::'), prefixLength: 64, method: 'iface', iface: INNER, autovia: false },
    ],
    addresses: [parseIpv6('2001:db8:1::5')],
  }]);
  e.takeMembershipChanges();
  e.actions.clear();
  return e;
}

/** `count` NS frames, one per 128-byte slot; targets from `target(i)`. */
function frames(count: number, target: (i: number) => Uint8Array): { buf: Uint8Array; len: number } {
  const buf = new Uint8Array(count * 128);
  const src = parseIpv6('2001:db8:ff::1');
  const group = new Uint8Array(16);
  let len = 0;
  for (let i = 0; i < count; i++) {
    const o = i * 128;
    const t = target(i);
    writeSolicitedNode(t, 0, group, 0);
    writeEthernet(buf, o, Uint8Array.of(0x33, 0x33, 0xff, t[13]!, t[14]!, t[15]!), 0, ROUTER_MAC, 0, EtherType.Ipv6);
    len = IP_OFFSET + buildNs(buf, o + IP_OFFSET, src, 0, group, 0, t, 0, ROUTER_MAC, 0);
    fillL4Checksum(buf, o + IP_OFFSET, o + IP_OFFSET + 40, len - IP_OFFSET - 40, Protocol.Icmpv6);
  }
  return { buf, len };
}

function randomIn(prefix: string, i: number): Uint8Array {
  const t = parseIpv6(prefix);
  const x = Math.imul(i + 1, 2654435761) >>> 0;
  const y = Math.imul(i + 7, 40503) >>> 0;
  t[8] = y >>> 24; t[9] = y >>> 16; t[10] = y >>> 8; t[11] = y;
  t[12] = x >>> 24; t[13] = x >>> 16; t[14] = x >>> 8; t[15] = x;
  return t;
}

const SLOTS = 4096;

// The clock advances per batch of 64, as the service reads it once per
// wake-up: a fresh double `now` per packet would itself be boxed per call.
function replay(e: NdpEngine, f: { buf: Uint8Array; len: number }, n: number, t0: number): number {
  let now = t0;
  for (let i = 0; i < n; i++) {
    const slot = i & (SLOTS - 1);
    e.receive(now, UPLINK, f.buf, slot * 128 + IP_OFFSET, f.len - IP_OFFSET, slot * 128 + 6);
    if (e.actions.count >= 512) e.actions.clear();
    // 150k NS/s of simulated time.
    if ((i & 63) === 63) {
      now += 64 / 150;
      e.tick(now);
    }
  }
  e.tick(now);
  e.actions.clear();
  return now;
}

export async function run(args: string[]): Promise<void> {
  const packetsArg = args.indexOf('--packets');
  const total = packetsArg >= 0 ? Number(args[packetsArg + 1]) : 5_000_000;

  const exact = frames(SLOTS, () => parseIpv6('2001:db8:1::5'));
  const staticPrefix = frames(SLOTS, (i) => randomIn('2001:db8:2::', i));
  const mix = frames(SLOTS, (i) => (i % 100 === 0 ? parseIpv6('2001:db8:1::5') : randomIn('2001:db8:3::', i)));

  const bench = new Bench({ time: 1000 });
  const cases: [string, { buf: Uint8Array; len: number }][] = [
    ['NS for an exact address -> NA', exact],
    ['NS in a static /64, 4096 targets in turn -> NA (each its own bucket)', staticPrefix],
    ['flood: random targets in an iface /64 + 1% exact', mix],
  ];
  for (const [name, f] of cases) {
    const e = engine();
    let t = 0;
    bench.add(name, () => { t = replay(e, f, SLOTS, t); });
  }
  await bench.run();
  const rows = bench.tasks.map((task) => {
    const r = task.result as { latency?: { mean?: number }; mean?: number } | undefined;
    const meanMs = r?.latency?.mean ?? r?.mean ?? NaN;
    return { case: task.name, 'NS/s': Math.round(SLOTS / (meanMs / 1000)), 'ns/NS': Math.round((meanMs * 1e6) / SLOTS) };
  });
  console.table(rows);

  const e = engine();
  replay(e, mix, SLOTS * 4, 0);
  collectGarbage();
  const gc = new GcCounter();
  gc.start();
  const start = process.hrtime.bigint();
  replay(e, mix, total, 1e6);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const counts = await gc.stop();
  const c = e.counters;
  console.log(`allocation check: ${total.toLocaleString()} NS (flood mix) in ${seconds.toFixed(2)} s = ` +
    `${Math.round(total / seconds).toLocaleString()} NS/s; GC minor ${counts.minor}, major ${counts.major}`);
  console.log(`  answered ${c.eventCount(UPLINK, NdpEvent.AdvertSent)}, rate-limited ${c.dropCount(UPLINK, NdpDrop.PrefixRateLimited)}, ` +
    `sessions ${e.sessions.count}, queue-full ${c.dropCount(UPLINK, NdpDrop.QueueFull)}`);
  if (counts.minor !== 0 || counts.major !== 0) {
    console.log('FAIL: the per-packet path allocated');
    process.exitCode = 1;
  }

  if (args.includes('--live')) {
    const { runLive } = await import('./support/ndp-live.js');
    await runLive(args);
  }
}
