// Refusals end to end (src/nat/refuse.ts through `sixgate nat`): from the
// internet, a TCP connect to an unpublished port of the external address is
// refused at once, a UDP datagram to one gets an ICMPv6 port unreachable,
// a bounded burst is answered no more than the rate limit allows, and
// `refuse: silent` brings the old silent drop back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { NatLab, A, tcpClientCode } from './topology.js';

const req = requires({ root: true, tools: ['ip', 'nsenter'], files: ['/dev/net/tun'] });

function config(gw: string, refuse: string): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.snap
capacity: 4096
refuse: ${refuse}
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
`;
}

/** A connected UDP socket sends a datagram, then another: an ICMPv6 port unreachable for the first fails the second with ECONNREFUSED. */
function udpConnectedCode(host: string, port: number): string {
  return `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
const done = (error) => { console.log(JSON.stringify({ error })); process.exit(0); };
s.on('error', (e) => done(e.code));
s.connect(${port}, '${host}', () => {
  s.send('x');
  setTimeout(() => s.send('y', (e) => { if (e) done(e.code); else setTimeout(() => done('none'), 1000); }), 300);
});`;
}

/** Sends \`count\` datagrams to host:port from an unconnected socket as fast as it can; reports how long that took. */
function udpBurstCode(host: string, port: number, count: number): string {
  return `import dgram from 'node:dgram';
const s = dgram.createSocket('udp6');
s.bind(0, async () => {
  const t0 = performance.now();
  for (let i = 0; i < ${count}; i++) await new Promise((r) => s.send('x', ${port}, '${host}', r));
  const ms = performance.now() - t0;
  setTimeout(() => { console.log(JSON.stringify({ ms })); process.exit(0); }, 300);
});`;
}

/** The engine's counters, from the line SIGUSR1 makes `sixgate nat` log. */
async function natCounters(lab: NatLab): Promise<Record<string, number>> {
  const before = lab.log.length;
  lab.sixgate!.kill('SIGUSR1');
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = lab.log.slice(before).split('\n').find((l) => l.includes('"msg":"counters"'));
    if (line !== undefined) {
      // The registry's names (sixgate_nat_rst_sent_total) back to the engine's (rst-sent).
      const all = (JSON.parse(line) as { counters?: Record<string, unknown> }).counters ?? {};
      const out: Record<string, number> = {};
      for (const [k, v] of Object.entries(all)) {
        const m = /^sixgate_nat_(.+)_total$/.exec(k);
        if (m !== null && typeof v === 'number') out[m[1]!.replace(/_/g, '-')] = v;
      }
      return out;
    }
    if (Date.now() > deadline) throw new Error(`no counters line:\n${lab.log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('refusals end to end', { ...req, timeout: 90_000 }, () => {
  let lab: NatLab;

  before(async () => {
    lab = new NatLab({ withNpt: false, withInet2: false });
    await lab.startSixgate(config(lab.gw.name, 'reply'));
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('a TCP connect to an unpublished port is refused at once (a RST), not left to time out', async () => {
    const started = Date.now();
    const r = await lab.nodeResult<{ error?: string }>(lab.inet, tcpClientCode(A.dedicated, 7070));
    const took = Date.now() - started;
    assert.equal(r.error, 'ECONNREFUSED');
    assert.ok(took < 3000, `refused after ${took} ms`);
    assert.ok((await natCounters(lab))['rst-sent']! >= 1);
  });

  test('UDP to an unpublished port gets ICMPv6 port unreachable (ECONNREFUSED on a connected socket)', async () => {
    const r = await lab.nodeResult<{ error: string }>(lab.inet, udpConnectedCode(A.dedicated, 9999));
    assert.equal(r.error, 'ECONNREFUSED');
    assert.ok((await natCounters(lab))['unreachable-sent']! >= 1);
  });

  test('a bounded burst is answered no faster than the rate limit: a bucket of 50, then 1,000 a second', async () => {
    const count = 400;
    const before = await natCounters(lab);
    const r = await lab.nodeResult<{ ms: number }>(lab.inet, udpBurstCode(A.dedicated, 9998, count));
    const c = await natCounters(lab);
    const sent = (c['unreachable-sent'] ?? 0) - (before['unreachable-sent'] ?? 0);
    const limited = (c['refusal-rate-limited'] ?? 0) - (before['refusal-rate-limited'] ?? 0);
    assert.equal(sent + limited, count, 'every datagram answered or counted as over the limit');
    assert.ok(sent >= 50, `${sent} sent`);
    // At most the burst plus a token a millisecond of the burst's duration (+ the send's spread: 20 ms).
    assert.ok(sent <= 50 + Math.ceil(r.ms) + 20, `${sent} sent in ${r.ms.toFixed(1)} ms`);
  });

  test('refuse: silent drops as before: the connect times out', async () => {
    await lab.stopSixgate('SIGTERM');
    await lab.startSixgate(config(lab.gw.name, 'silent'));
    const r = await lab.nodeResult<{ error?: string }>(lab.inet, tcpClientCode(A.dedicated, 7070).replace('setTimeout(8000', 'setTimeout(1500'));
    assert.equal(r.error, 'timeout');
    const c = await natCounters(lab);
    assert.equal(c['rst-sent'] ?? 0, 0);
  });

  // What really happens while sixgate is down (SIGKILL, no --cleanup): the
  // TUN is persistent, so its routes stay and win over their unreachable
  // twins; packets into it wait in its queue and are dropped, unanswered.
  // Nothing leaks untranslated, but an outside client sees a timeout, not an
  // unreachable (the README says so). The twins answer once the TUN is gone.
  test('sixgate not running: packets into the TUN, both ways, are dropped unanswered (a timeout)', async () => {
    await lab.stopSixgate('SIGKILL');
    const short = (host: string): string => tcpClientCode(host, 7070).replace('setTimeout(8000', 'setTimeout(1500');
    const [fromOutside, fromContainer] = await Promise.all([
      lab.nodeResult<{ error?: string }>(lab.inet, short(A.dedicated)),
      lab.nodeResult<{ error?: string }>(lab.c1, short(A.inet)),
    ]);
    assert.equal(fromOutside.error, 'timeout');
    assert.equal(fromContainer.error, 'timeout', 'a container\'s connect out waits too');
  });
});
