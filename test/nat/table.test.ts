import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnTable, R, REC_WORDS, Flag, OWNER_PUBLISHED } from '../../src/nat/table.js';
import { snapshotTable, restoreTable } from '../../src/nat/snapshot.js';
import { ProtoClass, TcpState } from '../../src/nat/types.js';
import { SnapshotError } from '../../src/errors.js';
import { layoutOf, WARM_MIN_SESSIONS, WARM_MAX } from '../../src/nat/layout.js';

const { Tcp, Udp } = ProtoClass;

function setKey(t: ConnTable, inside: number, remote: number): void {
  t.key.set([0xfd000000, 0, 0, inside >>> 0, 0x20010db8, 0, 0, remote >>> 0]);
}

function add(t: ConnTable, inside: number, inPort: number, remote: number, remPort: number, extPort: number,
  expiry: number, pc: number = Udp): number {
  setKey(t, inside, remote);
  const host = t.acquireHost();
  assert.ok(host > 0);
  const anchor = t.findMapping(pc, inPort);
  const ext = anchor === 0 ? extPort : t.rec[anchor * REC_WORDS + R.EXT] >>> 16;
  return t.insert(pc, inPort, remPort, 0, ext, host, 0, 0, expiry, anchor);
}

test('insert, find by both sides and by mapping, remove', () => {
  const t = new ConnTable({ capacity: 64, externalCount: 1 });
  const id = add(t, 1, 5000, 9, 53, 5000, 100);
  assert.ok(id > 0);
  setKey(t, 1, 9);
  assert.equal(t.findInside(Udp, 5000, 53), id);
  assert.equal(t.findInside(Tcp, 5000, 53), 0, 'protocol is part of the key');
  assert.equal(t.findOutside(Udp, 0, 5000, 53), id);
  assert.equal(t.findOutside(Udp, 0, 5000, 54), 0);
  assert.equal(t.findMapping(Udp, 5000), id);
  assert.equal(t.portOwner(0, Udp, 5000), id);
  assert.equal(t.count, 1);
  t.remove(id);
  assert.equal(t.count, 0);
  assert.equal(t.findInside(Udp, 5000, 53), 0);
  assert.equal(t.findOutside(Udp, 0, 5000, 53), 0);
  assert.equal(t.findMapping(Udp, 5000), 0);
  assert.equal(t.portOwner(0, Udp, 5000), 0);
  assert.equal(t.hosts.sessions(1), 0);
});

test('sessions of one mapping share its port; the port is freed with the last one', () => {
  const t = new ConnTable({ capacity: 64, externalCount: 1 });
  const a = add(t, 1, 4000, 7, 80, 4000, 100);
  const b = add(t, 1, 4000, 8, 80, 9999, 100);
  const c = add(t, 1, 4000, 9, 80, 9999, 100);
  for (const id of [a, b, c]) assert.equal(t.rec[id * REC_WORDS + R.EXT] >>> 16, 4000);
  assert.equal(t.portOwner(0, Udp, 4000), a);
  t.remove(a);
  const anchor = t.portOwner(0, Udp, 4000);
  assert.ok(anchor === b || anchor === c, 'anchor moved to a surviving session');
  setKey(t, 1, 0);
  assert.equal(t.findMapping(Udp, 4000), anchor);
  t.remove(b);
  t.remove(c);
  assert.equal(t.portOwner(0, Udp, 4000), 0);
  assert.equal(t.findMapping(Udp, 4000), 0);
});

test('table full returns 0; host table full refuses, idle hosts are reclaimed', () => {
  const t = new ConnTable({ capacity: 4, externalCount: 1, hostCapacity: 2 });
  for (let i = 0; i < 4; i++) assert.ok(add(t, 1, 1000 + i, 9, 53, 1000 + i, 10) > 0);
  setKey(t, 1, 9);
  assert.equal(t.insert(Udp, 2000, 53, 0, 2000, 1, 0, 0, 10, 0), 0);
  setKey(t, 2, 9);
  const h2 = t.acquireHost();
  assert.ok(h2 > 0);
  setKey(t, 3, 9);
  assert.equal(t.acquireHost(), h2, 'host 2 had no sessions: its slot is reclaimed');
  t.remove(1);
  const keep = add(t, 3, 7, 9, 53, 7, 10);
  assert.ok(keep > 0);
  setKey(t, 4, 9);
  assert.equal(t.acquireHost(), 0, 'both hosts hold sessions');
  assert.equal(t.hostCount, 2);
});

test('timing wheel: expiry, lazy refresh, early expiry relinks', () => {
  const t = new ConnTable({ capacity: 16, externalCount: 1 });
  t.expire(1000);
  const a = add(t, 1, 1, 9, 1, 1, 1010);
  const b = add(t, 1, 2, 9, 1, 2, 1010);
  const c = add(t, 1, 3, 9, 1, 3, 1020);
  t.setExpiry(a, 1015); // lazy: stays linked at 1010's slot
  t.setExpiry(c, 1005); // earlier: relinked
  assert.equal(t.expire(1005), 1);
  assert.equal(t.rec[c * REC_WORDS + R.META], 0);
  assert.equal(t.expire(1010), 1, 'b expires, a was refreshed');
  assert.notEqual(t.rec[a * REC_WORDS + R.META], 0);
  assert.equal(t.rec[b * REC_WORDS + R.META], 0);
  assert.equal(t.expire(1014), 0);
  assert.equal(t.expire(1015), 1);
  assert.equal(t.count, 0);
  // A gap longer than the wheel still visits everything once.
  add(t, 1, 1, 9, 1, 1, 1020);
  add(t, 1, 2, 9, 1, 2, 30000);
  assert.equal(t.expire(20000), 1);
  assert.equal(t.count, 1);
  assert.equal(t.expire(30000), 1);
});

// Deterministic PRNG so a failure reproduces.
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

function checkConsistent(t: ConnTable, model: Map<string, number>): void {
  let slotsIn = 0;
  let slotsOut = 0;
  for (let i = 0; i < t.indexSize; i++) {
    if (t.idxIn[i] !== 0) slotsIn++;
    if (t.idxOut[i] !== 0) slotsOut++;
  }
  assert.equal(slotsIn, t.count);
  assert.equal(slotsOut, t.count);
  assert.equal(model.size, t.count);
  for (const [k, id] of model) {
    const [inside, inPort, remote, remPort] = k.split(',').map(Number);
    setKey(t, inside, remote);
    assert.equal(t.findInside(Udp, inPort, remPort), id, `inside ${k}`);
    const ext = t.rec[id * REC_WORDS + R.EXT];
    assert.equal(t.findOutside(Udp, ext & 0xffff, ext >>> 16, remPort), id, `outside ${k}`);
    assert.ok(t.findMapping(Udp, inPort) !== 0, `mapping ${k}`);
  }
}

test('property: 1M random inserts, lookups, removals and expiries keep the indexes consistent', () => {
  const t = new ConnTable({ capacity: 1 << 16, externalCount: 1, hostCapacity: 512 });
  const rnd = xorshift(12345);
  const model = new Map<string, number>();
  const byId = new Map<number, string>();
  let tick = 1;
  t.expire(tick);
  for (let op = 0; op < 1_000_000; op++) {
    const r = rnd();
    const inside = (r & 0xff) + 1;
    const inPort = 1024 + ((r >>> 8) & 0x3ff);
    const remote = ((r >>> 18) & 0x3f) + 1;
    const remPort = 80 + ((r >>> 24) & 0x3);
    const key = `${inside},${inPort},${remote},${remPort}`;
    setKey(t, inside, remote);
    const found = t.findInside(Udp, inPort, remPort);
    assert.equal(found, model.get(key) ?? 0);
    if (found === 0) {
      if (t.count < t.capacity) {
        const host = t.acquireHost();
        if (host === 0) continue;
        const anchor = t.findMapping(Udp, inPort);
        const extPort = anchor === 0 ? inPort : t.rec[anchor * REC_WORDS + R.EXT] >>> 16;
        if (anchor === 0 && t.portOwner(0, Udp, extPort) !== 0) continue; // port taken by another inside host
        const id = t.insert(Udp, inPort, remPort, 0, extPort, host, 0, 0, tick + 1 + (rnd() % 30), anchor);
        assert.ok(id > 0);
        model.set(key, id);
        byId.set(id, key);
      }
    } else if ((r & 0x300) === 0) {
      t.remove(found);
      model.delete(key);
      byId.delete(found);
    } else {
      t.setExpiry(found, tick + 1 + (rnd() % 30));
    }
    if (op % 1000 === 999) {
      tick++;
      const before = t.count;
      t.expire(tick);
      if (t.count !== before) {
        for (const [id, k] of byId) {
          if ((t.rec[id * REC_WORDS + R.META] & Flag.LIVE) === 0) { byId.delete(id); model.delete(k); }
        }
      }
    }
    if (op % 250_000 === 249_999) checkConsistent(t, model);
  }
  checkConsistent(t, model);
});

test('snapshot → restore gives identical lookups; damaged or foreign snapshots are refused', () => {
  const geometry = { capacity: 256, externalCount: 2 };
  const t = new ConnTable(geometry);
  t.fingerprint = 0xabcdef;
  const markPub = (tab: ConnTable) => () => { tab.owner[(1 << 2 | Tcp) * 65536 + 443] = OWNER_PUBLISHED | 0; };
  markPub(t)();
  t.expire(500);
  const ids: number[] = [];
  for (let i = 0; i < 50; i++) ids.push(add(t, i + 1, 3000 + i, 99, 443, 3000 + i, 600 + i, Tcp));
  setKey(t, 77, 5);
  const host = t.acquireHost();
  const pub = t.insert(Tcp, 8443, 5555, 1, 443, host, Flag.PUBLISHED | Flag.INBOUND, TcpState.SynIn, 700, 0);
  t.rec[ids[3] * REC_WORDS + R.PKTS_OUT] = 42;
  t.rec[ids[3] * REC_WORDS + R.BYTES_IN] = 0xd4a51000;
  t.bytesHi[ids[3] * 2 + 1] = 0xe8; // 1e12 = 0xe8_d4a51000
  const snap = snapshotTable(t, 510);

  const u = new ConnTable(geometry);
  u.fingerprint = 0xabcdef;
  assert.equal(restoreTable(u, snap, 10_510, markPub(u)), 0);
  assert.equal(u.count, t.count);
  for (let i = 0; i < 50; i++) {
    setKey(u, i + 1, 99);
    const id = u.findInside(Tcp, 3000 + i, 443);
    assert.equal(id, ids[i]);
    assert.equal(u.findOutside(Tcp, 0, 3000 + i, 443), id);
    assert.equal(u.rec[id * REC_WORDS + R.EXPIRY], 600 + i + 10_000, 'expiry rebased by the downtime');
  }
  setKey(u, 77, 5);
  assert.equal(u.findInside(Tcp, 8443, 5555), pub);
  assert.equal(u.findOutside(Tcp, 1, 443, 5555), pub);
  assert.equal(u.rec[ids[3] * REC_WORDS + R.PKTS_OUT], 42);
  assert.equal(u.sessionBytes(ids[3], 1), 1e12);
  assert.equal(u.expire(10_599), 0);
  assert.equal(u.expire(10_600), 1);

  const bad = snap.slice();
  bad[100_000 % bad.length] ^= 0x40;
  assert.throws(() => restoreTable(u, bad, 1, markPub(u)), (e: unknown) => e instanceof SnapshotError && /checksum/.test(e.message));
  assert.throws(() => restoreTable(u, snap.subarray(0, 1000), 1, markPub(u)), SnapshotError);
  assert.throws(() => restoreTable(u, new Uint8Array(4096), 1, markPub(u)), /magic/);
  const other = new ConnTable({ capacity: 512, externalCount: 2 });
  other.fingerprint = 0xabcdef;
  assert.throws(() => restoreTable(other, snap, 1, markPub(other)), /capacity/);
  const wrongConfig = new ConnTable(geometry);
  wrongConfig.fingerprint = 1;
  assert.throws(() => restoreTable(wrongConfig, snap, 1, markPub(wrongConfig)), /external addresses/);
  // The refused restores left u intact.
  assert.equal(u.count, t.count - 1);
});

test('restore drops sessions that contradict the current published ports', () => {
  const geometry = { capacity: 64, externalCount: 1 };
  const t = new ConnTable(geometry);
  t.expire(1);
  add(t, 1, 8080, 9, 1, 8080, 100, Tcp);
  add(t, 2, 22, 9, 1, 22, 100, Tcp);
  const snap = snapshotTable(t, 1);
  const u = new ConnTable(geometry);
  const dropped = restoreTable(u, snap, 1, () => { u.owner[Tcp * 65536 + 8080] = OWNER_PUBLISHED | 3; });
  assert.equal(dropped, 1);
  assert.equal(u.count, 1);
  assert.equal(u.portOwner(0, Tcp, 8080), OWNER_PUBLISHED | 3);
});

test('works at 1,000,000 sessions, under 136 bytes per session (128 before the unreplied lists)', () => {
  const t = new ConnTable({ capacity: 1_000_000, externalCount: 1 });
  assert.ok(t.bytesPerSession <= 136, `bytes per session ${t.bytesPerSession}`);
  t.expire(1);
  let made = 0;
  for (let i = 0; i < 1_000_000; i++) {
    t.key.set([0xfd000000, 0, 0, (i >>> 16) + 1, 0x20010db8, 0, 0, i + 1]);
    const host = t.acquireHost();
    if (host === 0) break;
    if (t.insert(Udp, i & 0xffff, 53, 0, 443, host, Flag.PUBLISHED, 0, 100, 0) > 0) made++;
  }
  assert.equal(made, 1_000_000);
  assert.equal(t.count, 1_000_000);
});

test('from WARM_MIN_SESSIONS on, the table lives in page-aligned kernel memory; smaller ones in a plain buffer', () => {
  const small = new ConnTable({ capacity: 1000, externalCount: 1 });
  assert.equal(small.buffer.byteLength, small.byteLength);
  const geometry = { capacity: WARM_MIN_SESSIONS, externalCount: 1 };
  const t = new ConnTable(geometry);
  assert.equal(t.buffer.byteLength % 65536, 0, 'WebAssembly pages');
  assert.ok(t.buffer.byteLength >= t.byteLength);
  assert.equal(layoutOf(geometry).offsets.rec % 64, 0, 'a record is one cache line');
  assert.ok(add(t, 1, 4000, 2, 53, 4000, 10) > 0);
  // 4,096 external addresses: a 4 GiB port-owner array alone.
  assert.throws(() => new ConnTable({ capacity: WARM_MIN_SESSIONS, externalCount: 4096 }), /4 GiB/);
});

test('warm() loads, for each hash, the slot its lookup compares first (the kernel against a JS probe)', () => {
  const geometry = { capacity: WARM_MIN_SESSIONS, externalCount: 1 };
  const t = new ConnTable(geometry);
  t.expire(1);
  const ids: number[] = [];
  for (let i = 0; i < 40_000; i++) ids.push(add(t, (i % 500) + 1, 1024 + (i >>> 4), i + 7, 443, 1024 + (i >>> 4), 100));
  const slots = new Uint32Array(t.buffer, layoutOf(geometry).offsets.warmSlots, WARM_MAX);
  const firstSlot = (idx: Uint32Array, h: number): number => {
    const mask = t.indexSize - 1;
    for (let j = h & mask; ; j = (j + 1) & mask) if (idx[j] === 0 || idx[j] >>> 24 === h >>> 24) return idx[j];
  };
  let named = 0;
  for (let n = 0; n < WARM_MAX; n++) {
    // Even n: a live session by its inside tuple; odd n: by its outside tuple, or (every 8th) a session that does not exist.
    const i = (n * 151) % ids.length;
    const absent = n % 8 === 7;
    setKey(t, (i % 500) + 1, absent ? 0x7fff0000 + n : i + 7);
    const port = 1024 + (i >>> 4);
    t.warmHashes[n] = n % 2 === 0 ? t.hashInsideKey(Udp, port, 443) : t.hashOutsideKey(Udp, 0, port, 443);
    t.warmDirs[n] = n % 2;
  }
  t.warm(WARM_MAX);
  for (let n = 0; n < WARM_MAX; n++) {
    const want = firstSlot(n % 2 === 0 ? t.idxIn : t.idxOut, t.warmHashes[n]);
    assert.equal(slots[n], want, `packet ${n}`);
    if (n % 8 !== 7 && (slots[n] & 0xffffff) === ids[(n * 151) % ids.length]) named++;
  }
  assert.ok(named > WARM_MAX * 7 / 8 * 0.9, `${named} slots name the session looked up`);
});

test('warm() follows a probe past the last slot of either index back to its first slot', () => {
  const geometry = { capacity: WARM_MIN_SESSIONS, externalCount: 1 };
  const t = new ConnTable(geometry);
  const last = t.indexSize - 1;
  const slots = new Int32Array(t.buffer, layoutOf(geometry).offsets.warmSlots, WARM_MAX);
  // Index slots written directly: the kernel only reads tags and ids.
  for (const [dir, idx] of [[0, t.idxIn], [1, t.idxOut]] as const) {
    idx[last] = (0x11 << 24 | 5) >>> 0; // another key's entry in the home slot
    idx[0] = (0x22 << 24 | (9 + dir)) >>> 0; // the wanted tag, one slot on, after the wrap
    t.warmHashes[dir] = (0x22 << 24 | last) | 0;
    t.warmDirs[dir] = dir;
  }
  t.warm(2);
  assert.equal(slots[0], (0x22 << 24 | 9) | 0, 'idxIn wraps to its own first slot');
  assert.equal(slots[1], (0x22 << 24 | 10) | 0, 'idxOut wraps to its own first slot, not past the end of the table');
  t.idxOut[0] = 0;
  t.warm(2);
  assert.equal(slots[1], 0, 'an empty slot after the wrap ends the probe');
});
