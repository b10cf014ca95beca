// `npm run bench -- restart [--restarts N] [--sizes 1000,100000] [--cli PATH]`:
// how long an existing connection stops forwarding when `sixgate nat` is
// SIGKILLed and started again, on the NAT topology of test/datapath/topology.ts
// (c1 ─ br0 ─ gw ─ up0 ══ rt ─ inet).
//
// The table is filled with `size` UDP sessions by a bounded flood from c1
// (distinct source and destination ports, 100k datagrams in about a second,
// sent again from the same ports until the restarted sixgate adopts them
// all: a pass after the first makes only the sessions whose datagram a full
// TUN queue dropped);
// one more UDP session carries a datagram every millisecond from c1 to a
// receiver in inet. Each round SIGKILLs sixgate, waits for it to be gone,
// reads CLOCK_MONOTONIC and execs it again; the receiver stamps every
// datagram with the same clock and reports the first one after a silence.
// The figure is exec → that datagram's arrival. A round is lost when no
// datagram arrives within 5 s, when the stream's external port changed (the
// session was forgotten and made again) or when fewer sessions were adopted
// than the flood made. `--cli` runs another build (e.g. a copy of main's
// dist) in alternate rounds, for a before/after in the same run.
// Prints, per size: restart: p50 <ms> p99 <ms> at <n>k sessions, lost <n>
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { NatLab, A, CLI } from '../test/datapath/topology.js';
import { jsonLogs } from '../test/support/process.js';
import { parseCacheFile } from '../src/datapath/nat-file.js';

const STREAM_PORT = 7000;
const CAPACITY = 262_144;

function config(stateFile: string): string {
  return `uplink: up0
stateFile: ${stateFile}
capacity: ${CAPACITY}
addressQuota: ${CAPACITY}
networkQuota: ${CAPACITY}
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
`;
}

/** In inet: stamps each datagram on CLOCK_MONOTONIC; prints the first one after a silence of 5 ms or more. */
const RECEIVER = `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
let last = 0n; let port = 0;
s.on('message', (m, r) => {
  const t = process.hrtime.bigint();
  if (t - last > 5_000_000n || r.port !== port) console.log('resumed ' + t + ' ' + r.port);
  last = t; port = r.port;
});
s.bind(${STREAM_PORT}, '::', () => console.log('ready'));`;

/** In c1: one datagram every millisecond, from one socket (one session). */
const STREAM = `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
const b = Buffer.alloc(32);
s.bind(0, () => { console.log('ready'); setInterval(() => s.send(b, ${STREAM_PORT}, '${A.inet}'), 1); });`;

/**
 * In c1: `n` datagrams, each a new session (source port x destination port),
 * 1,000 per 10 ms. The source ports are fixed (below the ephemeral range),
 * so a second run repeats the same sessions.
 */
function floodCode(n: number): string {
  return `import dgram from 'node:dgram';
const PORTS = 50000;
const sockets = [];
for (let i = 0; i < Math.ceil(${n} / PORTS); i++) sockets.push(dgram.createSocket('udp6'));
await Promise.all(sockets.map((s, i) => new Promise((r) => s.bind(20000 + i, r))));
const b = Buffer.alloc(8);
let sent = 0;
while (sent < ${n}) {
  for (let i = 0; i < 1000 && sent < ${n}; i++, sent++) sockets[Math.floor(sent / PORTS)].send(b, 10000 + (sent % PORTS), '${A.inet}');
  await new Promise((r) => setTimeout(r, 10));
}
await new Promise((r) => setTimeout(r, 200));
console.log('sent ' + sent);
process.exit(0);`;
}

class Daemon {
  log = '';
  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.log += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.log += d; });
  }

  async running(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!this.log.includes('nat66 data path running')) {
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`sixgate did not start:\n${this.log}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Sessions the start adopted (its "connection table restored" line), 0 when none. */
  get restored(): number {
    const m = /"sessions":(\d+)[^\n]*connection table restored/.exec(this.log);
    return m === null ? 0 : Number(m[1]);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }
}

/** CPU time (user + system, ms) process `pid` has used so far; 10 ms resolution. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function run(args: string[]): Promise<void> {
  const restarts = Number(option(args, '--restarts') ?? 20);
  const sizes = (option(args, '--sizes') ?? '1000,100000').split(',').map(Number);
  const other = option(args, '--cli');
  const clis = other === undefined ? [CLI] : [CLI, other];
  for (const size of sizes) {
    const lab = new NatLab({ withNpt: false, withInet2: false });
    const stateFile = `/tmp/${lab.gw.name}-restart.table`;
    const yaml = `/tmp/${lab.gw.name}-restart.yaml`;
    writeFileSync(yaml, config(stateFile));
    const helpers: ChildProcess[] = [];
    let daemon: Daemon | undefined;
    // JSON logs: `restored` reads the adoption line's fields.
    const start = (cli: string): Daemon => new Daemon(lab.gw.spawn(process.execPath, [cli, 'nat', '-c', yaml], { env: jsonLogs() }));
    try {
      daemon = start(CLI);
      await daemon.running();
      const receiver = lab.inet.spawn(process.execPath, ['--input-type=module', '-e', RECEIVER]);
      helpers.push(receiver);
      let heard = '';
      receiver.stdout!.setEncoding('utf8').on('data', (d: string) => { heard += d; });
      let floods = 0;
      const fill = async (): Promise<void> => {
        floods++;
        const flood = await lab.c1.node(floodCode(size), 60_000);
        if (!flood.stdout.includes(`sent ${size}`)) throw new Error(`flood failed: ${flood.stdout}${flood.stderr}`);
      };
      await fill();
      helpers.push(await lab.server(lab.c1, STREAM));
      const resumed = async (after: bigint): Promise<{ at: bigint; port: number } | undefined> => {
        const deadline = Date.now() + 5_000;
        while (Date.now() < deadline) {
          for (const m of heard.matchAll(/resumed (\d+) (\d+)\n/g)) {
            if (BigInt(m[1]!) > after) return { at: BigInt(m[1]!), port: Number(m[2]) };
          }
          await new Promise((r) => setTimeout(r, 5));
        }
        return undefined;
      };
      const first = await resumed(0n);
      if (first === undefined) throw new Error('the stream did not reach the receiver');
      const port = first.port;
      const ms = new Map<string, number[]>(clis.map((c) => [c, []]));
      const cpu = new Map<string, number[]>(clis.map((c) => [c, []]));
      const lost = new Map<string, number>(clis.map((c) => [c, 0]));
      // Round 0 warms the page cache and the file's layout, and checks the
      // table is full (else floods again and repeats); it is not counted.
      for (let round = 0; round <= restarts * clis.length; round++) {
        const cli = clis[round % clis.length]!;
        await daemon.kill();
        heard = '';
        const exec = process.hrtime.bigint();
        daemon = start(cli);
        const r = await resumed(exec);
        // nsenter execs sixgate in place: the child's pid is sixgate's.
        const used = cpuMs(daemon.child.pid!);
        await daemon.running();
        if (round === 0) {
          if (daemon.restored >= size) continue;
          if (floods === 4) throw new Error(`${floods} floods left ${daemon.restored} sessions, expected ${size}`);
          await fill();
          round = -1;
          continue;
        }
        if (r === undefined || r.port !== port || daemon.restored < size) lost.set(cli, lost.get(cli)! + 1);
        else {
          ms.get(cli)!.push(Number(r.at - exec) / 1e6);
          cpu.get(cli)!.push(used);
        }
        // Let it settle (and the stream be forwarded a while) before the next kill.
        await new Promise((res) => setTimeout(res, 300));
      }
      for (const cli of clis) {
        const sorted = ms.get(cli)!.sort((a, b) => a - b);
        const label = cli === CLI ? '' : ` (${cli})`;
        const sessions = size >= 1000 ? `${size / 1000}k` : String(size);
        process.stdout.write(`restart: p50 ${quantile(sorted, 0.5).toFixed(0)} ms p99 ${quantile(sorted, 0.99).toFixed(0)} ms at ${sessions} sessions, lost ${lost.get(cli)}${label}\n`);
        process.stdout.write(`  rounds (ms): ${sorted.map((x) => x.toFixed(0)).join(' ')}\n`);
        const used = cpu.get(cli)!.sort((a, b) => a - b);
        process.stdout.write(`  CPU time to that packet: p50 ${quantile(used, 0.5)} ms p99 ${quantile(used, 0.99)} ms\n`);
      }
    } finally {
      await daemon?.kill();
      for (const h of helpers) h.kill('SIGKILL');
      lab.destroy();
      for (const f of [stateFile, `${stateFile}.new`, parseCacheFile(stateFile), yaml]) rmSync(f, { force: true });
    }
  }
}
