// `npm run bench -- renumber [--changes N] [--pd]`: how long after the
// router renumbers the uplink the first packet leaves under the new prefix,
// on the topology of test/datapath/renumber-topology.ts (radvd in rt,
// `sixgate nat` in gw, a container c1 behind a masquerading network).
//
// c1 sends a UDP datagram every 2 ms to inet, each from a new source port
// (a new mapping: an existing one keeps its address until it ends, as it
// should). Each change makes radvd announce the other of two prefixes as
// preferred and deprecate the one in use (SIGHUP: radvd sends the RA at
// once; changes are 3.5 s apart, radvd's minimum between RAs being 3 s).
// The RA is stamped where it arrives, by tcpdump on gw's uplink; inet stamps
// the first datagram from the new prefix's address. Both stamps are
// wall-clock microseconds of one machine.
//
// --pd: the delegated prefix instead. Kea in rt delegates /56s (T1 2 s);
// each change restarts it with the other of two pools, and the next Renew's
// Reply moves the host to a prefix of it. c2, behind an NPTv6 `auto`
// network (stateless: every datagram takes the mapping in force), sends a
// datagram every 2 ms; the Reply is stamped by tcpdump on gw's uplink.
// Prints: renumber: p50 <ms> p99 <ms> over <n> changes (RA received → first packet from the new prefix), lost <n>
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { RenumberLab, R } from '../test/datapath/renumber-topology.js';

const A = '2001:db8:1::/64';
const B = '2001:db8:9::/64';
const PORT = 7000;

/** In inet: prints "from <µs> <address>" for the first datagram of each new source address. */
const RECEIVER = `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
let last = '';
s.on('message', (m, r) => {
  if (r.address === last) return;
  last = r.address;
  console.log('from ' + Math.round((performance.timeOrigin + performance.now()) * 1000) + ' ' + r.address);
});
s.bind(${PORT}, '::', () => console.log('ready'));`;

/** In c1: a datagram every 2 ms, each from a new socket bound to the next port (a new mapping each). */
const SENDER = `import dgram from 'node:dgram';
let port = 20000;
const b = Buffer.alloc(16);
console.log('ready');
setInterval(() => {
  const s = dgram.createSocket('udp6');
  s.bind(port, () => s.send(b, ${PORT}, '${R.inet}', () => s.close()));
  port = port === 60000 ? 20000 : port + 1;
}, 2);`;

/** In c2: a datagram every 2 ms from one socket (NPTv6 keeps no state: each takes the mapping in force). */
const STEADY_SENDER = `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
const b = Buffer.alloc(16);
console.log('ready');
setInterval(() => s.send(b, ${PORT}, '${R.inet}'), 2);`;

const POOLS = ['2001:db8:a00::', '2001:db8:b00::'];

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(took: number[], lost: number, what: string): void {
  took.sort((x, y) => x - y);
  const p = (q: number): string => (took.length === 0 ? '-' : percentile(took, q).toFixed(1));
  console.log(`renumber: p50 ${p(50)} ms p99 ${p(99)} ms over ${took.length} changes (${what}), lost ${lost}`);
  console.log(`  each (ms): ${took.map((t) => t.toFixed(1)).join(' ')}`);
}

async function runPd(changes: number): Promise<void> {
  const lab = new RenumberLab([A]);
  let capture: ChildProcess | undefined;
  try {
    await lab.announce([{ prefix: A, valid: 120, preferred: 120 }]);
    await lab.waitForPrefix(A);
    await lab.startKea(POOLS[0]!, A);
    await lab.startSixgate(`uplink: up0\nstateFile: /tmp/${lab.gw.name}-state.snap\ndhcpv6Pd: true\n`
      + 'networks:\n  - { name: lab, bridge: br1, subnets: [fd66:7::/80], mode: nptv6, externalPrefix: auto }\n',
    ['--control-socket', `/tmp/${lab.gw.name}-control.sock`]);
    let arrivals = '';
    let replies = '';
    const receiver = await lab.server(lab.inet, RECEIVER);
    receiver.stdout!.setEncoding('utf8').on('data', (d: string) => { arrivals += d; });
    capture = lab.gw.spawn('tcpdump', ['-l', '-n', '-v', '-tt', '--time-stamp-precision=micro', '-i', 'up0', 'udp port 546']);
    capture.stdout!.setEncoding('utf8').on('data', (d: string) => { replies += d; });
    await lab.server(lab.c2, STEADY_SENDER);
    await sleep(1000);
    const took: number[] = [];
    let lost = 0;
    for (let n = 1; n <= changes; n++) {
      const pool = POOLS[n % 2]!;
      const head = pool.replace('::', ':');
      const repliesBefore = replies.length;
      const arrivalsBefore = arrivals.length;
      await lab.startKea(pool, A);
      const end = Date.now() + 6000;
      let reply: RegExpExecArray | undefined;
      while (reply === undefined && Date.now() < end) {
        await sleep(100);
        // The Reply that delegates a prefix of the new pool (valid lifetime above 0).
        reply = [...replies.slice(repliesBefore).matchAll(/^(\d+)\.(\d+) .*?dhcp6 reply.*$/gm)]
          .find((m) => new RegExp(`IA_PD-prefix ${head}\\S*/56 pltime:\\d+ vltime:[1-9]`).test(m[0]));
      }
      await sleep(500);
      const seen = [...arrivals.slice(arrivalsBefore).matchAll(/^from (\d+) (\S+)$/gm)].find((m) => m[2]!.startsWith(head));
      if (reply === undefined || seen === undefined) {
        lost++;
        continue;
      }
      took.push((Number(seen[1]) - (Number(reply[1]) * 1e6 + Number(reply[2]))) / 1000);
    }
    report(took, lost, 'Reply received → first packet from the new delegated prefix');
  } finally {
    capture?.kill();
    await lab.stopSixgate('SIGKILL');
    lab.destroy();
    for (const f of ['nat.yaml', 'control.sock', 'state.snap', 'state.snap.dhcpv6-pd.json']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  }
}

export async function run(args: string[]): Promise<void> {
  const i = args.indexOf('--changes');
  const changes = i >= 0 ? Number(args[i + 1]) : 20;
  if (args.includes('--pd')) {
    await runPd(changes);
    return;
  }
  const lab = new RenumberLab([A, B]);
  let capture: ChildProcess | undefined;
  try {
    await lab.announce([{ prefix: A, valid: 120, preferred: 120 }, { prefix: B, valid: 120, preferred: 0 }]);
    await lab.waitForPrefix(A);
    // With a state file, as the image and the unit run it (the table's move to a fresh layout follows each change).
    await lab.startSixgate(`uplink: up0\nstateFile: /tmp/${lab.gw.name}-state.snap\nnetworks:\n  - { name: web, bridge: br0, subnets: [fd66:1::/64] }\n`,
      ['--control-socket', `/tmp/${lab.gw.name}-control.sock`]);
    let arrivals = '';
    let ras = '';
    const receiver = await lab.server(lab.inet, RECEIVER);
    receiver.stdout!.setEncoding('utf8').on('data', (d: string) => { arrivals += d; });
    capture = lab.gw.spawn('tcpdump', ['-l', '-n', '-tt', '--time-stamp-precision=micro', '-i', 'up0', 'icmp6 and ip6[40] == 134']);
    capture.stdout!.setEncoding('utf8').on('data', (d: string) => { ras += d; });
    await lab.server(lab.c1, SENDER);
    await sleep(3500);
    const took: number[] = [];
    let lost = 0;
    for (let n = 0; n < changes; n++) {
      const [now, old] = n % 2 === 0 ? [B, A] : [A, B];
      const want = lab.dedicated(now, 'web');
      const rasBefore = ras.length;
      const arrivalsBefore = arrivals.length;
      await lab.announce([{ prefix: now, valid: 120, preferred: 120 }, { prefix: old, valid: 120, preferred: 0 }]);
      await sleep(3500);
      const ra = /^(\d+)\.(\d+) /m.exec(ras.slice(rasBefore));
      const seen = [...arrivals.slice(arrivalsBefore).matchAll(/^from (\d+) (\S+)$/gm)].find((m) => m[2] === want);
      if (ra === null || seen === undefined) {
        lost++;
        continue;
      }
      const raUs = Number(ra[1]) * 1e6 + Number(ra[2]);
      took.push((Number(seen[1]) - raUs) / 1000);
    }
    report(took, lost, 'RA received → first packet from the new prefix');
  } finally {
    capture?.kill();
    await lab.stopSixgate('SIGKILL');
    lab.destroy();
    for (const f of ['nat.yaml', 'control.sock', 'state.snap']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  }
}
