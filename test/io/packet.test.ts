// AF_PACKET sockets on a veth pair between two throwaway namespaces: the
// classic BPF filter passes NS/NA (also behind a hop-by-hop header) and
// nothing else, optionally only hop limit 255; the Ethernet source is in the
// frame; frames we send are seen by tcpdump on the peer; ALLMULTI is held
// only while the socket lives; receive-buffer drops are counted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ETH_P_ALL, META_STRIDE, PacketMeta, PacketRing, PacketSocket, PktType, icmp6Filter,
} from '../../src/io/index.js';
import { Lab, type Netns } from '../support/netns.js';
import { ip6, nsFrame } from '../support/packets.js';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';

const prereq = requires({ root: true, tools: ['ip', 'nsenter', 'tcpdump'] });

const A = ip6('2001:db8:20::1');
const B = ip6('2001:db8:20::2');

describe('AF_PACKET socket', prereq, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let bMac: Uint8Array;
  let aMac: Uint8Array;
  let tx: PacketSocket;
  const txRing = new PacketRing({ slots: 8, slotSize: 2048 });
  const rxRing = new PacketRing({ slots: 16, slotSize: 2048 });

  before(() => {
    lab = new Lab();
    a = lab.ns('pa');
    b = lab.ns('pb');
    lab.veth(a, 'a0', b, 'b0');
    lab.addr(a, 'a0', '2001:db8:20::1/64');
    lab.addr(b, 'b0', '2001:db8:20::2/64');
    aMac = a.mac('a0');
    bMac = b.mac('b0');
    tx = b.enter(() => PacketSocket.open({ ifname: 'b0', ethertype: ETH_P_ALL }));
  });
  after(() => {
    tx?.close();
    lab?.destroy();
  });

  /** Frames received on `sock` within `ms` (reads until quiet). */
  async function collect(sock: PacketSocket, want: number, ms: number): Promise<Array<{ frame: Uint8Array; pkttype: number; ifindex: number }>> {
    const out: Array<{ frame: Uint8Array; pkttype: number; ifindex: number }> = [];
    sock.onReadable(() => {
      const n = sock.recv(rxRing);
      for (let i = 0; i < n; i++) {
        out.push({
          frame: rxRing.buf.slice(rxRing.offset(i), rxRing.offset(i) + rxRing.lens[i]),
          pkttype: rxRing.meta[i * META_STRIDE + PacketMeta.PKTTYPE],
          ifindex: rxRing.meta[i * META_STRIDE + PacketMeta.IFINDEX],
        });
      }
    });
    await waitFor(() => out.length >= want, ms, `${want} frames`).catch(() => undefined);
    sock.pause();
    return out;
  }

  function sendFrames(frames: Array<(buf: Uint8Array, off: number) => number>): void {
    frames.forEach((build, i) => { txRing.lens[i] = build(txRing.buf, txRing.offset(i)); });
    assert.equal(tx.send(txRing, 0, frames.length), frames.length);
  }

  test('NS frames arrive whole with the Ethernet source; other IPv6 is filtered out in the kernel', async () => {
    const rx = a.enter(() => PacketSocket.open({ ifname: 'a0', filter: icmp6Filter(), allmulti: true }));
    try {
      const pending = collect(rx, 3, 3000);
      sendFrames([
        (buf, off) => nsFrame(buf, off, bMac, B, A, 255),
        (buf, off) => nsFrame(buf, off, bMac, B, A, 255, true),
        (buf, off) => {
          // An ICMPv6 echo request in the same shape: must not pass.
          const len = nsFrame(buf, off, bMac, B, A, 255);
          buf[off + 54] = 128;
          return len;
        },
        (buf, off) => nsFrame(buf, off, bMac, B, A, 64),
      ]);
      const got = await pending;
      assert.equal(got.length, 3, `got ${got.length} frames`);
      for (const g of got) {
        assert.deepEqual([...g.frame.subarray(6, 12)], [...bMac], 'Ethernet source');
        assert.equal(g.pkttype, PktType.MULTICAST);
        assert.equal(g.ifindex, rx.ifindex);
      }
      assert.equal(got[0].frame[54], 135);
      assert.equal(got[1].frame[20], 0, 'hop-by-hop header kept');
      assert.equal(got[1].frame[62], 135);
      assert.equal(got[2].frame[21], 64);
    } finally {
      rx.close();
    }
  });

  test('requireHopLimit255 drops other hop limits in the kernel', async () => {
    const rx = a.enter(() => PacketSocket.open({ ifname: 'a0', filter: icmp6Filter({ requireHopLimit255: true }) }));
    try {
      const pending = collect(rx, 2, 1000);
      sendFrames([
        (buf, off) => nsFrame(buf, off, bMac, B, A, 64),
        (buf, off) => nsFrame(buf, off, bMac, B, A, 255),
        (buf, off) => nsFrame(buf, off, bMac, B, A, 254, true),
      ]);
      const got = await pending;
      assert.equal(got.length, 1);
      assert.equal(got[0].frame[21], 255);
    } finally {
      rx.close();
    }
  });

  test('a full receive buffer: takeDrops counts the frames the kernel dropped, once (reading resets it)', async () => {
    const rx = a.enter(() => PacketSocket.open({ ifname: 'a0', filter: icmp6Filter(), allmulti: true }));
    try {
      // The kernel's floor (a few KB): a handful of frames fill it while nobody reads.
      rx.setReceiveBuffer(1);
      assert.equal(rx.takeDrops(), 0);
      for (let batch = 0; batch < 25; batch++) sendFrames(Array.from({ length: 8 }, () => (buf: Uint8Array, off: number) => nsFrame(buf, off, bMac, B, A, 255)));
      let drops = 0;
      await waitFor(() => (drops += rx.takeDrops()) > 100, 2000, 'drops counted').catch(() => undefined);
      assert.ok(drops > 100 && drops < 200, `${drops} of 200 frames dropped`);
      assert.equal(rx.takeDrops(), 0, 'read once, the count starts again');
    } finally {
      rx.close();
    }
  });

  test('ALLMULTI and PROMISC are held by the socket and released when it closes', () => {
    // The kernel counts these references (ip -d link: allmulti N, promiscuity N); SIOCGIFFLAGS does not show them.
    const counts = (): [number, number] => {
      const [l] = a.ipJson<Array<{ allmulti: number; promiscuity: number }>>('-d', 'link', 'show', 'dev', 'a0');
      return [l.allmulti, l.promiscuity];
    };
    assert.deepEqual(counts(), [0, 0]);
    const rx = a.enter(() => PacketSocket.open({ ifname: 'a0', allmulti: true, promisc: true }));
    assert.deepEqual(counts(), [1, 1]);
    rx.close();
    assert.deepEqual(counts(), [0, 0]);
  });

  test('a frame we send is seen by tcpdump on the peer', async () => {
    const sender = a.enter(() => PacketSocket.open({ ifname: 'a0' }));
    const dump = b.spawn('tcpdump', ['-i', 'b0', '-nn', '-e', '-l', '-c', '1', 'ether proto 0x88b5']);
    let out = '';
    let err = '';
    dump.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; });
    dump.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const exited = new Promise<number | null>((r) => dump.once('exit', (code) => r(code)));
    try {
      await waitFor(() => err.includes('listening on'), 5000, 'tcpdump to start');
      const ring = new PacketRing({ slots: 1, slotSize: 128 });
      const f = ring.buf;
      f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
      f.set(aMac, 6);
      f.set([0x88, 0xb5], 12);
      f.set(new TextEncoder().encode('sixgate-probe'), 14);
      ring.lens[0] = 60;
      // tcpdump may need a moment after "listening on": resend until it has one.
      for (let i = 0; i < 50 && !out.includes('0x88b5'); i++) {
        assert.equal(sender.send(ring, 0, 1), 1);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await exited, 0);
      const mac = [...aMac].map((x) => x.toString(16).padStart(2, '0')).join(':');
      assert.match(out, new RegExp(`${mac} > ff:ff:ff:ff:ff:ff, ethertype Unknown \\(0x88b5\\)|${mac} > ff:ff:ff:ff:ff:ff, ethertype 0x88b5`));
    } finally {
      dump.kill();
      sender.close();
    }
  });
});
