// `npm run bench -- nat [--visits N] [--burst K] [--steady N] [--state-dir DIR] [--offload]`:
// NAT66 translation rate at 1k and 1M concurrent flows, bytes per
// connection, GCs. With --state-dir the tables are file-backed, as a daemon
// with a state file runs them (a file in DIR mapped over each table). With
// --offload the engine offers settled sessions to a fast path, every one of
// them already marked as a running daemon's are: what the hook costs the
// packets that still take the TUN.
//
// Three real flows are the templates: a TCP download (http-body-hook-01), a
// QUIC/UDP flow (quic-chromium) and ICMPv6 echo (communityid-icmp6), each
// packet tagged outbound (from the client) or inbound. They are multiplied
// into F distinct flows by rewriting addresses: flow f is one template, an
// inside host fd00::h (4,096 hosts, 16 source ports each, 8 external
// addresses so the port space holds the mappings) and a remote whose last
// word is f. Every visit copies one template packet's headers into a slot of
// a 64-packet ring and patches in the flow's addresses (and, inbound, its
// external port), as a TUN read would leave it; each full ring goes through
// translateBatch as two batches, its outbound and its inbound packets
// (the engine classifies each packet itself).
// Flows are visited in a shuffled order, `burst` packets per visit (default
// 1: every packet hits another flow, the cache-hostile worst case). The
// harness keeps its per-flow state in visiting order, so the 1M figure pays
// for the engine's cache misses, not the harness's. The same loops without
// translating measure the harness, which is subtracted for the "NAT alone"
// figure. Each tinybench sample is `visits` packets (default 250,000); the
// four tasks run in ROUNDS alternating rounds and a task's figure is its
// median sample.
//
// Before measuring, every flow's first packet opens its session (in flow
// order, unrelated to the visiting order), so the
// figures are steady-state translation (lookups, state, counters, rewrite,
// checksum) with no session creation. Then 10M packets at 1M flows run under
// a GC observer (the headline `gc`), and the whole capture corpus with bits
// flipped (errors, fragments, drops, session churn) under another.
import { Bench } from 'tinybench';
import { Nat66, NatBatch } from '../src/nat/nat66.js';
import { DROP_REASON_NAMES } from '../src/nat/drop.js';
import { walkChain, Ipv6Chain } from '../src/wire/ipv6-ext.js';
import { formatIpv6 } from '../src/wire/address.js';
import { fileURLToPath } from 'node:url';
import { GcCounter, collectGarbage } from './support/gc.js';
import { loadRing, type PacketRing } from './support/ring.js';
import { readdirSync, rmSync } from 'node:fs';
import { capturesDir } from '../test/support/paths.js';
import { NatCounter } from '../src/nat/types.js';
import { Flag, R, REC_WORDS } from '../src/nat/table.js';
import { StateFile } from '../src/io/statefile.js';

const HOSTS = 4096;
const PORTS_PER_HOST = 16;
const EXTERNALS = 8;
/** Headers copied per packet: IPv6 + TCP with options fit in 96 bytes. */
const HEADER_WORDS = 24;

interface Template {
  /** Packets back to back, each at a 2,048-byte slot. */
  buf: Uint8Array;
  words: Uint32Array;
  lens: Int32Array;
  /** 0 outbound (from the client), 1 inbound. */
  dir: Uint8Array;
  /** Offset of the L4 header in each packet. */
  l4: Int32Array;
  count: number;
  /** 6 TCP, 17 UDP, 58 ICMPv6 echo. */
  protocol: number;
}

const SLOT = 2048;
/** Packets per translateBatch call (a TUN read batch). */
const BATCH = 64;

/** The packets of one flow of `protocol` in `file`; the client is the first packet's source. `remote` narrows to one peer. */
function template(file: string, protocol: number, remote?: string): Template {
  const ring = loadRing([file]);
  const chain = new Ipv6Chain();
  const keep: number[] = [];
  const dirs: number[] = [];
  const l4s: number[] = [];
  let client = '';
  for (let i = 0; i < ring.count; i++) {
    const off = i * ring.slotSize;
    if (walkChain(ring.buf, off, ring.lens[i], chain) !== 0 || chain.isFragment || chain.protocol !== protocol) continue;
    if (protocol === 58 && ring.buf[chain.l4Offset] !== 128 && ring.buf[chain.l4Offset] !== 129) continue;
    if (ring.lens[i] > SLOT) continue;
    const src = formatIpv6(ring.buf, off + 8);
    const dst = formatIpv6(ring.buf, off + 24);
    if (remote !== undefined && src !== remote && dst !== remote) continue;
    if (client === '') client = src;
    if (src !== client && dst !== client) continue;
    keep.push(i);
    dirs.push(src === client ? 0 : 1);
    l4s.push(chain.l4Offset - off);
  }
  const t: Template = {
    buf: new Uint8Array(keep.length * SLOT), words: new Uint32Array(0), lens: new Int32Array(keep.length), dir: Uint8Array.from(dirs),
    l4: Int32Array.from(l4s), count: keep.length, protocol,
  };
  keep.forEach((i, k) => {
    t.buf.set(ring.buf.subarray(i * ring.slotSize, i * ring.slotSize + ring.lens[i]), k * SLOT);
    t.lens[k] = ring.lens[i];
  });
  t.words = new Uint32Array(t.buf.buffer);
  if (t.dir[0] !== 0) throw new Error(`${file}: the first packet is not from the client`);
  return t;
}

export function loadTemplates(): Template[] {
  return [
    template('suricata-verify__http-body-hook-01.pcap', 6),
    template('zeek__quic-chromium-google-de-fragmented.pcap', 17),
    template('zeek__communityid-icmp6.pcap', 58, '3ffe:501:0:1001::2'),
  ];
}

export class Scenario {
  readonly nat: Nat66;
  readonly flows: number;
  private readonly templates: Template[];
  /**
   * Per flow, in visiting order (flow order[x] at x*4): cursor, f as stored
   * bytes, external port. In visiting order so the harness reads it
   * sequentially: a TUN read has no per-flow state, and a random 16 MB
   * array here would charge the harness's own cache misses to the 1M figure.
   */
  private readonly flow: Uint32Array;
  private readonly order: Int32Array;
  /** BATCH packet slots, like a TUN read ring. */
  private readonly ring = new Uint8Array(BATCH * SLOT);
  private readonly ringWords = new Uint32Array(this.ring.buffer);
  private stagedLength = 0;
  sink = 0;
  /** Off: stage packets only, to measure what the harness costs by itself. */
  translate = true;
  /** The staged packets by direction: the outbound ones, then the inbound ones, each one translateBatch call. */
  private readonly batchOut = new NatBatch(BATCH);
  private readonly batchIn = new NatBatch(BATCH);
  /** Per host (1-based), its address fd00::host as four words in memory order; per flow, f byte-swapped for XOR. */
  private readonly hostWords = new Uint32Array((HOSTS + 1) * 4);
  private readonly extOfHost = new Int32Array(HOSTS + 1);
  private readonly extWordsLe: Uint32Array;
  private readonly burst: number;
  private next = 0;
  verdicts = new Float64Array(4);
  readonly now = 1_000_000_000;

  /** `stateFile`: map a file there over the table (file-backed, as with a daemon's state file). */
  constructor(templates: Template[], flows: number, burst: number, stateFile?: string) {
    this.templates = templates;
    this.flows = flows;
    this.burst = burst;
    const externals = Array.from({ length: EXTERNALS }, (_, i) => `2001:db8:ffff::${i + 1}`);
    this.nat = new Nat66({
      networks: [{ name: 'bench', insideSubnets: ['fd00::/64'], externalAddresses: externals }],
      capacity: Math.max(262_144, Math.ceil(flows * 1.05)),
      seed: 1,
    }, { mappable: stateFile !== undefined });
    if (stateFile !== undefined) StateFile.create(stateFile, this.nat.table.buffer).close();
    this.flow = new Uint32Array(flows * 4);
    this.order = new Int32Array(flows);
    const bytes = new Uint8Array(16);
    const asWords = new Uint32Array(bytes.buffer);
    for (let h = 1; h <= HOSTS; h++) {
      bytes.fill(0);
      bytes[0] = 0xfd; bytes[14] = h >> 8; bytes[15] = h;
      this.hostWords.set(asWords, h * 4);
    }
    const ext = this.nat.cfg.extWords;
    this.extWordsLe = new Uint32Array(ext.length);
    for (let k = 0; k < ext.length; k++) {
      const v = ext[k];
      bytes[0] = v >>> 24; bytes[1] = v >>> 16; bytes[2] = v >>> 8; bytes[3] = v;
      this.extWordsLe[k] = asWords[0];
    }
    // A fixed shuffle of the flows (xorshift), so visits jump around the table.
    const order = this.order;
    for (let i = 0; i < flows; i++) order[i] = i;
    let s = 0x9e3779b9;
    for (let i = flows - 1; i > 0; i--) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      const j = s % (i + 1);
      const x = order[i]; order[i] = order[j]; order[j] = x;
    }
    const position = new Int32Array(flows);
    for (let x = 0; x < flows; x++) {
      const f = order[x];
      position[f] = x;
      bytes[0] = f >>> 24; bytes[1] = f >>> 16; bytes[2] = f >>> 8; bytes[3] = f;
      this.flow[x * 4 + 1] = asWords[0];
    }
    // Open every flow with its first (outbound) packet, in flow order, so
    // sessions sit in the table in an order unrelated to the visits.
    for (let f = 0; f < flows; f++) {
      const x = position[f];
      const v = this.packet(x);
      if (v < 0) throw new Error(`flow ${f}: opening packet dropped: ${DROP_REASON_NAMES[-v]}`);
      const t = this.templates[f % 3];
      const l4 = t.l4[0];
      this.flow[x * 4 + 2] = t.protocol === 58 ? (this.ring[l4 + 4] << 8) | this.ring[l4 + 5] : (this.ring[l4] << 8) | this.ring[l4 + 1];
      // Paired pooling fixed the host's external address: note it for the inbound packets.
      this.extOfHost[(f % HOSTS) + 1] = this.ring[23] - 1;
    }
  }

  /**
   * Stage the next packet of the flow at visiting position x in ring slot
   * `slot` (headers copied as words, flow addresses patched in, as a TUN
   * read would leave it); returns its direction (0 outbound, 1 inbound) and
   * its length in `stagedLength`.
   */
  private stage(x: number, slot: number): number {
    const f = this.order[x];
    const t = this.templates[f % 3];
    const fo = x * 4;
    const i = this.flow[fo];
    this.flow[fo] = i + 1 === t.count ? 0 : i + 1;
    const off = slot * SLOT;
    const w = this.ring;
    const ww = this.ringWords;
    const wo = off >> 2;
    const tw = t.words;
    const base = i * (SLOT >> 2);
    for (let k = 0; k < HEADER_WORDS; k++) ww[wo + k] = tw[base + k];
    const l4 = off + t.l4[i];
    const swapped = this.flow[fo + 1];
    this.stagedLength = t.lens[i];
    if (t.dir[i] === 0) {
      // Inside host fd00::host, a source port per flow; the remote's last word XOR f.
      const h = ((f % HOSTS) + 1) * 4;
      const hw = this.hostWords;
      ww[wo + 2] = hw[h]; ww[wo + 3] = hw[h + 1]; ww[wo + 4] = hw[h + 2]; ww[wo + 5] = hw[h + 3];
      ww[wo + 9] ^= swapped;
      if (t.protocol !== 58) { const p = 40000 + ((f >>> 12) % PORTS_PER_HOST); w[l4] = p >> 8; w[l4 + 1] = p; }
      return 0;
    }
    ww[wo + 5] ^= swapped;
    // Destination: the flow's external address (paired by host) and port.
    const e = this.extOfHost[(f % HOSTS) + 1] * 4;
    const xw = this.extWordsLe;
    ww[wo + 6] = xw[e]; ww[wo + 7] = xw[e + 1]; ww[wo + 8] = xw[e + 2]; ww[wo + 9] = xw[e + 3];
    const port = this.flow[fo + 2];
    if (t.protocol === 58) { w[l4 + 4] = port >> 8; w[l4 + 5] = port; } else { w[l4 + 2] = port >> 8; w[l4 + 3] = port; }
    return 1;
  }

  /** Translate the next packet of the flow at visiting position x on its own; returns the verdict. */
  packet(x: number): number {
    this.stage(x, 0);
    return this.nat.translate(this.ring, 0, this.stagedLength, this.now);
  }

  /**
   * One pass: `visits` packets over the shuffled flows, `burst` per flow,
   * staged BATCH at a time and translated with one translateBatch call per
   * direction. (The data path makes one mixed call per TUN read; measured
   * against that, the split costs 1k about 8 ns less, 1M the same:
   * docs/performance.md.)
   */
  run(visits: number): void {
    const order = this.order;
    const v = this.verdicts;
    const batchOut = this.batchOut;
    const batchIn = this.batchIn;
    for (let n = 0; n < visits;) {
      batchOut.count = 0;
      batchIn.count = 0;
      // The template packets this batch copies are spread over a few hundred
      // KiB the table's traffic evicts; a TUN read finds its packets in cache:
      // load them together first, so the harness adds no serial cache misses.
      let touch = 0;
      for (let j = 0, x = this.next; j < BATCH; j++, x = x + 1 === this.flows ? 0 : x + 1) {
        const words = this.templates[order[x] % 3].words;
        const base = this.flow[x * 4] * (SLOT >> 2);
        touch += words[base] + words[base + HEADER_WORDS - 1];
      }
      this.sink = touch;
      for (let slot = 0; slot < BATCH && n < visits;) {
        const x = this.next;
        this.next = this.next + 1 === this.flows ? 0 : this.next + 1;
        for (let b = 0; b < this.burst && n < visits && slot < BATCH; b++, n++, slot++) {
          if (this.stage(x, slot) === 0) batchOut.add(slot * SLOT, this.stagedLength);
          else batchIn.add(slot * SLOT, this.stagedLength);
        }
      }
      if (!this.translate) continue;
      const nat = this.nat;
      batchOut.now = batchIn.now = this.now;
      nat.translateBatch(this.ring, batchOut);
      nat.translateBatch(this.ring, batchIn);
      for (let i = 0; i < batchOut.count; i++) { const r = batchOut.verdicts[i]; v[r < 0 ? 3 : r]++; }
      for (let i = 0; i < batchIn.count; i++) { const r = batchIn.verdicts[i]; v[r < 0 ? 3 : r]++; }
    }
  }
}

/** Rounds of the four timed tasks (2 s of samples per task in all). */
const ROUNDS = 8;

function median(values: number[]): number {
  if (values.length === 0) throw new Error('no samples');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function option(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const v = Number(args[at + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} needs a positive integer, got ${args[at + 1]}`);
  return v;
}

export async function run(args: string[]): Promise<void> {
  const visits = option(args, '--visits', 250_000);
  const burst = option(args, '--burst', 1);
  const steady = option(args, '--steady', 10_000_000);
  const templates = loadTemplates();
  process.stdout.write(`templates: ${templates.map((t) => `${t.protocol === 6 ? 'tcp' : t.protocol === 17 ? 'udp' : 'icmp'} ${t.count} packets`).join(', ')}; ` +
    `${BATCH} packets per translateBatch, ${burst} per flow visit\n`);

  const stateDir = args.includes('--state-dir') ? args[args.indexOf('--state-dir') + 1] : undefined;
  const stateFiles = stateDir === undefined ? [] : [`${stateDir}/bench-nat-1k.table`, `${stateDir}/bench-nat-1M.table`];
  if (stateDir !== undefined) process.stdout.write(`file-backed tables: ${stateFiles.join(', ')}\n`);
  const small = new Scenario(templates, 1000, burst, stateFiles[0]);
  const large = new Scenario(templates, 1_000_000, burst, stateFiles[1]);
  for (const s of [small, large]) {
    s.run(visits);
    if (s.verdicts[3] > 0) throw new Error(`${s.flows} flows: ${s.verdicts[3]} packets dropped while warming up`);
    if (args.includes('--offload')) {
      s.nat.offload.enabled = true;
      // Every settled session marked as offered, as a running daemon's are once the fast path has them.
      const rec = s.nat.table.rec;
      for (let id = 1; id <= s.nat.table.capacity; id++) if (s.nat.settled(id)) rec[id * REC_WORDS + R.META] |= Flag.OFFERED;
    }
  }

  // Rounds of all four tasks, so 1k and 1M share the machine's slow and
  // fast spells; a task's figure is the median of its samples over all
  // rounds (a neighbour's burst lands in a few samples, and a mean would
  // charge it to whichever task was running).
  const samples: Record<string, number[]> = { '1k': [], '1M': [], '1k harness': [], '1M harness': [] };
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({ name: 'nat', time: 2000 / ROUNDS, iterations: 4, retainSamples: true });
    bench.add('1k', () => small.run(visits));
    bench.add('1M', () => large.run(visits));
    bench.add('1k harness', () => small.run(visits), { beforeAll() { small.translate = false; }, afterAll() { small.translate = true; } });
    bench.add('1M harness', () => large.run(visits), { beforeAll() { large.translate = false; }, afterAll() { large.translate = true; } });
    await bench.run();
    for (const task of bench.tasks) {
      if (task.result.state !== 'completed') throw new Error(`bench task ${task.name}: ${task.result.state}`);
      samples[task.name].push(...(task.result.latency.samples ?? []));
    }
  }
  const ns: Record<string, number> = {};
  for (const [name, list] of Object.entries(samples)) ns[name] = median(list) * 1e6 / visits;
  const mpps: Record<string, number> = {};
  for (const name of ['1k', '1M']) {
    mpps[name] = 1000 / ns[name];
    const nat = ns[name] - ns[`${name} harness`];
    process.stdout.write(`  ${name} flows: ${mpps[name].toFixed(2)} Mpps (${ns[name].toFixed(0)} ns/packet), of which harness ${ns[`${name} harness`].toFixed(0)} ns: ` +
      `NAT alone ${nat.toFixed(0)} ns = ${(1000 / nat).toFixed(2)} Mpps\n`);
  }
  process.stdout.write(`  cost at 1M flows: ${(ns['1M'] / ns['1k']).toFixed(2)}x the cost at 1k (medians of ${samples['1k'].length} and ${samples['1M'].length} samples)\n`);

  // Steady state under a GC observer: the translate path must allocate nothing.
  const gc = new GcCounter();
  collectGarbage();
  gc.start();
  const t0 = process.hrtime.bigint();
  for (let done = 0; done < steady; done += visits) large.run(Math.min(visits, steady - done));
  const elapsed = Number(process.hrtime.bigint() - t0);
  const counts = await gc.stop();
  const gcs = counts.minor + counts.major;
  const table = large.nat.table;
  const perConn = table.byteLength / table.capacity;
  process.stdout.write(`steady state: ${steady} packets at 1M flows in ${(elapsed / 1e6).toFixed(0)} ms (${(steady / elapsed * 1000).toFixed(2)} Mpps); ` +
    `GC ${counts.minor} scavenges, ${counts.major} mark-sweeps; table ${(table.byteLength / 1048576).toFixed(1)} MiB for ${table.capacity} sessions (${table.count} live)\n`);
  const dropped = large.verdicts[3] + small.verdicts[3];
  if (dropped > 0) process.stdout.write(`WARNING: ${dropped} packets dropped during the runs\n`);
  // Not in the headline: a branch first met while measuring deoptimises, and
  // its function boxes numbers until re-optimised (one scavenge or so per
  // 10M packets on this corpus), which is the JIT warming up, not the path.
  await slowPaths(Math.min(steady, 5_000_000));
  process.stdout.write(`nat: ${mpps['1k'].toFixed(2)} Mpps at 1k flows, ${mpps['1M'].toFixed(2)} Mpps at 1M flows, ${perConn.toFixed(0)} B/conn, gc ${gcs}\n`);
  for (const f of stateFiles) rmSync(f, { force: true });
  if (gcs > 0 || dropped > 0) process.exitCode = 1;
}

/**
 * The other paths under a GC observer: every capture in the corpus (ICMPv6
 * errors, fragments, ND, malformed packets, session creation, drops of every
 * kind) through both directions, over and over, with a few bits flipped
 * each round, into a table small enough to keep reclaiming. Returns the GC count.
 */
export async function slowPaths(packets: number): Promise<number> {
  const files = readdirSync(capturesDir).filter((f) => /\.pcap(ng)?$/.test(f));
  const rings: PacketRing[] = [];
  for (const f of files) {
    try { rings.push(loadRing([f])); } catch { /* unreadable on purpose (truncated captures) */ }
  }
  const nat = new Nat66({
    networks: [{ name: 'all', insideSubnets: ['::/3', '2000::/4', '4000::/2', '8000::/1'], externalAddresses: ['3fff::1'], filtering: 'endpoint-independent' }],
    capacity: 4096, seed: 5,
  });
  const slot = 2048;
  const work = new Uint8Array(slot);
  // xorshift32 kept as an int32: a uint32 in a closure variable would be a boxed double, allocated per update.
  let s = 0x2545f491 | 0;
  let n = 0;
  let now = 0;
  const pass = () => {
    for (let r = 0; r < rings.length; r++) {
      const ring = rings[r];
      for (let i = 0; i < ring.count; i++) {
        const len = Math.min(ring.lens[i], slot);
        const from = i * ring.slotSize;
        for (let k = 0; k < len; k++) work[k] = ring.buf[from + k];
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
        if ((s & 7) === 0) work[(s >>> 4) % Math.min(len, 96)] ^= 1 << ((s >>> 8) & 7);
        now += 7;
        // Half of them from 3f00::/8, outside every inside subnet: the engine takes those inbound.
        if ((s & 1) !== 0 && len > 8) work[8] = 0x3f;
        nat.translate(work, 0, len, now);
        n++;
      }
      nat.expire(now);
    }
  };
  // Rare paths run rarely: give every one time to be optimised (unoptimised
  // code boxes doubles) before counting.
  while (n < 2_000_000) pass();
  n = 0;
  const gc = new GcCounter();
  collectGarbage();
  gc.start();
  const t0 = process.hrtime.bigint();
  while (n < packets) pass();
  const elapsed = Number(process.hrtime.bigint() - t0);
  const counts = await gc.stop();
  const dropped = nat.drops.reduce((a, b) => a + b, 0);
  process.stdout.write(`slow paths: ${n} packets of ${rings.length} captures (bits flipped, both directions; ${dropped} dropped, ` +
    `${nat.counters[NatCounter.SessionsCreated]} sessions opened, ${nat.counters[NatCounter.SessionsReclaimed]} reclaimed) ` +
    `in ${(elapsed / 1e6).toFixed(0)} ms; GC ${counts.minor} scavenges, ${counts.major} mark-sweeps\n`);
  return counts.minor + counts.major;
}

// Runnable on its own too: node dist/bench/nat.js [args]
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await run(process.argv.slice(2));
}
