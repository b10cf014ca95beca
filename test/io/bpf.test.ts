// The NDP filter (src/io/bpf.ts) in a real kernel: a packet socket on one end
// of a veth pair between two throwaway namespaces, frames written raw on the
// other end. NS pass directly, behind one or two extension headers, behind a
// longer chain (whole, for the engine to walk) and as first fragments (for
// the engine to count); later fragments and other ICMPv6 stay in the kernel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ETH_P_ALL, PacketRing, PacketSocket, icmp6Filter, Icmp6Type } from '../../src/io/index.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { Lab, type Netns } from '../support/netns.js';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { IP_OFFSET } from '../../src/ndp/actions.js';
import { ip, nsFrame, withExtensionHeaders } from '../ndp/fixtures.js';

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
});
