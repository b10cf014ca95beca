// Raw ICMPv6 sockets across a veth pair between two throwaway namespaces:
// our socket in `a` receives NS sent by our socket in `b`, with hop limit,
// destination, source and ifindex per packet; group membership decides
// what a multicast NS reaches.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Icmp6Addr, Icmp6Meta, Icmp6Socket, META_STRIDE, ADDR_STRIDE, PacketRing } from '../../src/io/index.js';
import { Lab, type Netns } from '../support/netns.js';
import { ip6, nsMessage, solicitedNode } from '../support/packets.js';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const prereq = requires({ root: true, tools: ['ip', 'nsenter', 'ndisc6'] });

const A = ip6('2001:db8:10::1');
const B = ip6('2001:db8:10::2');
const UNJOINED = ip6('2001:db8:10::12:3456');

const OUR_MAC = new Uint8Array([2, 0, 0, 0, 0, 0xbb]);

function same(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

interface Got { hopLimit: number; ifindex: number; src: Uint8Array; dst: Uint8Array; type: number; target: Uint8Array }

describe('ICMPv6 socket', prereq, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let rx: Icmp6Socket;
  let tx: Icmp6Socket;
  let aIndex: number;
  let bIndex: number;
  const got: Got[] = [];
  const allTypes = new Set<number>();
  const rxRing = new PacketRing({ slots: 16, slotSize: 1500 });
  const txRing = new PacketRing({ slots: 8, slotSize: 1500 });

  before(() => {
    lab = new Lab();
    a = lab.ns('ia');
    b = lab.ns('ib');
    lab.veth(a, 'a0', b, 'b0');
    lab.addr(a, 'a0', '2001:db8:10::1/64');
    lab.addr(b, 'b0', '2001:db8:10::2/64');
    aIndex = a.ifindex('a0');
    bIndex = b.ifindex('b0');
    rx = a.enter(() => Icmp6Socket.open({ ifname: 'a0', types: [135] }));
    tx = b.enter(() => Icmp6Socket.open({ ifname: 'b0' }));
    rx.setReceiveBuffer(1 << 20);
    rx.onReadable(() => {
      const n = rx.recv(rxRing);
      for (let i = 0; i < n; i++) {
        const m = i * META_STRIDE;
        const ad = i * ADDR_STRIDE;
        const off = rxRing.offset(i);
        allTypes.add(rxRing.buf[off]);
        // Only ours: b's kernel also solicits a for address resolution.
        if (rxRing.lens[i] < 32 || !same(rxRing.buf.subarray(off + 26, off + 32), OUR_MAC)) continue;
        got.push({
          hopLimit: rxRing.meta[m + Icmp6Meta.HOP_LIMIT],
          ifindex: rxRing.meta[m + Icmp6Meta.IFINDEX],
          src: rxRing.addr.slice(ad + Icmp6Addr.SRC, ad + Icmp6Addr.SRC + 16),
          dst: rxRing.addr.slice(ad + Icmp6Addr.DST, ad + Icmp6Addr.DST + 16),
          type: rxRing.buf[off],
          target: rxRing.buf.slice(off + 8, off + 24),
        });
      }
    });
  });
  after(() => {
    rx?.close();
    tx?.close();
    lab?.destroy();
  });

  /** Queues an NS for `target` to `dst` with `hopLimit` in tx slot `i`. */
  function put(i: number, target: Uint8Array, dst: Uint8Array, hopLimit: number): void {
    txRing.lens[i] = nsMessage(txRing.buf, txRing.offset(i), target, OUR_MAC);
    txRing.meta[i * META_STRIDE + Icmp6Meta.HOP_LIMIT] = hopLimit;
    txRing.meta[i * META_STRIDE + Icmp6Meta.IFINDEX] = bIndex;
    txRing.addr.set(B, i * ADDR_STRIDE + Icmp6Addr.SRC);
    txRing.addr.set(dst, i * ADDR_STRIDE + Icmp6Addr.DST);
  }

  test('hop limit, destination, source and ifindex are reported per packet', async () => {
    got.length = 0;
    put(0, A, solicitedNode(A), 255);
    put(1, A, solicitedNode(A), 64);
    put(2, A, A, 255);
    assert.equal(tx.send(txRing, 0, 3), 3);
    await waitFor(() => got.length >= 3, 5000, 'three NS');
    assert.deepEqual(got.map((g) => g.hopLimit), [255, 64, 255]);
    assert.ok(same(got[0].dst, solicitedNode(A)) && same(got[1].dst, solicitedNode(A)), 'multicast destination');
    assert.ok(same(got[2].dst, A), 'unicast destination');
    for (const g of got) {
      assert.equal(g.type, 135);
      assert.equal(g.ifindex, aIndex);
      assert.ok(same(g.src, B), 'source');
      assert.ok(same(g.target, A), 'target');
    }
  });

  test('hop limit -1 falls back to the socket default of 255', async () => {
    got.length = 0;
    put(0, A, A, -1);
    assert.equal(tx.send(txRing, 0, 1), 1);
    await waitFor(() => got.length >= 1, 5000, 'the NS');
    assert.equal(got[0].hopLimit, 255);
  });

  test('a joined group delivers, an unjoined one does not', async () => {
    const group = solicitedNode(UNJOINED);
    got.length = 0;
    // The unicast NS behind it is a marker: same link, same order.
    put(0, UNJOINED, group, 255);
    put(1, A, A, 255);
    assert.equal(tx.send(txRing, 0, 2), 2);
    await waitFor(() => got.length >= 1, 5000, 'the marker');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 1, 'the NS to an unjoined group was delivered');
    assert.ok(same(got[0].target, A));

    rx.join(group, aIndex);
    got.length = 0;
    assert.equal(tx.send(txRing, 0, 2), 2);
    await waitFor(() => got.length >= 2, 5000, 'the group NS and the marker');
    assert.ok(same(got[0].dst, group) && same(got[0].target, UNJOINED));

    rx.leave(group, aIndex);
    got.length = 0;
    assert.equal(tx.send(txRing, 0, 2), 2);
    await waitFor(() => got.length >= 1, 5000, 'the marker');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 1, 'still delivered after leaving the group');
  });

  test('the type filter keeps other ICMPv6 out', async () => {
    got.length = 0;
    // An echo request then a marker NS.
    txRing.lens[0] = 8;
    txRing.buf.fill(0, txRing.offset(0), txRing.offset(0) + 8);
    txRing.buf[txRing.offset(0)] = 128;
    txRing.addr.set(A, Icmp6Addr.DST);
    put(1, A, A, 255);
    assert.equal(tx.send(txRing, 0, 2), 2);
    await waitFor(() => got.length >= 1, 5000, 'the marker');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([...allTypes], [135]);
  });

  test('an NS from an independent sender (ndisc6) arrives with hop limit 255 from its link-local source', async () => {
    const probe = a.enter(() => Icmp6Socket.open({ ifname: 'a0', types: [135] }));
    const ring = new PacketRing({ slots: 8, slotSize: 1500 });
    const seen: Array<{ hopLimit: number; src: Uint8Array; scope: number }> = [];
    probe.onReadable(() => {
      const n = probe.recv(ring);
      for (let i = 0; i < n; i++) {
        seen.push({
          hopLimit: ring.meta[i * META_STRIDE + Icmp6Meta.HOP_LIMIT],
          src: ring.addr.slice(i * ADDR_STRIDE, i * ADDR_STRIDE + 16),
          scope: ring.meta[i * META_STRIDE + Icmp6Meta.SCOPE_ID],
        });
      }
    });
    try {
      const run = await b.run('ndisc6', ['-1', '-r', '1', '-w', '1000', '2001:db8:10::1', 'b0'], 10_000);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      await waitFor(() => seen.length >= 1, 5000, 'the ndisc6 NS');
      assert.equal(seen[0].hopLimit, 255);
      assert.deepEqual([...seen[0].src.subarray(0, 2)], [0xfe, 0x80]);
      assert.equal(seen[0].scope, aIndex);
    } finally {
      probe.close();
    }
  });

  test('a message longer than the slot is counted and dropped', async () => {
    const small = new PacketRing({ slots: 4, slotSize: 16 });
    const probe = a.enter(() => Icmp6Socket.open({ ifname: 'a0', types: [135] }));
    try {
      put(0, A, A, 255);
      assert.equal(tx.send(txRing, 0, 1), 1);
      await waitFor(() => (probe.recv(small), probe.counters[2] === 1), 5000, 'the oversize count');
    } finally {
      probe.close();
    }
  });
});
