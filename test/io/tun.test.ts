// TUN through the addon, in throwaway namespaces: packets cross both ways,
// oversize packets are counted not cut, and vnet super-packets pass through a
// forwarder unchanged. Every suite runs twice: a system call per packet, and
// batches through io_uring (TunOptions.uring), which keep the same contracts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, GsoType, Offload, PacketRing, Tun, VNET_HDR_LEN, monotonicMs, setUp, vnetGsoSize, vnetGsoType } from '../../src/io/index.js';
import { Lab, type Netns } from '../support/netns.js';
import { ip6, udp6Packet } from '../support/packets.js';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { countGcs } from '../support/gc.js';

const prereq = requires({ root: true, tools: ['ip', 'nsenter'], files: ['/dev/net/tun'] });

/** Node source that sends `count` UDP datagrams of `size` bytes to [dst]:port. */
function udpSender(dst: string, port: number, count: number, size: number): string {
  return `
    import dgram from 'node:dgram';
    const sock = dgram.createSocket('udp6');
    const payload = Buffer.alloc(${size}, 0x5a);
    let left = ${count};
    for (let i = 0; i < ${count}; i++) {
      sock.send(payload, ${port}, '${dst}', () => { if (--left === 0) sock.close(); });
    }`;
}

const TRANSFER_BYTES = 32 * 1024 * 1024;

/** Listens once, prints "<bytes> <sha256>" of everything received, exits. */
function tcpSink(addr: string, port: number): string {
  return `
    import net from 'node:net';
    import { createHash } from 'node:crypto';
    const server = net.createServer((s) => {
      const hash = createHash('sha256');
      let bytes = 0;
      s.on('data', (d) => { bytes += d.length; hash.update(d); });
      s.on('end', () => { console.log(bytes + ' ' + hash.digest('hex')); server.close(); });
    });
    server.listen(${port}, '${addr}');`;
}

/** Connects (retrying until the sink listens), sends `bytes` of a pattern, prints "<bytes> <sha256>". */
function tcpSource(addr: string, port: number, bytes: number): string {
  return `
    import net from 'node:net';
    import { createHash } from 'node:crypto';
    const chunk = Buffer.alloc(65536);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7 + (i >> 8)) & 0xff;
    const hash = createHash('sha256');
    function connect(tries) {
      const s = net.connect(${port}, '${addr}');
      s.once('error', (err) => {
        if (err.code === 'ECONNREFUSED' && tries > 0) setTimeout(() => connect(tries - 1), 50);
        else { console.error(err); process.exit(1); }
      });
      s.once('connect', () => {
        let left = ${bytes};
        const pump = () => {
          while (left > 0) {
            const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
            left -= part.length;
            hash.update(part);
            if (!s.write(part)) return void s.once('drain', pump);
          }
          s.end(() => console.log(${bytes} + ' ' + hash.digest('hex')));
        };
        pump();
      });
    }
    connect(100);`;
}

for (const uring of [false, true]) {
const how = uring ? ' (io_uring batches)' : '';

describe(`TUN${how}`, prereq, () => {
  let lab: Lab;
  let ns: Netns;
  let tun: Tun;

  before(() => {
    lab = new Lab();
    ns = lab.ns('tun');
    tun = ns.enter(() => Tun.open({ name: 'sgtun0', mtu: 1400, txqueuelen: 2000, uring }));
    lab.addr(ns, 'sgtun0', '2001:db8:7::1/64');
  });
  after(() => {
    tun?.close();
    lab?.destroy();
  });

  test('opens with the requested settings and link up', () => {
    const [link] = ns.ipJson<Array<{ mtu: number; txqlen: number; flags: string[] }>>('link', 'show', 'dev', 'sgtun0');
    assert.equal(link.mtu, 1400);
    assert.equal(link.txqlen, 2000);
    assert.ok(link.flags.includes('UP'));
    assert.equal(tun.offloads, 0);
    assert.equal(tun.uring, uring, 'io_uring asked for but unavailable (seccomp? kernel < 5.18?)');
  });

  test('a read of an empty queue returns 0 at once', () => {
    const ring = new PacketRing({ slots: 64, slotSize: 2048 });
    while (tun.read(ring) > 0);
    const started = monotonicMs();
    assert.equal(tun.read(ring), 0);
    assert.ok(monotonicMs() - started < 100);
  });

  test('a read stamps the ring with the time on monotonicMs\'s clock, packets or not', () => {
    const ring = new PacketRing({ slots: 4, slotSize: 2048 });
    // Both sides compute milliseconds from CLOCK_MONOTONIC nanoseconds in doubles: allow for rounding.
    const before = monotonicMs() - 1e-3;
    tun.read(ring);
    const after = monotonicMs() + 1e-3;
    assert.ok(ring.stamp[0] >= before && ring.stamp[0] <= after, `stamp ${ring.stamp[0]} not in [${before}, ${after}]`);
  });

  test('kernel -> TUN: a burst queued before the wake-up is read in one batch', async () => {
    const ring = new PacketRing({ slots: 64, slotSize: 2048 });
    // Nothing polls while the burst is queued, so the first wake-up finds all of it.
    const run = await ns.node(udpSender('2001:db8:7::2', 9999, 20, 100));
    assert.equal(run.code, 0, run.stderr);
    const firstBatch: number[] = [];
    let wakeups = 0;
    tun.onReadable(() => {
      wakeups++;
      const n = tun.read(ring);
      for (let i = 0; i < n; i++) {
        const off = ring.offset(i);
        // IPv6, UDP, to 2001:db8:7::2 port 9999
        if (wakeups === 1 && ring.buf[off] >> 4 === 6 && ring.buf[off + 6] === 17 && ring.buf[off + 39] === 2 &&
          ((ring.buf[off + 42] << 8) | ring.buf[off + 43]) === 9999) firstBatch.push(ring.lens[i]);
      }
    });
    await waitFor(() => wakeups >= 1, 5000, 'a wake-up');
    tun.pause();
    assert.equal(firstBatch.length, 20);
    assert.ok(firstBatch.every((len) => len === 40 + 8 + 100));
  });

  test('a queue longer than one io_uring submission (128) is read whole by one call into a big ring', async () => {
    const ring = new PacketRing({ slots: 256, slotSize: 2048 });
    while (tun.read(ring) > 0);
    assert.equal((await ns.node(udpSender('2001:db8:7::2', 9999, 200, 10))).code, 0);
    let udp = 0;
    const n = tun.read(ring);
    for (let i = 0; i < n; i++) if (ring.lens[i] === 40 + 8 + 10 && ring.buf[ring.offset(i) + 6] === 17) udp++;
    assert.equal(udp, 200);
  });

  test('TUN -> kernel: packets written are delivered to a socket in the namespace', async () => {
    const listener = ns.spawn(process.execPath, ['--input-type=module', '-e', `
      import dgram from 'node:dgram';
      const s = dgram.createSocket('udp6');
      s.on('message', (m) => { process.stdout.write(m.toString() + '\\n'); s.close(); });
      s.bind(7777, '2001:db8:7::1', () => process.stdout.write('ready\\n'));`]);
    let out = '';
    listener.stdout?.setEncoding('utf8').on('data', (d: string) => { out += d; });
    await waitFor(() => out.includes('ready'), 5000, 'the listener');
    const ring = new PacketRing({ slots: 4, slotSize: 2048 });
    ring.lens[0] = udp6Packet(ring.buf, ring.offset(0), ip6('2001:db8:7::2'), ip6('2001:db8:7::1'), 1234, 7777,
      new TextEncoder().encode('hello-from-tun'));
    assert.equal(tun.write(ring, 0, 1), 1);
    await waitFor(() => out.includes('hello-from-tun'), 5000, 'the datagram at the listener');
    assert.equal(tun.counters[Counter.TxPackets], 1);
  });

  test('a packet longer than its slot is counted and dropped, the rest still arrive', async () => {
    const ring = new PacketRing({ slots: 8, slotSize: 256 });
    const before = tun.counters[Counter.RxOversize];
    let small = 0;
    tun.onReadable(() => {
      const n = tun.read(ring);
      for (let i = 0; i < n; i++) if (ring.lens[i] === 40 + 8 + 10) small++;
    });
    assert.equal((await ns.node(udpSender('2001:db8:7::2', 9999, 3, 1000))).code, 0);
    assert.equal((await ns.node(udpSender('2001:db8:7::2', 9999, 3, 10))).code, 0);
    await waitFor(() => small === 3, 5000, 'the small datagrams');
    tun.pause();
    assert.equal(tun.counters[Counter.RxOversize] - before, 3);
  });

  test('writes to a TUN whose link is down are counted as TxDown, not thrown', () => {
    const ring = new PacketRing({ slots: 2, slotSize: 256 });
    ring.lens[0] = ring.lens[1] = udp6Packet(ring.buf, ring.offset(0), ip6('2001:db8:7::2'), ip6('2001:db8:7::1'), 1, 9, new Uint8Array(4));
    const down = tun.counters[Counter.TxDown];
    ns.enter(() => setUp('sgtun0', false));
    try {
      assert.equal(tun.write(ring, 0, 2), 2);
      assert.equal(tun.counters[Counter.TxDown] - down, 2);
    } finally {
      ns.enter(() => setUp('sgtun0', true));
    }
  });

  test('reads and writes allocate nothing: 64k packets out through the TUN and forwarded back in', async () => {
    // The namespace forwards what the TUN writes to 2001:db8:9::/64 back out of the TUN.
    ns.sysctl('net.ipv6.conf.all.forwarding', '1');
    ns.ip('-6', 'route', 'replace', '2001:db8:9::/64', 'dev', 'sgtun0');
    const out = new PacketRing({ slots: 64, slotSize: 2048 });
    const back = new PacketRing({ slots: 64, slotSize: 2048 });
    for (let i = 0; i < out.slots; i++) {
      out.lens[i] = udp6Packet(out.buf, out.offset(i), ip6('2001:db8:7::2'), ip6('2001:db8:9::1'), 1, 9, new Uint8Array(18));
    }
    const rounds = 1000;
    let written = 0;
    let read = 0;
    const gcs = countGcs();
    for (let r = 0; r < rounds; r++) {
      written += tun.write(out, 0, out.slots);
      read += tun.read(back);
    }
    const scavenges = await gcs.stop();
    ns.ip('-6', 'route', 'del', '2001:db8:9::/64', 'dev', 'sgtun0');
    ns.sysctl('net.ipv6.conf.all.forwarding', '0');
    assert.equal(written, rounds * out.slots);
    assert.ok(read >= written * 0.9, `only ${read} of ${written} came back`);
    assert.equal(scavenges, 0);
  });

  test('a write of a length beyond the slot is rejected and counted; the batch goes on', () => {
    const ring = new PacketRing({ slots: 2, slotSize: 256 });
    ring.lens[0] = 1000;
    ring.lens[1] = udp6Packet(ring.buf, ring.offset(1), ip6('2001:db8:7::2'), ip6('2001:db8:7::1'), 1, 9, new Uint8Array(4));
    const rejected = tun.counters[Counter.TxRejected];
    assert.equal(tun.write(ring, 0, 2), 2);
    assert.equal(tun.counters[Counter.TxRejected] - rejected, 1);
  });
});

describe(`TUN with vnet headers${how}`, prereq, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let ta: Tun;
  let tb: Tun;

  before(() => {
    lab = new Lab();
    a = lab.ns('va');
    b = lab.ns('vb');
    ta = a.enter(() => Tun.open({ name: 'vt0', vnetHeader: true, uring }));
    tb = b.enter(() => Tun.open({ name: 'vt0', vnetHeader: true, uring }));
    lab.addr(a, 'vt0', '2001:db8:8::1/64');
    lab.addr(b, 'vt0', '2001:db8:8::2/64');
  });
  after(() => {
    ta?.close();
    tb?.close();
    lab?.destroy();
  });

  test('TSO is accepted (USO where the kernel has it)', () => {
    const tso = Offload.CSUM | Offload.TSO4 | Offload.TSO6;
    assert.equal(ta.offloads & tso, tso);
  });

  test('a TCP transfer crosses a forwarder as TCPv6 super-packets, passed through unchanged', async () => {
    const ra = new PacketRing({ slots: 32, slotSize: 65536 + VNET_HDR_LEN, headroom: VNET_HDR_LEN });
    const rb = new PacketRing({ slots: 32, slotSize: 65536 + VNET_HDR_LEN, headroom: VNET_HDR_LEN });
    let supers = 0;
    let maxLen = 0;
    let gsoSize = 0;
    ta.onReadable(() => {
      for (;;) {
        const n = ta.read(ra);
        for (let i = 0; i < n; i++) {
          if (vnetGsoType(ra.buf, ra.offset(i)) === GsoType.TCPV6) {
            supers++;
            gsoSize = vnetGsoSize(ra.buf, ra.offset(i));
          }
          if (ra.lens[i] > maxLen) maxLen = ra.lens[i];
        }
        tb.write(ra, 0, n);
        if (n < ra.slots) break;
      }
    });
    tb.onReadable(() => {
      for (;;) {
        const n = tb.read(rb);
        ta.write(rb, 0, n);
        if (n < rb.slots) break;
      }
    });
    // A byte-exact transfer: iperf3's receiver total stops its clock while the forwarder's rings and
    // socket buffers still hold megabytes in flight, so it under-reports by a varying amount.
    const server = b.node(tcpSink('2001:db8:8::2', 5301));
    const client = await a.node(tcpSource('2001:db8:8::2', 5301, TRANSFER_BYTES));
    const sink = await server;
    ta.pause();
    tb.pause();
    assert.equal(client.code, 0, client.stderr);
    assert.equal(sink.code, 0, sink.stderr);
    assert.equal(sink.stdout.trim(), client.stdout.trim(), 'bytes and SHA-256 at the sink differ from the source');
    assert.ok(supers > 0, 'no TCPv6 GSO packet seen');
    assert.ok(maxLen > 1500, `largest packet only ${maxLen} bytes`);
    assert.ok(gsoSize > 0 && gsoSize <= 1500);
    assert.equal(ta.counters[Counter.TxRejected] + tb.counters[Counter.TxRejected], 0);
  });
});
}
