// Adopting a table a killed process left behind (the state file mapped over
// a new table's memory; here the bytes are copied, which is what the mapping
// shows): the header is checked before anything is trusted, and records are
// rebuilt into fresh indexes, rings, wheel and free lists, bad ones dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { ConnTable, R, REC_WORDS } from '../../src/nat/table.js';
import { META_WORDS } from '../../src/nat/layout.js';
import { Verdict } from '../../src/nat/types.js';
import { SnapshotError } from '../../src/errors.js';
import { tcpPacket, udpPacket, portsOf, equalBytes, TCP_SYN, TCP_ACK } from './support.js';

const BOOT = new Uint32Array([0x11111111, 0x22222222, 0x33333333, 0x44444444]);
const EXT = '2001:db8:ffff::1';
const REMOTE = '2001:db8:5::5';
const config = (external = EXT) => ({ networks: [{ name: 'web', insideSubnets: ['fd00::/64'], externalAddresses: [external] }], capacity: 256 });

function engine(external = EXT): Nat66 {
  const nat = new Nat66(config(external), { mappable: true });
  nat.table.bootId = BOOT;
  return nat;
}

/** What a new process finds in the file: the old table's bytes. */
function fileOf(nat: Nat66): Uint8Array {
  return new Uint8Array(nat.table.buffer).slice();
}

function headerOf(file: Uint8Array): Uint32Array {
  return new Uint32Array(file.buffer, 0, META_WORDS);
}

/** checkState + "map" + adopt, as the data path does. */
function adopt(nat: Nat66, file: Uint8Array, now: number): number {
  nat.checkState(headerOf(file), now, BOOT);
  new Uint8Array(nat.table.buffer).set(file);
  return nat.adopt(now);
}

// An outbound TCP SYN from `inside`:`port`; returns the external port it got.
function open(nat: Nat66, inside: string, port: number, now: number): number {
  const p = tcpPacket(inside, port, REMOTE, 443, TCP_SYN);
  assert.equal(nat.translate(p, 0, p.length, now), Verdict.Forward);
  return portsOf(p)!.src;
}

// The remote's answer to the external port, translated inbound; the inside address:port it reaches.
function answer(nat: Nat66, extPort: number, now: number): Uint8Array {
  const p = tcpPacket(REMOTE, 443, EXT, extPort, TCP_SYN | TCP_ACK);
  assert.equal(nat.translate(p, 0, p.length, now), Verdict.Forward);
  return p;
}

test('a mappable table lives in page-aligned WebAssembly memory at every size', () => {
  const nat = engine();
  assert.equal(nat.table.buffer.byteLength % 65536, 0);
  assert.ok(nat.table.buffer.byteLength >= nat.table.byteLength);
  assert.equal(new ConnTable({ capacity: 256, externalCount: 1 }).buffer.byteLength, new ConnTable({ capacity: 256, externalCount: 1 }).byteLength);
});

test('two inside hosts with the same source port keep their mappings across adoption', () => {
  const a = engine();
  const p1 = open(a, 'fd00::1', 40000, 1_000_000);
  const p2 = open(a, 'fd00::2', 40000, 1_000_000);
  assert.notEqual(p1, p2);
  a.expire(1_000_500);
  const b = engine();
  assert.equal(adopt(b, fileOf(a), 1_005_000), 0);
  assert.equal(b.table.count, 2);
  // The one without the preserved port speaks first: it must not take it now.
  const late = p1 === 40000 ? 'fd00::2' : 'fd00::1';
  assert.equal(open(b, late, 40000, 1_005_000), p1 === 40000 ? p2 : p1);
  for (const port of [p1, p2]) {
    const x = answer(a, port, 1_005_000);
    const y = answer(b, port, 1_005_000);
    assert.ok(equalBytes(x, y), 'the answer reaches the same inside host and port');
  }
});

test('expiries are rebased from the last tick the killed process saw; a far one is brought back to its timeout', () => {
  const a = engine();
  open(a, 'fd00::1', 1000, 1_000_000);
  const u = udpPacket('fd00::1', 53, REMOTE, 53);
  a.translate(u, 0, u.length, 1_000_000);
  a.expire(1_000_000);
  const file = fileOf(a);
  const words = new Uint32Array(file.buffer);
  // The UDP session (id 2) gets an expiry a damaged record could carry.
  words[(new ConnTable({ capacity: 256, externalCount: 1 }).rec.byteOffset >>> 2) + 2 * REC_WORDS + R.EXPIRY] = 0xfffffff0;
  const b = engine();
  assert.equal(adopt(b, file, 5_000_000), 0, 'an hour later: the downtime does not count');
  const sessions = b.listSessions();
  assert.equal(sessions.length, 2);
  const longest = Math.max(b.cfg.ticksUdp, b.cfg.ticksTcpEstablished) * 1000;
  for (const s of sessions) assert.ok(s.expiresInMs > 0 && s.expiresInMs <= longest, JSON.stringify(s));
});

test('a header that does not fit is refused with what is wrong; the table is never touched', () => {
  const a = engine();
  open(a, 'fd00::1', 1000, 1_000_000);
  a.expire(1_000_000);
  const good = fileOf(a);
  const patched = (word: number, value: number): Uint8Array => {
    const f = good.slice();
    new Uint32Array(f.buffer)[word] = value;
    return f;
  };
  const b = engine();
  const refuse = (file: Uint8Array, reason: RegExp, now = 1_000_000, boot = BOOT, nat = b): void => {
    assert.throws(() => nat.checkState(headerOf(file), now, boot), (e: unknown) => e instanceof SnapshotError && reason.test(e.message));
  };
  const M = ConnTable.META;
  refuse(patched(M.MAGIC, 0), /magic/);
  refuse(patched(M.VERSION, 2), /version 2/);
  refuse(patched(M.CAPACITY, 512), /capacity/);
  refuse(patched(M.BYTE_LENGTH, 12), /byte length/);
  refuse(good, /reboot/, 1_000_000, new Uint32Array([1, 2, 3, 4]));
  refuse(good, /ahead/, 10_000);
  refuse(good, /other external addresses/, 1_000_000, BOOT, engine('2001:db8:ffff::2'));
  refuse(new Uint8Array(4096), /magic/);
  assert.equal(b.table.count, 0);
  b.checkState(headerOf(good), 1_000_000, BOOT);
});

// A deterministic generator, so a failure can be replayed.
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

test('garbage records and damaged indexes: bad records dropped, good ones kept, the table consistent', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const a = engine();
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) ports.push(open(a, `fd00::${(i % 5) + 1}`, 2000 + i, 1_000_000));
    a.expire(1_000_000);
    const file = fileOf(a);
    const words = new Uint32Array(file.buffer);
    const rnd = xorshift(seed);
    const t = a.table;
    const recWord = t.rec.byteOffset >>> 2;
    // Random words over every record after the first 20 and over all of the inside index.
    for (let w = recWord + 21 * REC_WORDS; w < recWord + (t.capacity + 1) * REC_WORDS; w++) words[w] = rnd();
    for (let w = t.idxIn.byteOffset >>> 2; w < (t.idxIn.byteOffset >>> 2) + t.indexSize; w++) words[w] = rnd();
    const b = engine();
    const dropped = adopt(b, file, 1_000_000);
    assert.ok(dropped > 0, `seed ${seed}: garbage was dropped`);
    assert.ok(b.table.count >= 20, `seed ${seed}: the 20 intact sessions stay (${b.table.count})`);
    for (let i = 0; i < 20; i++) answer(b, ports[i]!, 1_000_000);
    // Every free record is on the free list: the table fills to capacity with new flows.
    for (let i = 0; i < 4 * b.table.capacity && b.table.count < b.table.capacity; i++) {
      const p = udpPacket(`fd00::${(i % 200) + 1}`, 10_000 + i, REMOTE, 53);
      assert.equal(b.translate(p, 0, p.length, 1_000_000), Verdict.Forward);
    }
    assert.equal(b.table.count, b.table.capacity, `seed ${seed}: the table fills up`);
  }
});
