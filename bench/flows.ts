// `npm run bench -- flows [--sessions N] [--seconds N] [--repeat N] [--no-listing]`: what
// `sixgate flows` costs.
//
// 1. Listing: a NAT66 engine holding N sessions (default 1,000,000 UDP
//    sessions: 4,096 inside hosts x 16 ports x 16 remotes) is walked the way
//    the control socket does it (src/service/inspect.ts): FLOW_SLICE_RECORDS
//    records per event-loop turn, each slice made into session objects and
//    serialised as the answer line. Prints the total time and the longest
//    turn (how long a packet batch can wait behind a listing).
// 2. Forwarding while listing: the nat-e2e topology (test/datapath/topology.ts),
//    a real `sixgate nat` with a 2M-session table (every listing walks all of
//    it), iperf3 TCP container -> internet with and without a flows request
//    every second (from this process: a CLI start-up a second would take a
//    core from the data path by itself), alternating in the same run;
//    medians and their ratio.
import { rmSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Nat66 } from '../src/nat/nat66.js';
import { sessionSlice, type SessionInfo } from '../src/nat/status.js';
import { FLOW_SLICE_RECORDS } from '../src/service/inspect.js';
import { DROP_REASON_NAMES } from '../src/nat/drop.js';
import { udpPacket } from '../test/nat/support.js';
import { NatLab, A } from '../test/datapath/topology.js';
import { request } from '../src/service/control.js';
import type { Netns } from '../test/support/netns.js';

async function listing(sessions: number): Promise<void> {
  const nat = new Nat66({
    networks: [{ name: 'bench', insideSubnets: ['fd00::/64'], externalAddresses: Array.from({ length: 8 }, (_, i) => `2001:db8:ffff::${i + 1}`) }],
    capacity: Math.ceil(sessions * 1.05), addressQuota: sessions, seed: 1,
  });
  const now = 1_000_000;
  const fillStart = performance.now();
  for (let n = 0; n < sessions; n++) {
    const host = n % 4096;
    const port = 10_000 + ((n >>> 12) & 15);
    const remote = n >>> 16;
    const p = udpPacket(`fd00::${(host + 1).toString(16)}`, port, `2001:db8:2::${(remote + 1).toString(16)}`, 53);
    const v = nat.translate(p, 0, p.length, now);
    if (v < 0) throw new Error(`session ${n}: dropped: ${DROP_REASON_NAMES[-v]}`);
  }
  process.stdout.write(`  table: ${nat.table.count} sessions of ${nat.table.capacity} (filled in ${((performance.now() - fillStart) / 1000).toFixed(1)} s)\n`);
  // The daemon's slice and its neighbours, alternated: the longest turn is what a packet batch may wait.
  const sizes = [...new Set([FLOW_SLICE_RECORDS, 16_384, 4096, 2048])];
  for (let round = 0; round < 2 * sizes.length; round++) {
    const slice = sizes[round % sizes.length]!;
    let longest = 0;
    let listed = 0;
    let bytes = 0;
    const start = performance.now();
    for (let from = 1; from <= nat.table.capacity;) {
      const t0 = performance.now();
      const part: SessionInfo[] = [];
      from = sessionSlice(nat.table, nat.cfg.extWords, Math.floor(now / 1000), from, slice, part);
      bytes += JSON.stringify({ v: 1, ok: true, part }).length + 1;
      listed += part.length;
      longest = Math.max(longest, performance.now() - t0);
      await nextTurn();
    }
    const ms = performance.now() - start;
    process.stdout.write(`  ${String(slice).padStart(5)} records a turn: ${listed} sessions in ${(ms / 1000).toFixed(2)} s (${Math.round(listed / (ms / 1000) / 1000)}k sessions/s, ` +
      `${(bytes / 1048576).toFixed(0)} MiB of answer), longest turn ${longest.toFixed(1)} ms\n`);
  }
}

async function iperfTcp(a: Netns, b: Netns, dst: string, seconds: number, port: number): Promise<number> {
  const server = b.spawn('iperf3', ['-s', '-1', '-p', String(port)]);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const run = await a.run('iperf3', ['-c', dst, '-p', String(port), '-t', String(seconds), '-J'], (seconds + 15) * 1000);
    if (run.code !== 0) throw new Error(`iperf3 failed: ${run.stderr || run.stdout.slice(0, 400)}`);
    return (JSON.parse(run.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
  } finally {
    server.kill('SIGKILL');
  }
}

async function forwarding(seconds: number, repeat: number): Promise<void> {
  const lab = new NatLab({ withNpt: false, withInet2: false });
  const socket = `/tmp/${lab.gw.name}-bench-control.sock`;
  let port = 5700;
  try {
    await lab.startSixgate(`uplink: up0
capacity: 2097152
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
published: []
`, ['--control-socket', socket, '--cleanup']);
    await new Promise((r) => setTimeout(r, 500));
    const plain: number[] = [];
    const listed: number[] = [];
    const listMs: number[] = [];
    for (let r = 0; r < repeat; r++) {
      plain.push(await iperfTcp(lab.c1, lab.inet, A.inet, seconds, port++));
      let running = true;
      const lister = (async () => {
        while (running) {
          const t0 = performance.now();
          // In this process, not the CLI: a node start-up a second would take a core from the data path by itself.
          await request(socket, { op: 'flows' }, () => {});
          listMs.push(performance.now() - t0);
          await new Promise((res) => setTimeout(res, 1000));
        }
      })();
      listed.push(await iperfTcp(lab.c1, lab.inet, A.inet, seconds, port++));
      running = false;
      await lister;
      process.stdout.write(`  round ${r + 1}: ${(plain[r]! / 1e9).toFixed(2)} Gbit/s alone, ${(listed[r]! / 1e9).toFixed(2)} Gbit/s with flows every second\n`);
    }
    const median = (v: number[]): number => [...v].sort((x, y) => x - y)[(v.length - 1) >> 1]!;
    process.stdout.write(`flows: nat-e2e tcp ${(median(plain) / 1e9).toFixed(2)} Gbit/s alone, ${(median(listed) / 1e9).toFixed(2)} with a listing of a ` +
      `2M-record table every second (each ${median(listMs).toFixed(0)} ms); ratio ${(median(listed) / median(plain)).toFixed(2)}\n`);
  } finally {
    await lab.stopSixgate();
    lab.destroy();
    rmSync(`/tmp/${lab.gw.name}-nat.yaml`, { force: true });
  }
}

export async function run(args: string[]): Promise<void> {
  const opt = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) || dflt : dflt;
  };
  if (!args.includes('--no-listing')) {
    process.stdout.write('flows: listing in slices (in process)\n');
    await listing(opt('--sessions', 1_000_000));
  }
  if (process.getuid?.() !== 0) {
    process.stdout.write('flows: forwarding while listing needs root (namespaces and a TUN): skipped\n');
    return;
  }
  await forwarding(opt('--seconds', 5), Math.min(9, opt('--repeat', 3)));
}
