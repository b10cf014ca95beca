// Fragments follow their first fragment: fragmented DNS answers coming in,
// a three-fragment TCP segment going out, in order and out of order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66, NatBatch, DIR_IN } from '../../src/nat/nat66.js';
import { NatDrop } from '../../src/nat/drop.js';
import { Verdict, NatCounter } from '../../src/nat/types.js';
import { updateChecksum, updateChecksumWord } from '../../src/wire/checksum.js';
import { loadPackets, addr, l4Of, checksumOk, equalBytes, diffAt, udpPacket, srcText, dstText } from './support.js';

/** The fragments the last translate call released, copied out as the data path does. */
function released(nat: Nat66): Uint8Array[] {
  const out: Uint8Array[] = [];
  const room = 4096;
  for (let k = 0; k < nat.releasedFragments; k++) {
    const buf = new Uint8Array(room);
    out.push(buf.slice(0, nat.copyReleasedFragment(k, buf, 0, room)));
  }
  return out;
}

const EXT = '2001:db8:ffff::1';
const EXT_BYTES = addr(EXT);

/** Reassemble fragments (any order) into one unfragmented packet, to check the L4 checksum over the whole datagram. */
function reassemble(frags: Uint8Array[]): Uint8Array {
  const parts = frags.map((f) => ({ f, i: l4Of(f)! })).sort((a, b) => a.i.fragmentOffset - b.i.fragmentOffset);
  const first = parts[0];
  const fh = first.i.l4 - 8; // the Fragment header sits just before the fragment data
  const total = parts.reduce((n, x) => n + x.i.l4len, 0);
  const out = new Uint8Array(fh + total);
  out.set(first.f.subarray(0, fh), 0);
  const payload = fh - 40 + total;
  out[4] = payload >> 8;
  out[5] = payload;
  // The byte that named the Fragment header now names the upper layer.
  if (fh === 40) out[6] = first.f[40];
  let at = fh;
  for (const { f, i } of parts) {
    out.set(f.subarray(i.l4, i.l4 + i.l4len), at);
    at += i.l4len;
  }
  return out;
}

/**
 * The world's view of a fragment of a flow: `side` = 24 rewrites the
 * destination (an answer to our external address), 8 the source. Only the
 * first fragment holds the port and the checksum, updated by RFC 1624.
 */
function worldFragment(f: Uint8Array, side: 8 | 24, port?: number): Uint8Array {
  const q = f.slice();
  const i = l4Of(q)!;
  const csumAt = i.protocol === 17 ? i.l4 + 6 : i.l4 + 16;
  if (i.firstFragment) updateChecksum(q, csumAt, q, side, EXT_BYTES, 0, 16, i.protocol === 17);
  q.set(EXT_BYTES, side);
  if (i.firstFragment && port !== undefined) {
    const at = side === 24 ? i.l4 + 2 : i.l4;
    updateChecksumWord(q, csumAt, (q[at] << 8) | q[at + 1], port, i.protocol === 17);
    q[at] = port >> 8;
    q[at + 1] = port;
  }
  return q;
}

function dnsSetup(range?: [number, number]) {
  const packets = loadPackets('zeek__ipv6-fragmented-dns.pcap');
  const client = srcText(packets[0]);
  const nat = new Nat66({
    networks: [{ name: 'n', insideSubnets: [`${client}/128`], externalAddresses: [EXT], portRange: range }],
    capacity: 64, seed: 5,
  });
  const answer = packets.slice(5, 8);
  const lone = packets[3];
  // The query the fragmented answer replies to.
  const query = packets[4].slice();
  assert.equal(nat.translate(query, 0, query.length, 1000), Verdict.Forward);
  const extPort = (query[40] << 8) | query[41];
  return { nat, answer, lone, extPort, client };
}

for (const range of [undefined, [45000, 45999] as [number, number]]) {
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]]) {
    test(`fragmented DNS answer, order ${order.join(',')}${range ? ', port rewritten' : ''}: every fragment restored`, () => {
      const { nat, answer, extPort } = dnsSetup(range);
      assert.ok(checksumOk(reassemble(answer)), 'the captured answer is consistent');
      const results: Uint8Array[] = [];
      let held = 0;
      for (const k of order) {
        const buf = worldFragment(answer[k], 24, extPort);
        const v = nat.translate(buf, 0, buf.length, 1100);
        if (v === Verdict.Held) { held++; continue; }
        assert.equal(v, Verdict.Forward);
        results.push(buf);
        results.push(...released(nat));
      }
      assert.equal(held, order.indexOf(0), 'fragments before the first one are held');
      assert.equal(nat.counters[NatCounter.FragmentsReleased], held);
      assert.equal(results.length, 3);
      for (const r of results) {
        const i = l4Of(r)!;
        const want = answer.find((a) => l4Of(a)!.fragmentOffset === i.fragmentOffset)!;
        assert.ok(equalBytes(r, want), diffAt(r, want));
      }
      assert.ok(checksumOk(reassemble(results)));
    });
  }
}

test('a later fragment whose first fragment never comes is held, then dropped after the fragment timer', () => {
  const { nat, lone } = dnsSetup();
  const buf = worldFragment(lone, 24);
  assert.equal(nat.translate(buf, 0, buf.length, 2000), Verdict.Held);
  nat.expire(3999);
  assert.equal(nat.drops[NatDrop.FragmentTimeout], 0);
  nat.expire(4000);
  assert.equal(nat.drops[NatDrop.FragmentTimeout], 1);
});

test('later fragments follow for the fragment timer (>= 2 s), not forever', () => {
  const { nat, answer, extPort } = dnsSetup();
  const first = worldFragment(answer[0], 24, extPort);
  assert.equal(nat.translate(first, 0, first.length, 10_000), Verdict.Forward);
  const second = worldFragment(answer[1], 24);
  assert.equal(nat.translate(second.slice(), 0, second.length, 11_999), Verdict.Forward);
  assert.equal(nat.translate(second.slice(), 0, second.length, 12_001), Verdict.Held);
});

test('hold buffer: bounded, preallocated; full means dropped and counted', () => {
  const packets = loadPackets('zeek__ipv6-fragmented-dns.pcap');
  const client = srcText(packets[0]);
  const nat = new Nat66({
    networks: [{ name: 'n', insideSubnets: [`${client}/128`], externalAddresses: [EXT] }],
    fragmentHoldSlots: 2, fragmentHoldBytes: 1500,
  });
  const lone = worldFragment(packets[3], 24);
  assert.equal(nat.translate(lone.slice(), 0, lone.length, 1), Verdict.Held);
  assert.equal(nat.translate(lone.slice(), 0, lone.length, 1), Verdict.Held);
  assert.equal(nat.translate(lone.slice(), 0, lone.length, 1), -NatDrop.FragmentHoldFull);
  const big = worldFragment(packets[6], 24);
  const nat2 = new Nat66({ networks: [{ name: 'n', insideSubnets: [`${client}/128`], externalAddresses: [EXT] }], fragmentHoldBytes: 1000 });
  assert.equal(nat2.translate(big, 0, big.length, 1), -NatDrop.FragmentHoldFull, 'larger than a slot');
});

for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
  test(`three-fragment TCP segment going out (frag-ip-tcp), order ${order.join(',')}`, () => {
    const frags = loadPackets('suricata-verify__frag-ip-tcp.pcap');
    assert.equal(frags.length, 3);
    assert.ok(checksumOk(reassemble(frags)), 'the captured segment is consistent');
    const nat = new Nat66({
      networks: [{ name: 'lo', insideSubnets: ['::1/128'], externalAddresses: [EXT], portRange: [50000, 50999] }], seed: 9,
    });
    const out: Uint8Array[] = [];
    for (const k of order) {
      const buf = frags[k].slice();
      const v = nat.translate(buf, 0, buf.length, 500);
      if (v === Verdict.Held) continue;
      assert.equal(v, Verdict.Forward);
      out.push(buf);
      out.push(...released(nat));
    }
    assert.equal(out.length, 3);
    const session = nat.listSessions()[0];
    assert.ok(session.externalPort >= 50000 && session.externalPort <= 50999);
    for (const r of out) {
      assert.equal(srcText(r), EXT);
      assert.equal(dstText(r), '::1');
      const i = l4Of(r)!;
      const orig = frags.find((f) => l4Of(f)!.fragmentOffset === i.fragmentOffset)!;
      const want = worldFragment(orig, 8, session.externalPort);
      assert.ok(equalBytes(r, want), diffAt(r, want));
    }
    assert.ok(checksumOk(reassemble(out)), 'the reassembled translated segment checks out');
  });
}

test('a first fragment too short for the ports and checksum is dropped', () => {
  const [first] = loadPackets('suricata-verify__frag-ip-tcp.pcap');
  const tiny = first.slice(0, 48 + 12);
  tiny[4] = 0; tiny[5] = 20;
  const nat = new Nat66({ networks: [{ name: 'lo', insideSubnets: ['::1/128'], externalAddresses: [EXT] }] });
  assert.equal(nat.translate(tiny, 0, tiny.length, 1), -NatDrop.TinyFragment);
  const u = udpPacket('::1', 1, '2001:db8::1', 2);
  assert.equal(nat.translate(u, 0, u.length, 1), Verdict.Forward);
});

test('translateBatch: fragments released mid-batch are all listed after it', () => {
  const { nat, answer, extPort } = dnsSetup();
  const SLOT = 2048;
  const ring = new Uint8Array(4 * SLOT);
  const offs = Int32Array.from([0, SLOT, 2 * SLOT, 3 * SLOT]);
  const lens = new Int32Array(4);
  const order = [2, 1, 0];
  order.forEach((k, j) => {
    const f = worldFragment(answer[k], 24, extPort);
    ring.set(f, offs[j]);
    lens[j] = f.length;
  });
  const other = udpPacket('2001:db8::99', 1, EXT, 9);
  ring.set(other, offs[3]);
  lens[3] = other.length;
  const batch = new NatBatch(4);
  for (let j = 0; j < 4; j++) batch.add(offs[j], lens[j]);
  batch.now = 1100;
  nat.translateBatch(ring, batch);
  const verdicts = batch.verdicts;
  assert.deepEqual([...verdicts.subarray(0, 3)], [Verdict.Held, Verdict.Held, Verdict.Forward]);
  assert.ok(verdicts[3] < 0, 'the unrelated packet is dropped');
  assert.equal(nat.releasedFragments, 2, 'both held fragments are still listed after the batch');
  assert.equal(nat.copyReleasedFragment(0, new Uint8Array(64), 0, 64), -1, 'a fragment longer than the room is not copied');
  const got = [ring.slice(offs[2], offs[2] + lens[2]), ...released(nat)];
  for (const g of got) {
    const want = answer.find((a) => l4Of(a)!.fragmentOffset === l4Of(g)!.fragmentOffset)!;
    assert.ok(equalBytes(g, want), diffAt(g, want));
  }
  // The next call recycles them.
  batch.count = 0;
  batch.now = 1101;
  nat.translateBatch(ring, batch);
  assert.equal(nat.releasedFragments, 0);
});
