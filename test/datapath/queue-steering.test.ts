// The multi-queue steering program, run in the kernel on test packets
// (BPF_PROG_TEST_RUN): its decisions as queue-steering.ts describes them, and
// the property the workers rely on — an outbound packet translated by the
// engine shard it was steered to has its reply steered back to that shard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requires } from '../support/prereq.js';
import { loadSteering, workerOfAddress } from '../../src/datapath/queue-steering.js';
import { Nat66 } from '../../src/nat/nat66.js';
import { addressWords, shardSlice, type NatConfig } from '../../src/nat/engine-config.js';
import { Verdict } from '../../src/nat/types.js';
import type { SocketFilterProgram } from '../../src/io/ebpf.js';
import { addr, echoPacket, portsOf, rewrite, tcpPacket, udpPacket, TCP_ACK, TCP_SYN } from '../nat/support.js';

const req = requires({ root: true });

const EXT = '2001:db8:1::5';
const WEB = '2001:db8:1::80';
const REMOTE = '2001:db8:99::1';
const C1 = 'fd66:1::10';
const CONFIG: NatConfig = {
  networks: [
    { name: 'web', insideSubnets: ['fd66:1::/64'], externalAddresses: [EXT, WEB], portRange: [1024, 65535] },
    { name: 'lab', insideSubnets: ['fd66:2::/64'], mode: 'nptv6', externalPrefix: '2001:db8:2::/64' },
  ],
  published: [
    { protocol: 'tcp', externalPort: 8080, insideAddress: C1, insidePort: 80 },
    { protocol: 'udp', externalAddress: EXT, externalPort: 8080, insideAddress: 'fd66:1::11', insidePort: 53 },
  ],
  capacity: 4096,
  seed: 1,
};

function workerOf(text: string, workers: number): number {
  const w = new Uint32Array(4);
  addressWords(addr(text), w, 0);
  return workerOfAddress(w, 0, workers);
}

function withProgram(workers: number, body: (p: SocketFilterProgram) => void): void {
  const program = loadSteering(CONFIG, workers);
  try {
    body(program);
  } finally {
    program.close();
  }
}

/** A fragment of UDP datagram `id` from `src` to `dst`: the first (with the UDP header and `dport`) or a later one. */
function fragment(src: string, dst: string, id: number, first: { dport: number } | undefined): Uint8Array {
  const p = new Uint8Array(40 + 8 + 16);
  p[0] = 0x60;
  p[5] = 24;
  p[6] = 44;
  p[7] = 64;
  p.set(addr(src), 8);
  p.set(addr(dst), 24);
  p[40] = 17;
  if (first === undefined) {
    p[42] = 0x05; // offset 160 bytes
  } else {
    p[43] = 1; // more fragments
    p[48] = 0x30;
    p[50] = first.dport >> 8;
    p[51] = first.dport & 0xff;
  }
  new DataView(p.buffer).setUint32(44, id);
  return p;
}

function laterFragment(src: string, dst: string, id = 7): Uint8Array {
  return fragment(src, dst, id, undefined);
}

/** A Packet Too Big from a router for `quoted` (an outbound packet as it left). */
function packetTooBig(router: string, quoted: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + 8 + quoted.length);
  p[0] = 0x60;
  p[4] = (8 + quoted.length) >> 8;
  p[5] = 8 + quoted.length;
  p[6] = 58;
  p[7] = 64;
  p.set(addr(router), 8);
  p.set(quoted.subarray(8, 24), 24);
  p[40] = 2;
  p[46] = 0x05;
  p[47] = 0x00;
  p.set(quoted, 48);
  return p;
}

test('steering: outbound by the inside address, inbound by the port slice, published ports to their container', req, () => {
  for (const workers of [2, 3, 8]) {
    withProgram(workers, (prog) => {
      for (let host = 1; host < 40; host++) {
        const inside = `fd66:1::${host.toString(16)}`;
        const want = workerOf(inside, workers);
        // Every port and protocol of one container, and its echo: one worker.
        assert.equal(prog.testRun(tcpPacket(inside, 40000 + host, REMOTE, 443, TCP_SYN)), want, inside);
        assert.equal(prog.testRun(udpPacket(inside, 53 + host, REMOTE, 53)), want);
        assert.equal(prog.testRun(echoPacket(inside, REMOTE, 128, host)), want);
        assert.equal(prog.testRun(laterFragment(inside, REMOTE)), want, 'its later fragments too');
      }
      for (const port of [1024, 5000, 33000, 65535]) {
        const slice = Array.from({ length: workers }, (_, w) => shardSlice(1024, 65535, w, workers)).findIndex(([lo, hi]) => port >= lo && port <= hi);
        assert.equal(prog.testRun(tcpPacket(REMOTE, 443, EXT, port, TCP_ACK)), slice, `port ${port}`);
        assert.equal(prog.testRun(udpPacket(REMOTE, 53, WEB, port)), slice);
      }
      // Published: TCP 8080 on every address is C1's; UDP 8080 on EXT only is fd66:1::11's.
      assert.equal(prog.testRun(tcpPacket(REMOTE, 5555, EXT, 8080, TCP_SYN)), workerOf(C1, workers));
      assert.equal(prog.testRun(tcpPacket(REMOTE, 5555, WEB, 8080, TCP_SYN)), workerOf(C1, workers));
      assert.equal(prog.testRun(udpPacket(REMOTE, 5555, EXT, 8080)), workerOf('fd66:1::11', workers));
      // Hairpin: from inside to an external address goes by the port too.
      assert.equal(prog.testRun(tcpPacket('fd66:1::99', 5555, EXT, 8080, TCP_SYN)), workerOf(C1, workers));
      // A port outside every range, a later inbound fragment whose first never came: worker 0.
      assert.equal(prog.testRun(tcpPacket(REMOTE, 443, EXT, 22, TCP_SYN)), 0);
      assert.equal(prog.testRun(laterFragment(REMOTE, EXT)), 0);
      // Later fragments follow their first one (remembered by source and identification).
      const last = shardSlice(1024, 65535, workers - 1, workers)[0];
      assert.equal(prog.testRun(fragment(REMOTE, EXT, 99, { dport: last })), workers - 1);
      assert.equal(prog.testRun(laterFragment(REMOTE, EXT, 99)), workers - 1);
      assert.equal(prog.testRun(laterFragment('2001:db8:99::2', EXT, 99)), 0, 'another source, another datagram');
      assert.equal(prog.testRun(fragment(REMOTE, EXT, 100, { dport: 8080 })), workerOf('fd66:1::11', workers), 'a published port too');
      assert.equal(prog.testRun(laterFragment(REMOTE, EXT, 100)), workerOf('fd66:1::11', workers));
      // NPTv6 inbound (stateless): spread by the destination address.
      assert.equal(prog.testRun(udpPacket(REMOTE, 53, '2001:db8:2::7', 999)), workerOf('2001:db8:2::7', workers));
    });
  }
});

test('steering: a reply (and an ICMPv6 error about the flow) meets the shard that translated the packet out', req, () => {
  const workers = 2;
  const shards = [0, 1].map((index) => new Nat66({ ...CONFIG, shard: { index, count: workers } }));
  withProgram(workers, (prog) => {
    let now = 1_000_000;
    const seen = new Set<number>();
    for (let host = 1; host <= 64; host++) {
      const inside = `fd66:1::${(0x100 + host).toString(16)}`;
      for (const packet of [udpPacket(inside, 5000 + host, REMOTE, 53), tcpPacket(inside, 1000 + host, REMOTE, 443, TCP_SYN), echoPacket(inside, REMOTE, 128, host)]) {
        const w = prog.testRun(packet);
        seen.add(w);
        const out = packet.slice();
        assert.ok(shards[w].translate(out, 0, out.length, now++) >= Verdict.Forward, `shard ${w} forwards ${inside}`);
        const p = portsOf(out)!;
        const echo = out[6] === 58;
        const external = out.subarray(8, 24).slice();
        const reply = echo ? rewrite(echoPacket(REMOTE, EXT, 129, p.src), { dst: external }) : rewrite(out, { src: addr(REMOTE), dst: external, sport: p.dst, dport: p.src });
        assert.equal(prog.testRun(reply), w, `reply to ${inside} port ${p.src}`);
        if (!echo) assert.equal(prog.testRun(packetTooBig('2001:db8:99::fe', out)), w, 'Packet Too Big about it');
        assert.ok(shards[w].translate(reply, 0, reply.length, now++) >= Verdict.Forward, 'and that shard translates it back');
      }
    }
    assert.deepEqual([...seen].sort(), [0, 1], 'both workers took containers');
  });
});
