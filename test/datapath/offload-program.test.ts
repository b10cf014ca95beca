// The fast path's tc program, run in the kernel on test frames
// (BPF_PROG_TEST_RUN): a packet of an offloaded session leaves translated,
// checksum right, hop limit one less, counted and redirected; everything the
// program must leave to the engine goes on untouched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { requires } from '../support/prereq.js';
import { BpfMap, MapType, TcProgram, TcxVerdict } from '../../src/io/ebpf.js';
import { offloadProgram } from '../../src/datapath/offload-program.js';
import { Key, KEY_SIZE, Role, Value, VALUE_SIZE } from '../../src/datapath/offload-layout.js';
import { addr, checksumOk, portsOf, tcpPacket, udpPacket, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../nat/support.js';

const req = requires({ root: true });

const INSIDE = 'fd66:1::10';
const EXTERNAL = '2001:db8:1::5';
const REMOTE = '2001:db8:99::1';
/** `lo` exists in every namespace: bpf_check_mtu and the redirect need a real device, and a test run's packet arrives on it. */
const LO = 1;

function frame(packet: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + packet.length);
  f.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd]);
  f.set(packet, 14);
  return f;
}

function entry(role: Role, next: number, src: string, sport: number, dst: string, dport: number,
  to: { src: string; sport: number; dst: string; dport: number; ifindex: number; from?: number }): { key: Uint8Array; value: Uint8Array } {
  const key = new Uint8Array(KEY_SIZE);
  key[Key.ROLE] = role;
  key[Key.NEXT_HEADER] = next;
  key.set(addr(src), Key.SRC);
  key.set(addr(dst), Key.DST);
  new DataView(key.buffer).setUint16(Key.SRC_PORT, sport);
  new DataView(key.buffer).setUint16(Key.DST_PORT, dport);
  const value = new Uint8Array(VALUE_SIZE);
  const v = new DataView(value.buffer);
  value.set(addr(to.src), Value.SRC);
  value.set(addr(to.dst), Value.DST);
  v.setUint16(Value.SRC_PORT, to.sport);
  v.setUint16(Value.DST_PORT, to.dport);
  v.setUint32(Value.OUT_IFINDEX, to.ifindex, true);
  v.setUint32(Value.IN_IFINDEX, to.from ?? LO, true);
  return { key, value };
}

describe('offload program', req, () => {
  let map: BpfMap;
  let inside: TcProgram;
  let outside: TcProgram;
  const out = entry(Role.Inside, 6, INSIDE, 40000, REMOTE, 443, { src: EXTERNAL, sport: 20000, dst: REMOTE, dport: 443, ifindex: LO });
  const back = entry(Role.Outside, 6, REMOTE, 443, EXTERNAL, 20000, { src: REMOTE, sport: 443, dst: INSIDE, dport: 40000, ifindex: LO });
  const udp = entry(Role.Inside, 17, INSIDE, 5353, REMOTE, 53, { src: EXTERNAL, sport: 20001, dst: REMOTE, dport: 53, ifindex: LO });

  before(() => {
    map = BpfMap.create(MapType.HASH, KEY_SIZE, VALUE_SIZE, 64, 'offload test');
    for (const e of [out, back, udp]) assert.equal(map.update(e.key, e.value), true);
    inside = TcProgram.load(offloadProgram(Role.Inside, map), 'offload (inside)');
    outside = TcProgram.load(offloadProgram(Role.Outside, map), 'offload (outside)');
  });
  after(() => {
    inside?.close();
    outside?.close();
    map?.close();
  });

  function counters(key: Uint8Array): { packets: number; bytes: number } {
    const value = new Uint8Array(VALUE_SIZE);
    assert.equal(map.lookup(key, value), true);
    const v = new DataView(value.buffer);
    return { packets: Number(v.getBigUint64(Value.PACKETS, true)), bytes: Number(v.getBigUint64(Value.BYTES, true)) };
  }

  test('an outbound TCP segment leaves translated, counted and redirected', () => {
    const before = counters(out.key);
    const f = frame(tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_ACK, 100));
    const r = inside.testRun(f);
    assert.equal(r.verdict, TcxVerdict.REDIRECT);
    const p = r.frame.subarray(14);
    assert.deepEqual(p.subarray(8, 24), addr(EXTERNAL));
    assert.deepEqual(p.subarray(24, 40), addr(REMOTE));
    assert.deepEqual(portsOf(p), { src: 20000, dst: 443 });
    assert.equal(p[7], 63, 'hop limit decremented');
    assert.ok(checksumOk(p), 'TCP checksum right after the rewrite');
    const after = counters(out.key);
    assert.equal(after.packets - before.packets, 1);
    assert.equal(after.bytes - before.bytes, f.length);
  });

  test('its reply comes back translated on the outside', () => {
    const r = outside.testRun(frame(tcpPacket(REMOTE, 443, EXTERNAL, 20000, TCP_ACK, 7)));
    assert.equal(r.verdict, TcxVerdict.REDIRECT);
    const p = r.frame.subarray(14);
    assert.deepEqual(p.subarray(24, 40), addr(INSIDE));
    assert.deepEqual(portsOf(p), { src: 443, dst: 40000 });
    assert.ok(checksumOk(p));
  });

  test('UDP is translated with its checksum right, however short', () => {
    for (const payload of [64, 1]) {
      const r = inside.testRun(frame(udpPacket(INSIDE, 5353, REMOTE, 53, payload)));
      assert.equal(r.verdict, TcxVerdict.REDIRECT, `${payload} bytes`);
      const p = r.frame.subarray(14);
      assert.deepEqual(portsOf(p), { src: 20001, dst: 53 });
      assert.ok(checksumOk(p));
    }
  });

  test('what the engine must see goes on untouched', () => {
    const cases: Array<[string, TcProgram, Uint8Array]> = [
      ['SYN', inside, tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_SYN)],
      ['FIN', inside, tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_FIN | TCP_ACK)],
      ['RST', inside, tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_RST)],
      ['no session', inside, tcpPacket(INSIDE, 40001, REMOTE, 443, TCP_ACK, 100)],
      ['the other role', outside, tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_ACK, 100)],
      ['hop limit 1', inside, (() => { const p = tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_ACK, 100); p[7] = 1; return p; })()],
      ['UDP without a checksum', inside, (() => { const p = udpPacket(INSIDE, 5353, REMOTE, 53, 64); p[46] = 0; p[47] = 0; return p; })()],
      ['an extension header', inside, (() => { const p = tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_ACK, 100); p[6] = 0; return p; })()],
      ['too short for a TCP header', inside, tcpPacket(INSIDE, 40000, REMOTE, 443, TCP_ACK).subarray(0, 57)],
      ['too short for a UDP header', inside, udpPacket(INSIDE, 5353, REMOTE, 53, 0).subarray(0, 47)],
    ];
    for (const [what, program, packet] of cases) {
      const f = frame(packet);
      const r = program.testRun(f);
      assert.equal(r.verdict, TcxVerdict.NEXT, what);
      assert.deepEqual(r.frame, f, `${what}: unchanged`);
    }
  });

  test('a packet from another device than its entry names goes on untouched (forged on another bridge)', () => {
    const pinned = entry(Role.Inside, 6, INSIDE, 40003, REMOTE, 443, { src: EXTERNAL, sport: 20003, dst: REMOTE, dport: 443, ifindex: LO, from: LO + 1000 });
    map.update(pinned.key, pinned.value);
    const f = frame(tcpPacket(INSIDE, 40003, REMOTE, 443, TCP_ACK, 10));
    const r = inside.testRun(f);
    assert.equal(r.verdict, TcxVerdict.NEXT);
    assert.deepEqual(r.frame, f);
  });

  test('an out device that is gone leaves the packet to the slow path', () => {
    const gone = entry(Role.Inside, 6, INSIDE, 40002, REMOTE, 443, { src: EXTERNAL, sport: 20002, dst: REMOTE, dport: 443, ifindex: 0x7fff0000 });
    map.update(gone.key, gone.value);
    const r = inside.testRun(frame(tcpPacket(INSIDE, 40002, REMOTE, 443, TCP_ACK, 10)));
    assert.equal(r.verdict, TcxVerdict.NEXT);
  });
});
