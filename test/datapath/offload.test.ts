// The fast path's user-space half (src/datapath/offload.ts) with a real map
// and the real programs run on test frames (BPF_PROG_TEST_RUN): promotion
// writes what the programs need, what they count folds into the engine, and
// each reason to demote takes both entries out. offload-e2e.test.ts runs it
// on real devices.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requires } from '../support/prereq.js';
import { TcProgram, TcxVerdict } from '../../src/io/ebpf.js';
import { NatOffload, OffloadCounter, OffloadPrograms } from '../../src/datapath/offload.js';
import { offloadProgram } from '../../src/datapath/offload-program.js';
import { KEY_SIZE, Role, Value, VALUE_SIZE } from '../../src/datapath/offload-layout.js';
import { Nat66 } from '../../src/nat/nat66.js';
import { Flag, R, REC_WORDS } from '../../src/nat/table.js';
import { NatCounter } from '../../src/nat/types.js';
import { addr, checksumOk, portsOf, tcpPacket, udpPacket, TCP_ACK, TCP_FIN, TCP_SYN } from '../nat/support.js';

const req = requires({ root: true });

const EXT = '2001:db8:ffff::1';
const A = 'fd00::a';
const R1 = '2001:db8:1::1';
/** `lo`: bpf_check_mtu and the redirect need a real device. */
const LO = 1;
const ROUTES = { uplink: LO, inside: [{ subnet: 'fd00::/64', ifindex: LO }], egress: [{ prefix: '::/0', uplink: true }, { prefix: '2001:db8:9::/48', uplink: false }] };

function frame(packet: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + packet.length);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd]);
  f.set(packet, 14);
  return f;
}

function engine(): Nat66 {
  return new Nat66({ networks: [{ name: 'web', insideSubnets: ['fd00::/64'], externalAddresses: [EXT] }], capacity: 1024, seed: 1 });
}

/** A TCP connection A:port -> R1:443 through its handshake (offered); its external port. */
function connect(n: Nat66, port: number, now: number): number {
  const syn = tcpPacket(A, port, R1, 443, TCP_SYN);
  n.translate(syn, 0, syn.length, now);
  const ext = portsOf(syn)!.src;
  const back = tcpPacket(R1, 443, EXT, ext, TCP_SYN | TCP_ACK);
  n.translate(back, 0, back.length, now);
  return ext;
}

/** A UDP exchange A:port -> R1:53 and its answer (offered). */
function exchange(n: Nat66, port: number, now: number): void {
  const q = udpPacket(A, port, R1, 53, 32);
  n.translate(q, 0, q.length, now);
  const a = udpPacket(R1, 53, EXT, portsOf(q)!.src, 32);
  n.translate(a, 0, a.length, now);
}

function entries(programs: OffloadPrograms): { role: number; tag: number }[] {
  const keys = new Uint8Array(64 * KEY_SIZE);
  const values = new Uint8Array(64 * VALUE_SIZE);
  const n = programs.map.dump(keys, values);
  const v = new DataView(values.buffer);
  return Array.from({ length: n }, (_, i) => ({ role: keys[i * KEY_SIZE]!, tag: v.getUint32(i * VALUE_SIZE + Value.TAG, true) }));
}

describe('NAT66 fast path, user-space half', req, () => {
  let programs: OffloadPrograms;
  let inside: TcProgram;
  let outside: TcProgram;

  before(() => {
    programs = OffloadPrograms.load(64);
    inside = TcProgram.load(offloadProgram(Role.Inside, programs.map));
    outside = TcProgram.load(offloadProgram(Role.Outside, programs.map));
  });
  after(() => {
    inside?.close();
    outside?.close();
    programs?.close();
  });

  test('a promoted TCP session: both entries written, its packets translated in the kernel and counted into the engine; its FIN demotes it', () => {
    const nat = engine();
    const fast = new NatOffload({ map: programs.map, worker: 3, slots: 4, batch: 16 });
    fast.setRoutes(ROUTES);
    fast.bind(nat);
    const ext = connect(nat, 40000, 1000);
    fast.promote();
    assert.equal(fast.sessions, 1);
    assert.equal(fast.counters[OffloadCounter.Promotions], 1);
    assert.deepEqual(nat.listSessions().map((s) => s.fastPath), [true], 'flows say so');
    const tags = entries(programs);
    assert.deepEqual(tags.map((e) => e.role).sort(), [Role.Inside, Role.Outside]);
    assert.ok(tags.every((e) => e.tag >>> 24 === 3), 'tagged with the worker');

    const data = tcpPacket(A, 40000, R1, 443, TCP_ACK, 1000);
    const out = inside.testRun(frame(data));
    assert.equal(out.verdict, TcxVerdict.REDIRECT);
    const p = out.frame.subarray(14);
    assert.deepEqual(p.subarray(8, 24), addr(EXT));
    assert.equal(portsOf(p)!.src, ext);
    assert.ok(checksumOk(p));
    const back = outside.testRun(frame(tcpPacket(R1, 443, EXT, ext, TCP_ACK, 10)));
    assert.equal(back.verdict, TcxVerdict.REDIRECT);
    assert.deepEqual(back.frame.subarray(14 + 24, 14 + 40), addr(A));
    assert.equal(portsOf(back.frame.subarray(14))!.dst, 40000);

    const id = nat.offload.ids[0]!;
    const o = id * REC_WORDS;
    const before = { out: nat.table.rec[o + R.PKTS_OUT]!, bytes: nat.counters[NatCounter.OutBytes]! };
    fast.sync(2000);
    assert.equal(nat.table.rec[o + R.PKTS_OUT], before.out + 1);
    assert.equal(nat.counters[NatCounter.OutBytes]! - before.bytes, data.length, 'IPv6 bytes, as the engine counts them');
    assert.equal(fast.counters[OffloadCounter.OutPackets], 1);
    assert.equal(fast.counters[OffloadCounter.InPackets], 1);
    fast.sync(3000);
    assert.equal(nat.table.rec[o + R.PKTS_OUT], before.out + 1, 'counted once');

    const fin = tcpPacket(A, 40000, R1, 443, TCP_FIN | TCP_ACK);
    nat.translate(fin, 0, fin.length, 3500);
    fast.sync(4000);
    assert.equal(fast.sessions, 0);
    assert.equal(fast.counters[OffloadCounter.DemotedClosed], 1);
    assert.equal(entries(programs).length, 0, 'both entries gone');
    assert.equal(nat.table.rec[o + R.META]! & (Flag.OFFERED | Flag.OFFLOADED), 0, 'unmarked');
    assert.equal(inside.testRun(frame(data)).verdict, TcxVerdict.NEXT, 'back on the slow path');
  });

  test("a worker's share full: refused and counted; each worker syncs only its own entries", () => {
    const a = engine();
    const b = engine();
    const fa = new NatOffload({ map: programs.map, worker: 0, slots: 2, batch: 16 });
    const fb = new NatOffload({ map: programs.map, worker: 1, slots: 2, batch: 16 });
    for (const [f, n] of [[fa, a], [fb, b]] as const) {
      f.setRoutes(ROUTES);
      f.bind(n);
    }
    for (let i = 0; i < 3; i++) exchange(a, 5000 + i, 1000);
    fa.promote();
    assert.equal(fa.sessions, 2);
    assert.equal(fa.counters[OffloadCounter.MapFull], 1);
    assert.equal(a.offload.enabled, false, 'full: no more offers');
    exchange(b, 6000, 1000);
    fb.promote();
    assert.equal(entries(programs).length, 6);
    const q = udpPacket(A, 6000, R1, 53, 32);
    assert.equal(inside.testRun(frame(q)).verdict, TcxVerdict.REDIRECT);
    fa.sync(2000);
    fb.sync(2000);
    assert.equal(fa.counters[OffloadCounter.OutPackets], 0, "worker 0 does not count worker 1's entry");
    assert.equal(fb.counters[OffloadCounter.OutPackets], 1);
    fa.demoteAll();
    assert.equal(a.offload.enabled, true, 'room again: offers again');
    assert.equal(entries(programs).length, 2, "worker 1's entries stay");
    assert.equal(fa.counters[OffloadCounter.DemotedReset], 2);
    // A worker started anew clears what its predecessor left.
    new NatOffload({ map: programs.map, worker: 1, slots: 2, batch: 16 }).clearStale();
    assert.equal(entries(programs).length, 0);
  });

  test('demoted when the session is removed, expires, or a capture starts; a new table demotes everything; each decision a debug line', () => {
    const nat = engine();
    const lines: string[] = [];
    const fast = new NatOffload({ map: programs.map, worker: 0, slots: 8, batch: 16, debug: (fields, text) => lines.push(`${text} ${JSON.stringify(fields)}`) });
    fast.setRoutes(ROUTES);
    fast.bind(nat);
    exchange(nat, 7000, 1000);
    exchange(nat, 7001, 1000);
    fast.promote();
    assert.equal(fast.sessions, 2);
    // One removed by the engine (a reconfiguration, an eviction): gone at the next sync.
    nat.table.remove(nat.offload.ids[0]!);
    fast.sync(2000);
    assert.equal(fast.counters[OffloadCounter.DemotedGone], 1);
    // The other expires (UDP: 5 minutes without a packet on either path).
    nat.expire(400_000);
    fast.reap();
    assert.equal(fast.counters[OffloadCounter.DemotedExpired], 1);
    assert.equal(fast.sessions, 0);
    assert.equal(entries(programs).length, 0);
    // A capture: everything back, nothing promoted while it runs.
    exchange(nat, 7002, 401_000);
    fast.promote();
    assert.equal(fast.sessions, 1);
    fast.pause();
    assert.equal(fast.counters[OffloadCounter.DemotedCapture], 1);
    assert.equal(nat.offload.enabled, false);
    exchange(nat, 7003, 401_000);
    assert.equal(nat.offload.count, 0);
    fast.resume();
    exchange(nat, 7003, 401_000);
    fast.promote();
    assert.equal(fast.sessions, 1);
    // A new engine (a table rebuilt): its ids are not the old one's.
    fast.bind(engine());
    assert.equal(fast.sessions, 0);
    assert.equal(fast.counters[OffloadCounter.DemotedReset], 1);
    assert.equal(entries(programs).length, 0);
    assert.equal(lines.filter((l) => l.startsWith('NAT session offloaded')).length, 4);
    const back = lines.filter((l) => l.startsWith('NAT session back on the slow path'));
    assert.deepEqual(back.map((l) => (JSON.parse(l.slice(l.indexOf('{'))) as { reason: string }).reason),
      ['demoted-gone', 'demoted-expired', 'demoted-capture', 'demoted-reset']);
    assert.match(lines[0]!, /"proto":"udp","inside":"\[fd00::a\]:7000","remote":"\[2001:db8:1::1\]:53","external":"\[2001:db8:ffff::1\]:\d+"/);
  });

  test('not promoted: an inside address with no bridge, a remote not reached through the uplink', () => {
    const nat = engine();
    const fast = new NatOffload({ map: programs.map, worker: 0, slots: 8, batch: 16 });
    fast.setRoutes({ ...ROUTES, inside: [] });
    fast.bind(nat);
    exchange(nat, 8000, 1000);
    fast.promote();
    fast.setRoutes(ROUTES);
    // 2001:db8:9::/48 is routed elsewhere (another bridge, a tunnel): the kernel routes its packets after the TUN.
    const q = udpPacket(A, 8001, '2001:db8:9::5', 53, 32);
    nat.translate(q, 0, q.length, 1000);
    const a = udpPacket('2001:db8:9::5', 53, EXT, portsOf(q)!.src, 32);
    nat.translate(a, 0, a.length, 1000);
    fast.promote();
    assert.equal(fast.sessions, 0);
    assert.equal(fast.counters[OffloadCounter.Unroutable], 2);
    assert.equal(entries(programs).length, 0);
  });
});
