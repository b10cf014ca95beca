// Reconfiguration in place (Nat66.reconfigure) and migration to a new table
// (Nat66.migrateFrom): the sessions of networks, external addresses and published
// ports that stay are untouched, only those of what went are removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { NatDrop } from '../../src/nat/drop.js';
import { Verdict } from '../../src/nat/types.js';
import { ConfigError } from '../../src/errors.js';
import { META_WORDS } from '../../src/nat/layout.js';
import type { NatConfig, NatNetwork, PublishedPort } from '../../src/nat/engine-config.js';
import { udpPacket, tcpPacket, srcText, dstText, portsOf, TCP_SYN, TCP_ACK } from './support.js';

const EXT1 = '2001:db8:ffff::1';
const EXT2 = '2001:db8:ffff::2';
const EXT3 = '2001:db8:ffff::3';
const A = 'fd00:1::a';
const B = 'fd00:2::b';
const C = 'fd00:3::c';
const R1 = '2001:db8:1::1';

const NET1: NatNetwork = { name: 'one', insideSubnets: ['fd00:1::/64'], externalAddresses: [EXT1] };
const NET2: NatNetwork = { name: 'two', insideSubnets: ['fd00:2::/64'], externalAddresses: [EXT2] };
const NET3: NatNetwork = { name: 'three', insideSubnets: ['fd00:3::/64'], externalAddresses: [EXT3] };
const WEB: PublishedPort = { protocol: 'tcp', externalPort: 8080, insideAddress: A, insidePort: 80 };
const DNS: PublishedPort = { protocol: 'udp', externalPort: 5353, insideAddress: A, insidePort: 53 };

function config(networks: NatNetwork[], published: PublishedPort[] = [], extra: Partial<NatConfig> = {}): NatConfig {
  return { networks, published, capacity: 256, seed: 7, ...extra };
}

/** Opens an outbound UDP session from `inside`; returns the external source it got. */
function open(n: Nat66, inside: string, port: number, now: number): { ext: string; port: number } {
  const p = udpPacket(inside, port, R1, 53);
  assert.equal(n.translate(p, 0, p.length, now), Verdict.Forward);
  return { ext: srcText(p), port: portsOf(p)!.src };
}

/** The reply to a session opened by open(): forwarded to `inside`, or the drop reason. */
function reply(n: Nat66, to: { ext: string; port: number }, now: number): string | number {
  const p = udpPacket(R1, 53, to.ext, to.port);
  const v = n.translate(p, 0, p.length, now);
  return v === Verdict.Forward ? dstText(p) : v;
}

/** A published-port TCP connection from R1, established; returns its remote port. */
function connect(n: Nat66, ext: string, port: number, remPort: number, inside: string, insidePort: number, now: number): void {
  const syn = tcpPacket(R1, remPort, ext, port, TCP_SYN);
  assert.equal(n.translate(syn, 0, syn.length, now), Verdict.Forward);
  const synAck = tcpPacket(inside, insidePort, R1, remPort, TCP_SYN | TCP_ACK);
  assert.equal(n.translate(synAck, 0, synAck.length, now), Verdict.Forward);
}

function push(n: Nat66, ext: string, port: number, remPort: number, now: number): string | number {
  const p = tcpPacket(R1, remPort, ext, port, TCP_ACK);
  const v = n.translate(p, 0, p.length, now);
  return v === Verdict.Forward ? dstText(p) : v;
}

test('adding a network keeps every session and published port, and the new network works at once', () => {
  const n = new Nat66(config([NET1, NET2], [WEB]));
  const a = open(n, A, 4000, 0);
  const b = open(n, B, 4000, 0);
  connect(n, EXT1, 8080, 50000, A, 80, 0);
  const r = n.reconfigure(config([NET3, NET1, NET2], [WEB]));
  assert.deepEqual(r, { sessionsDropped: 0, publishedAdded: 0, publishedRemoved: 0 });
  assert.equal(n.table.count, 3);
  assert.equal(reply(n, a, 1000), A);
  assert.equal(reply(n, b, 1000), B);
  assert.equal(push(n, EXT1, 8080, 50000, 1000), A);
  assert.equal(open(n, C, 4000, 1000).ext, EXT3);
});

test('removing a network removes only its sessions, counted; its external address index is not reused at once', () => {
  const n = new Nat66(config([NET1, NET2, NET3], [WEB]));
  const a = open(n, A, 4000, 0);
  const b = open(n, B, 4000, 0);
  open(n, B, 4001, 0);
  const c = open(n, C, 4000, 0);
  connect(n, EXT1, 8080, 50000, A, 80, 0);
  const r = n.reconfigure(config([NET1, NET3], [WEB]));
  assert.equal(r.sessionsDropped, 2);
  assert.equal(n.table.count, 3);
  assert.equal(reply(n, a, 1000), A);
  assert.equal(reply(n, c, 1000), C);
  assert.equal(push(n, EXT1, 8080, 50000, 1000), A);
  assert.equal(reply(n, b, 1000), -NatDrop.NotExternal);
  // A network replaced by another in one change: the new one's address takes no index the old one's sessions had.
  const n2 = new Nat66(config([NET1, NET2], [], { capacity: 256 }));
  const b2 = open(n2, B, 4000, 0);
  assert.equal(n2.reconfigure(config([NET1, NET3])).sessionsDropped, 1);
  assert.equal(reply(n2, b2, 1000), -NatDrop.NotExternal);
  assert.equal(open(n2, C, 4000, 1000).ext, EXT3);
  const moved: NatNetwork = { ...NET3, externalAddresses: [EXT2] };
  // An address that moves to another network keeps its index but not the old network's sessions.
  const n3 = new Nat66(config([NET1, NET2]));
  const b3 = open(n3, B, 4000, 0);
  assert.equal(n3.reconfigure(config([NET1, moved])).sessionsDropped, 1);
  assert.equal(reply(n3, b3, 1000), -NatDrop.NoMapping);
  assert.equal(open(n3, C, 4000, 1000).ext, EXT2);
});

test('published ports added and removed for another container leave the other sessions alone', () => {
  const n = new Nat66(config([NET1, NET2], [WEB]));
  const a = open(n, A, 4000, 0);
  connect(n, EXT1, 8080, 50000, A, 80, 0);
  const other: PublishedPort = { protocol: 'tcp', externalPort: 9090, insideAddress: B, insidePort: 90 };
  let r = n.reconfigure(config([NET1, NET2], [WEB, other]));
  assert.deepEqual(r, { sessionsDropped: 0, publishedAdded: 1, publishedRemoved: 0 });
  connect(n, EXT2, 9090, 50001, B, 90, 1000);
  assert.equal(n.table.count, 3);
  r = n.reconfigure(config([NET1, NET2], [WEB]));
  assert.deepEqual(r, { sessionsDropped: 1, publishedAdded: 0, publishedRemoved: 1 });
  assert.equal(push(n, EXT2, 9090, 50001, 2000), -NatDrop.NoMapping);
  assert.equal(reply(n, a, 2000), A);
  assert.equal(push(n, EXT1, 8080, 50000, 2000), A);
  // A port republished to another inside address: its old sessions go.
  r = n.reconfigure(config([NET1, NET2], [{ ...WEB, insidePort: 81 }]));
  assert.deepEqual(r, { sessionsDropped: 1, publishedAdded: 1, publishedRemoved: 1 });
  // Publishing over a live dynamic mapping ends it, counted.
  r = n.reconfigure(config([NET1, NET2], [{ ...WEB, insidePort: 81 }, { ...DNS, externalPort: a.port }]));
  assert.deepEqual(r, { sessionsDropped: 1, publishedAdded: 1, publishedRemoved: 0 });
});

test('external addresses of a network removed and added: the others keep their sessions; "::" ports follow', () => {
  const two = { ...NET1, externalAddresses: [EXT1, EXT2] };
  const n = new Nat66(config([two], [WEB]));
  const sessions = [];
  for (let i = 0; i < 8; i++) sessions.push({ inside: `fd00:1::${i + 1}`, got: open(n, `fd00:1::${i + 1}`, 4000, 0) });
  const onExt2 = sessions.filter((x) => x.got.ext === EXT2).length;
  assert.ok(onExt2 > 0 && onExt2 < 8, 'paired pooling spreads the inside addresses');
  let r = n.reconfigure(config([NET1], [WEB]));
  assert.deepEqual(r, { sessionsDropped: onExt2, publishedAdded: 0, publishedRemoved: 1 });
  for (const x of sessions) assert.equal(reply(n, x.got, 1000), x.got.ext === EXT1 ? x.inside : -NatDrop.NotExternal);
  // A new address fits in place (the table has room for a few more).
  const again = { ...NET1, externalAddresses: [EXT1, EXT3] };
  assert.equal(n.needsNewTable(config([again], [WEB])), false);
  r = n.reconfigure(config([again], [WEB]));
  assert.deepEqual(r, { sessionsDropped: 0, publishedAdded: 1, publishedRemoved: 0 });
  for (const x of sessions) if (x.got.ext === EXT1) assert.equal(reply(n, x.got, 2000), x.inside);
  connect(n, EXT3, 8080, 50000, A, 80, 2000);
  // An address beyond the table's room needs a new table.
  const many = Array.from({ length: 4 }, (_, i) => `2001:db8:eeee::${i + 1}`);
  const three = config([{ ...NET1, externalAddresses: [EXT1, EXT3, ...many] }], [WEB]);
  assert.equal(n.needsNewTable(three), true);
  assert.throws(() => n.reconfigure(three), /needs a new table/);
});

test('an invalid configuration changes nothing', () => {
  const n = new Nat66(config([NET1], [WEB]));
  const a = open(n, A, 4000, 0);
  assert.throws(() => n.reconfigure(config([NET1, { ...NET2, insideSubnets: ['nope'] }])), ConfigError);
  assert.throws(() => n.reconfigure(config([NET1], [{ ...WEB, insideAddress: 'fd09::1' }])), /no NAT network/);
  assert.throws(() => n.reconfigure(config([NET1], [WEB], { refuseRate: 0 })), ConfigError);
  assert.equal(reply(n, a, 1000), A);
  assert.equal(n.published.size, 1);
  assert.equal(n.refusals.reply, true);
});

test('refuse: silent applies in place', () => {
  const n = new Nat66(config([NET1]));
  assert.equal(n.refusals.reply, true);
  n.reconfigure(config([NET1], [], { refuse: 'silent' }));
  assert.equal(n.refusals.reply, false);
});

test('a capacity change or more external addresses: a new engine takes every live session', () => {
  const old = new Nat66(config([NET1, NET2], [WEB]));
  const a = open(old, A, 4000, 0);
  const b = open(old, B, 4000, 0);
  connect(old, EXT1, 8080, 50000, A, 80, 0);
  for (let i = 0; i < 100; i++) open(old, A, 10000 + i, 0);
  const bigger = config([NET1, NET2, NET3], [WEB], { capacity: 4096 });
  assert.equal(old.needsNewTable(bigger), true);
  const fresh = new Nat66(bigger, { previous: old.cfg });
  const m = fresh.migrateFrom(old);
  assert.deepEqual(m, { moved: 103, dropped: 0 });
  assert.equal(fresh.table.count, 103);
  assert.equal(reply(fresh, a, 1000), A);
  assert.equal(reply(fresh, b, 1000), B);
  assert.equal(push(fresh, EXT1, 8080, 50000, 1000), A);
  // The mapping is kept: a new session from A:4000 leaves from the same external port.
  const again = udpPacket(A, 4000, '2001:db8:9::9', 53);
  assert.equal(fresh.translate(again, 0, again.length, 1000), Verdict.Forward);
  assert.equal(portsOf(again)!.src, a.port);
  assert.equal(open(fresh, C, 4000, 1000).ext, EXT3);
  // Smaller: what fits moves, the rest is counted.
  const smaller = new Nat66(config([NET1, NET2], [WEB], { capacity: 50 }), { previous: fresh.cfg });
  const s = smaller.migrateFrom(fresh);
  assert.equal(s.moved, 50);
  assert.equal(s.moved + s.dropped, fresh.table.count);
});

test('after reconfigurations, a snapshot a fresh start can restore: holes and order compacted by a migration', () => {
  const n = new Nat66(config([NET1, NET2, NET3], [WEB]));
  const a = open(n, A, 4000, 0);
  const c = open(n, C, 4000, 0);
  connect(n, EXT1, 8080, 50000, A, 80, 0);
  const now = config([NET3, NET1], [WEB]);
  assert.equal(n.staysRestorable(now), false, 'index 1 would be a hole, and a fresh start puts NET3 first');
  assert.equal(new Nat66(config([NET1, NET2])).staysRestorable(config([NET1, NET2, NET3])), true,
    'a network added last keeps the layout a fresh start makes');
  n.reconfigure(now);
  const compact = new Nat66(now);
  assert.deepEqual(compact.migrateFrom(n), { moved: 3, dropped: 0 });
  const restarted = new Nat66(now);
  assert.equal(restarted.restore(compact.snapshot(1000), 1000), 0);
  assert.equal(restarted.table.count, 3);
  assert.equal(reply(restarted, a, 1000), A);
  assert.equal(reply(restarted, c, 1000), C);
  assert.equal(push(restarted, EXT1, 8080, 50000, 1000), A);
  assert.equal(new Nat66(now).staysRestorable(now), true);
});

test('the state file of a table reconfigured in place, or migrated, is adopted by a fresh start', () => {
  const boot = new Uint32Array([1, 2, 3, 4]);
  // What a restart does with the mapped table: check its header, map it, adopt it.
  const restart = (from: Nat66, cfg: NatConfig): Nat66 => {
    from.table.bootId = boot;
    const file = new Uint8Array(from.table.buffer).slice();
    const fresh = new Nat66(cfg, { mappable: true });
    fresh.checkState(new Uint32Array(file.buffer, 0, META_WORDS), 1000, boot);
    new Uint8Array(fresh.table.buffer).set(file);
    assert.equal(fresh.adopt(1000), 0);
    return fresh;
  };
  const n = new Nat66(config([NET1, NET2]), { mappable: true });
  const a = open(n, A, 4000, 0);
  const grown = config([NET1, NET2, NET3]);
  assert.equal(n.staysRestorable(grown), true);
  n.reconfigure(grown);
  const c = open(n, C, 4000, 0);
  let r = restart(n, grown);
  assert.equal(reply(r, a, 1000), A);
  assert.equal(reply(r, c, 1000), C);

  const shrunk = config([NET1, NET3]);
  assert.equal(n.staysRestorable(shrunk), false, 'NET2 removed leaves a hole: a migration');
  const m = new Nat66(shrunk, { mappable: true });
  assert.deepEqual(m.migrateFrom(n), { moved: 2, dropped: 0 });
  r = restart(m, shrunk);
  assert.equal(reply(r, a, 1000), A);
  assert.equal(reply(r, c, 1000), C);
});

test('NPTv6 prefixes change in place; the masquerading sessions beside them stay', () => {
  const npt = (prefix: string): NatNetwork => ({ name: 'npt', mode: 'nptv6', insideSubnets: ['fd00:9::/64'], externalPrefix: prefix });
  const n = new Nat66(config([NET1, npt('2001:db8:66::/64')]));
  const a = open(n, A, 4000, 0);
  const p = udpPacket('fd00:9::5', 4000, R1, 53);
  assert.equal(n.translate(p, 0, p.length, 0), Verdict.Forward);
  assert.match(srcText(p), /^2001:db8:66:/);
  assert.equal(n.reconfigure(config([NET1, npt('2001:db8:67::/64')])).sessionsDropped, 0);
  const q = udpPacket('fd00:9::5', 4000, R1, 53);
  assert.equal(n.translate(q, 0, q.length, 1000), Verdict.Forward);
  assert.match(srcText(q), /^2001:db8:67:/);
  assert.equal(reply(n, a, 1000), A);
  assert.equal(n.reconfigure(config([NET1])).sessionsDropped, 0);
  const r = udpPacket('fd00:9::5', 4000, R1, 53);
  assert.notEqual(n.translate(r, 0, r.length, 2000), Verdict.Forward);
});

test('a draining external address keeps its sessions and published ports; new mappings go to the current one', () => {
  const n = new Nat66(config([{ ...NET1, externalAddresses: [EXT1] }], [WEB]));
  const before = open(n, A, 5000, 1000);
  assert.equal(before.ext, EXT1);
  connect(n, EXT1, 8080, 40000, A, 80, 1000);
  const r = n.reconfigure(config([{ ...NET1, externalAddresses: [EXT2], drainingAddresses: [EXT1] }], [WEB]));
  assert.equal(r.sessionsDropped, 0);
  assert.equal(reply(n, before, 2000), A);
  assert.equal(push(n, EXT1, 8080, 40000, 2000), A);
  for (let port = 6000; port < 6020; port++) assert.equal(open(n, A, port, 2000).ext, EXT2);
  // The old prefix removed: its sessions end, the new ones stay.
  const later = open(n, A, 7000, 2000);
  const gone = n.reconfigure(config([{ ...NET1, externalAddresses: [EXT2] }], [WEB]));
  assert.equal(gone.sessionsDropped, 2);
  assert.equal(reply(n, later, 3000), A);
});
