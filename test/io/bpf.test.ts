// The NDP filters (src/io/bpf.ts). In a real kernel: a packet socket on one
// end of a veth pair between two throwaway namespaces, frames written raw on
// the other end. NS pass directly, behind one or two extension headers,
// behind a longer chain (whole, for the engine to walk) and as first
// fragments (for the engine to count); later fragments and other ICMPv6 stay
// in the kernel; the two NS-target filters split NS between two sockets.
// Without root: the NS-target filters run in a small classic BPF
// interpreter (the opcodes bpf.ts emits, with the kernel's semantics).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ETH_P_ALL, PacketRing, PacketSocket, icmp6Filter, Icmp6Type } from '../../src/io/index.js';
import { MAX_INSNS, nsTargetFilters } from '../../src/io/bpf.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { Lab, type Netns } from '../support/netns.js';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { IP_OFFSET } from '../../src/ndp/actions.js';
import { ip, naFrame, nsFrame, withExtensionHeaders } from '../ndp/fixtures.js';

const prereq = requires({ root: true, tools: ['ip', 'nsenter'] });

/** Marks a frame with an id in its flow label (outside every checksum). */
function tagged(id: number, frame: Uint8Array): Uint8Array {
  frame[IP_OFFSET + 3] = id;
  return frame;
}

describe('NDP BPF filter in the kernel', prereq, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let tx: PacketSocket;
  const txRing = new PacketRing({ slots: 16, slotSize: 2048 });
  const rxRing = new PacketRing({ slots: 32, slotSize: 2048 });

  before(() => {
    lab = new Lab();
    a = lab.ns('fa');
    b = lab.ns('fb');
    lab.veth(a, 'a0', b, 'b0');
    tx = b.enter(() => PacketSocket.open({ ifname: 'b0', ethertype: ETH_P_ALL }));
  });
  after(() => {
    tx?.close();
    lab?.destroy();
  });

  test('NS pass behind extension headers and as first fragments; later fragments and other ICMPv6 do not', async () => {
    const rx = a.enter(() => PacketSocket.open({ ifname: 'a0', filter: icmp6Filter({ types: [Icmp6Type.NS] }), promisc: true }));
    const ns = nsFrame(ip('2001:db8:1::5'));
    const echo = nsFrame(ip('2001:db8:1::5'));
    echo[IP_OFFSET + 40] = 128;
    const { HopByHop: HBH, DestinationOptions: DST, Routing: RT, Fragment: FRAG } = Protocol;
    const frames: [number, Uint8Array, boolean][] = [
      [1, ns, true],
      [2, withExtensionHeaders(ns, [DST]), true],
      [3, withExtensionHeaders(ns, [HBH]), true],
      [4, withExtensionHeaders(ns, [HBH, DST]), true],
      [5, withExtensionHeaders(ns, [RT]), true],
      [6, withExtensionHeaders(ns, [HBH, RT, DST]), true],
      [7, withExtensionHeaders(ns, [FRAG]), true],
      [8, withExtensionHeaders(ns, [DST, FRAG], { more: true }), true],
      [9, withExtensionHeaders(ns, [FRAG], { offset: 8 }), false],
      [10, echo, false],
      [11, withExtensionHeaders(echo, [DST]), false],
      [12, withExtensionHeaders(echo, [FRAG], { more: true }), false],
    ];
    const seen: number[] = [];
    rx.onReadable(() => {
      const n = rx.recv(rxRing);
      for (let i = 0; i < n; i++) seen.push(rxRing.buf[rxRing.offset(i) + IP_OFFSET + 3]!);
    });
    try {
      frames.forEach(([id, f], i) => {
        txRing.buf.set(tagged(id, Uint8Array.from(f)), txRing.offset(i));
        txRing.lens[i] = f.length;
      });
      assert.equal(tx.send(txRing, 0, frames.length), frames.length);
      const want = frames.filter(([, , pass]) => pass).map(([id]) => id);
      await waitFor(() => seen.length >= want.length, 3000, `${want.length} frames`).catch(() => undefined);
      await sleep(100); // a frame that should have been filtered out would be here by now
      assert.deepEqual(seen, want);
    } finally {
      rx.close();
    }
  });

  test('nsTargetFilters on two sockets: each NS reaches one; setFilter moves a target between them on the live sockets', async () => {
    const [t1, t2, other] = [ip('2001:db8:1::1:100'), ip('2001:db8:1::1:101'), ip('2001:db8:1::1:999')];
    const first = nsTargetFilters([t1], { types: [Icmp6Type.NS] });
    const priority = a.enter(() => PacketSocket.open({ ifname: 'a0', filter: first.priority, promisc: true }));
    const rest = a.enter(() => PacketSocket.open({ ifname: 'a0', filter: first.rest, promisc: true }));
    const seen = { priority: [] as number[], rest: [] as number[] };
    const reader = (sock: PacketSocket, into: number[]) => () => {
      const n = sock.recv(rxRing);
      for (let i = 0; i < n; i++) into.push(rxRing.buf[rxRing.offset(i) + IP_OFFSET + 3]!);
    };
    priority.onReadable(reader(priority, seen.priority));
    rest.onReadable(reader(rest, seen.rest));
    const round = async (ids: number[]): Promise<void> => {
      seen.priority.length = 0;
      seen.rest.length = 0;
      [t1, t2, other].forEach((t, i) => {
        txRing.buf.set(tagged(ids[i]!, nsFrame(t)), txRing.offset(i));
        txRing.lens[i] = nsFrame(t).length;
      });
      assert.equal(tx.send(txRing, 0, 3), 3);
      await waitFor(() => seen.priority.length + seen.rest.length >= 3, 3000, '3 frames').catch(() => undefined);
      await sleep(100);
    };
    try {
      await round([1, 2, 3]);
      assert.deepEqual(seen, { priority: [1], rest: [2, 3] });
      const second = nsTargetFilters([t2], { types: [Icmp6Type.NS] });
      priority.setFilter(second.priority);
      rest.setFilter(second.rest);
      await round([4, 5, 6]);
      assert.deepEqual(seen, { priority: [5], rest: [4, 6] });
      // The kernel's checker takes the longest programs too (exact, low 32 bits, cut to fit). A socket is
      // charged for both filters while they swap (optmem_max), so long ones swap through the short pair, as the service does.
      const none = nsTargetFilters([], { types: [Icmp6Type.NS] });
      for (const count of [600, 900, 5000]) {
        const big = nsTargetFilters(addresses(count, 1), { types: [Icmp6Type.NS] });
        priority.setFilter(none.priority);
        priority.setFilter(big.priority);
        rest.setFilter(none.rest);
        rest.setFilter(big.rest);
      }
    } finally {
      priority.close();
      rest.close();
    }
  });
});

/** Runs a struct sock_filter[] (host order) on `frame` as the kernel does: the snap length, 0 = dropped. */
function runBpf(prog: Uint8Array, frame: Uint8Array): number {
  const view = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const count = prog.length / 8;
  assert.ok(count <= MAX_INSNS, `${count} instructions`);
  const mem = new Uint32Array(16);
  let a = 0;
  let x = 0;
  // Loads past the frame's end end the program with 0, as in the kernel.
  const load = (off: number, size: number): number | undefined => {
    if (off + size > frame.length) return undefined;
    let v = 0;
    for (let i = 0; i < size; i++) v = (v * 256) + frame[off + i]!;
    return v >>> 0;
  };
  for (let pc = 0; pc < count; pc++) {
    const code = view.getUint16(pc * 8, little);
    const jt = prog[pc * 8 + 2]!;
    const jf = prog[pc * 8 + 3]!;
    const k = view.getUint32(pc * 8 + 4, little);
    let v: number | undefined;
    switch (code) {
      case 0x20: v = load(k, 4); break;
      case 0x28: v = load(k, 2); break;
      case 0x30: v = load(k, 1); break;
      case 0x48: v = load(x + k, 2); break;
      case 0x50: v = load(x + k, 1); break;
      case 0x01: x = k; continue;
      case 0x61: x = mem[k]!; continue;
      case 0x02: mem[k] = a; continue;
      case 0x04: a = (a + k) >>> 0; continue;
      case 0x0c: a = (a + x) >>> 0; continue;
      case 0x54: a = (a & k) >>> 0; continue;
      case 0x64: a = (a << k) >>> 0; continue;
      case 0x87: a = x; continue;
      case 0x05: pc += k; continue;
      case 0x15: pc += a === k ? jt : jf; continue;
      case 0x25: pc += a > k ? jt : jf; continue;
      case 0x06: return k;
      default: assert.fail(`opcode 0x${code.toString(16)} at ${pc}`);
    }
    if (v === undefined) return 0;
    a = v;
  }
  return assert.fail('ran off the end of the program');
}

/** [priority accepts, rest accepts] for one frame. */
function split(filters: { priority: Uint8Array; rest: Uint8Array }, frame: Uint8Array): [boolean, boolean] {
  return [runBpf(filters.priority, frame) > 0, runBpf(filters.rest, frame) > 0];
}

/** `count` addresses in 2001:db8:<net>::/64 with scattered interface ids. */
function addresses(count: number, net: number, seed = 1): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const t = ip(`2001:db8:${net.toString(16)}::`);
    const h = Math.imul(i + seed, 2654435761) >>> 0;
    t.set([h >>> 24, h >>> 16, h >>> 8, h, 0x02, 0x42, i >> 8, i], 8);
    return t;
  });
}

describe('NS-target filters (interpreted)', () => {
  const rest = { types: [Icmp6Type.NS] };

  test('NS for a target reach the priority filter only; every other NS the rest, NAs and other frames neither', () => {
    const targets = [ip('2001:db8:1::1:100'), ip('2001:db8:1::1:101'), ip('2001:db8:2::5')];
    const f = nsTargetFilters(targets, rest);
    assert.equal(f.match, 'exact');
    assert.equal(f.omitted, 0);
    for (const t of targets) {
      assert.deepEqual(split(f, nsFrame(t)), [true, false], 'NS for a target');
      assert.deepEqual(split(f, nsFrame(t, { src: ip('::') })), [true, false], 'DAD NS for a target');
      assert.deepEqual(split(f, withExtensionHeaders(nsFrame(t), [Protocol.DestinationOptions])), [false, true], 'behind an extension header');
      assert.deepEqual(split(f, naFrame(t)), [false, false], 'NA');
    }
    // Same low 32 bits as a target, other high bits; same high bits, other low; the gaps of the search.
    for (const other of ['2001:db8:3::1:100', '2001:db8:1::2:100', '2001:db8:1::1:0ff', '2001:db8:1::1:102', '2001:db8:2::4', '2001:db8:2::6', '::']) {
      assert.deepEqual(split(f, nsFrame(ip(other))), [false, true], other);
    }
    const echo = nsFrame(targets[0]!);
    echo[IP_OFFSET + 40] = 128;
    assert.deepEqual(split(f, echo), [false, false], 'echo request');
    const arp = nsFrame(targets[0]!);
    arp[12] = 0x08; arp[13] = 0x06;
    assert.deepEqual(split(f, arp), [false, false], 'not IPv6');
    assert.deepEqual(split(f, nsFrame(targets[0]!).subarray(0, 70)), [false, false], 'cut short before the target');
  });

  test('no targets: the priority filter passes nothing, the rest every NS', () => {
    const f = nsTargetFilters([], rest);
    assert.deepEqual(split(f, nsFrame(ip('2001:db8:1::1'))), [false, true]);
    assert.deepEqual(split(f, withExtensionHeaders(nsFrame(ip('2001:db8:1::1')), [Protocol.HopByHop])), [false, true]);
  });

  test('hundreds of targets in several /64s: exact, in a few comparisons each, every frame on one side', () => {
    const targets = [...addresses(150, 1), ...addresses(150, 2), ...addresses(10, 3)];
    const f = nsTargetFilters(targets, rest);
    assert.equal(f.match, 'exact');
    for (const t of targets) assert.deepEqual(split(f, nsFrame(t)), [true, false]);
    for (const t of addresses(300, 1, 7777)) assert.deepEqual(split(f, nsFrame(t)), [false, true]);
  });

  test('more targets than exact matching fits: their low 32 bits, then as many as fit, in the order given', () => {
    const many = addresses(900, 1);
    const low = nsTargetFilters(many, rest);
    assert.equal(low.match, 'low-32');
    assert.equal(low.omitted, 0);
    for (const t of many) assert.deepEqual(split(low, nsFrame(t)), [true, false]);
    const sameLow = Uint8Array.from(many[0]!);
    sameLow[7] ^= 1;
    assert.deepEqual(split(low, nsFrame(sameLow)), [true, false], 'the same low 32 bits: the engine sorts it out');

    const tooMany = addresses(5000, 1);
    const cut = nsTargetFilters(tooMany, rest);
    assert.equal(cut.match, 'low-32');
    assert.ok(cut.omitted > 0 && cut.omitted < 5000, `${cut.omitted} omitted`);
    const kept = tooMany.length - cut.omitted;
    for (const t of tooMany.slice(0, kept)) assert.deepEqual(split(cut, nsFrame(t)), [true, false]);
    for (const t of tooMany.slice(kept)) assert.deepEqual(split(cut, nsFrame(t)), [false, true]);

    // A kernel that refused the long ones: a bound, down to no targets at all.
    const bounded = nsTargetFilters(many, rest, 300);
    assert.ok(bounded.rest.length / 8 <= 300 && bounded.omitted > 0, `${bounded.rest.length / 8} instructions`);
    const none = nsTargetFilters(many, rest, 0);
    assert.equal(none.omitted, many.length);
    assert.deepEqual(split(none, nsFrame(many[0]!)), [false, true]);
  });
});
