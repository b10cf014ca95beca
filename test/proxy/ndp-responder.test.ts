// The in-kernel NDP responder (src/proxy/ndp-responder.ts), run by the
// kernel on fixture frames (BPF_PROG_TEST_RUN): an NS for a target in its
// map comes back as exactly the frame the engine sends for it (R from the
// configuration, from the target or the link-local address, to the
// solicitor's SLLA, checksum included), and every case it must leave to
// user space comes back untouched with TcxVerdict.NEXT.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TcxVerdict } from '../../src/io/ebpf.js';
import { MAX_TARGETS, NdpResponder } from '../../src/proxy/ndp-responder.js';
import { NaFlag } from '../../src/wire/ndp.js';
import { verifyL4Checksum } from '../../src/wire/checksum.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { IP_OFFSET } from '../../src/ndp/actions.js';
import { requires } from '../support/prereq.js';
import {
  ROUTER, UPLINK, UPLINK_MAC, feed, ip, mac, makeEngine, naFrame, nsFrame, withExtensionHeaders,
} from '../ndp/fixtures.js';

const prereq = requires({ root: true });

const TARGET = ip('2001:db8:9::9');
const OTHER = ip('2001:db8:9::10');
const LINK_LOCAL = ip('fe80::1');

/** The engine's answer to `ns` on the fixture uplink (router: true), as a whole frame. */
function engineAnswer(ns: Uint8Array, naSource: 'target' | 'link-local' = 'target'): Uint8Array {
  const engine = makeEngine({ naSource });
  assert.equal(feed(engine, 0, UPLINK, ns), 0);
  const a = engine.actions;
  assert.equal(a.count, 1);
  return a.bytes.slice(a.offset(0), a.offset(0) + a.frameLength[0]!);
}

describe('NDP responder program', prereq, () => {
  let responder: NdpResponder;
  let fromLinkLocal: NdpResponder;
  const credited: number[] = [];

  before(() => {
    responder = NdpResponder.load(1);
    responder.sync([TARGET, ip('ff02::1')], { mac: UPLINK_MAC, flags: NaFlag.Router | NaFlag.Solicited, linkLocal: null }, () => {});
    fromLinkLocal = NdpResponder.load(1);
    fromLinkLocal.sync([TARGET], { mac: UPLINK_MAC, flags: NaFlag.Router | NaFlag.Solicited, linkLocal: LINK_LOCAL }, () => {});
  });
  after(() => {
    responder?.close();
    fromLinkLocal?.close();
  });

  test('answers an NS to the solicited-node group exactly as the engine does', () => {
    const ns = nsFrame(TARGET);
    const { verdict, frame } = responder.testRun(ns);
    assert.equal(verdict, TcxVerdict.REDIRECT);
    assert.deepEqual(frame, engineAnswer(ns));
    assert.ok(verifyL4Checksum(frame, IP_OFFSET, IP_OFFSET + 40, 32, Protocol.Icmpv6));
  });

  test('answers an NS to the target itself (unicast, NUD), and from a solicitor MAC that differs from the frame', () => {
    const ns = nsFrame(TARGET, { dst: TARGET, src: ip('2001:db8:ff::77'), slla: mac('0a:00:00:00:00:77'), frameSrc: mac('0a:00:00:00:00:78') });
    const { verdict, frame } = responder.testRun(ns);
    assert.equal(verdict, TcxVerdict.REDIRECT);
    assert.deepEqual(frame, engineAnswer(ns));
  });

  test('answers an NS with a traffic class and flow label (as ndisc6 sends them) with neither, as the engine does', () => {
    const ns = nsFrame(TARGET);
    ns.set([0x6a, 0xbc, 0xde, 0xf1], IP_OFFSET);
    const { verdict, frame } = responder.testRun(ns);
    assert.equal(verdict, TcxVerdict.REDIRECT);
    assert.deepEqual(frame, engineAnswer(ns));
  });

  test('answers from the link-local address when naSource is link-local', () => {
    const ns = nsFrame(TARGET, { src: ip('fe80::99') });
    const { verdict, frame } = fromLinkLocal.testRun(ns);
    assert.equal(verdict, TcxVerdict.REDIRECT);
    assert.deepEqual(frame, engineAnswer(ns, 'link-local'));
  });

  test('leaves everything else to user space, untouched', () => {
    const cases: [string, Uint8Array][] = [
      ['DAD', nsFrame(TARGET, { src: ip('::'), slla: null })],
      ['no SLLA', nsFrame(TARGET, { slla: null })],
      ['a second option', nsFrame(TARGET, { extraOptions: [14, 1, 1, 2, 3, 4, 5, 6] })],
      ['bad checksum', nsFrame(TARGET, { badChecksum: true })],
      ['hop limit 254', nsFrame(TARGET, { hopLimit: 254 })],
      ['code 1', nsFrame(TARGET, { code: 1 })],
      ['a destination options header', withExtensionHeaders(nsFrame(TARGET), [Protocol.DestinationOptions])],
      ['an atomic fragment', withExtensionHeaders(nsFrame(TARGET), [Protocol.Fragment])],
      ['unknown target', nsFrame(OTHER)],
      ['multicast target', nsFrame(ip('ff02::1'))],
      ['multicast source', nsFrame(TARGET, { src: ip('ff02::2') })],
      ['another node\'s solicited-node group', nsFrame(TARGET, { dst: ip('ff02::1:ff00:10') })],
      ['to another unicast address', nsFrame(TARGET, { dst: ip('2001:db8:ff::1') })],
      ['truncated', nsFrame(TARGET).subarray(0, 80)],
      ['a trailer', Uint8Array.from([...nsFrame(TARGET), 0, 0, 0, 0])],
      ['an NA', naFrame(TARGET)],
      ['IPv4\'s version', Uint8Array.from(nsFrame(TARGET), (b, i) => (i === IP_OFFSET ? 0x40 : b))],
    ];
    for (const [what, ns] of cases) {
      const { verdict, frame } = responder.testRun(ns);
      assert.equal(verdict, TcxVerdict.NEXT, what);
      assert.deepEqual(frame, ns, what);
    }
  });

  test('counts its answers per target, once each, and what it passed on', () => {
    responder.fold((t, n) => credited.push(n));
    credited.length = 0;
    responder.testRun(nsFrame(TARGET));
    responder.testRun(nsFrame(TARGET));
    const seen: string[] = [];
    const stats = responder.fold((t, n) => {
      seen.push(Buffer.from(t).toString('hex'));
      credited.push(n);
    });
    assert.deepEqual(credited, [2]);
    assert.deepEqual(seen, [Buffer.from(TARGET).toString('hex')]);
    assert.ok(stats.answered >= 2 && stats.passed > 0, JSON.stringify(stats));
    assert.equal(stats.targets, 1, 'the multicast address is never in the map');
    credited.length = 0;
    responder.fold((t, n) => credited.push(n));
    assert.deepEqual(credited, []);
  });

  test('sync keeps a target\'s count, drops a target it no longer holds, and adds new ones', () => {
    const answer = { mac: UPLINK_MAC, flags: NaFlag.Router | NaFlag.Solicited, linkLocal: null };
    responder.testRun(nsFrame(TARGET));
    const credits: number[] = [];
    responder.sync([OTHER], answer, (t, n) => credits.push(n));
    assert.deepEqual(credits, [1], 'the last answer is credited before the entry goes');
    assert.equal(responder.testRun(nsFrame(TARGET)).verdict, TcxVerdict.NEXT);
    assert.equal(responder.testRun(nsFrame(OTHER)).verdict, TcxVerdict.REDIRECT);
    const later: [string, number][] = [];
    const note = (t: Uint8Array, n: number): void => void later.push([Buffer.from(t).toString('hex'), n]);
    responder.sync([TARGET, OTHER], answer, note);
    assert.equal(responder.testRun(nsFrame(TARGET)).verdict, TcxVerdict.REDIRECT);
    responder.fold(note);
    assert.deepEqual(later.sort(), [[Buffer.from(OTHER).toString('hex'), 1], [Buffer.from(TARGET).toString('hex'), 1]].sort());
  });

  test('holds MAX_TARGETS targets, written in one call; more are left to user space and counted as omitted', () => {
    const many = NdpResponder.load(1);
    try {
      const targets = Array.from({ length: MAX_TARGETS + 4 }, (_, i) => {
        const t = ip('2001:db8:7::');
        t[13] = i >> 16;
        t[14] = i >> 8;
        t[15] = i;
        return t;
      });
      many.sync(targets, { mac: UPLINK_MAC, flags: NaFlag.Solicited, linkLocal: null }, () => {});
      const stats = many.fold(() => {});
      assert.deepEqual([stats.targets, stats.omitted], [MAX_TARGETS, 4]);
      assert.equal(many.testRun(nsFrame(targets[MAX_TARGETS - 1]!)).verdict, TcxVerdict.REDIRECT);
      assert.equal(many.testRun(nsFrame(targets[MAX_TARGETS]!)).verdict, TcxVerdict.NEXT);
    } finally {
      many.close();
    }
  });

  test('the engine\'s answer is what it sends with router: false too (flags from the entry)', () => {
    const plain = NdpResponder.load(1);
    try {
      plain.sync([TARGET], { mac: UPLINK_MAC, flags: NaFlag.Solicited, linkLocal: null }, () => {});
      const ns = nsFrame(TARGET, { src: ROUTER });
      const engine = makeEngine({ router: false });
      feed(engine, 0, UPLINK, ns);
      const a = engine.actions;
      assert.deepEqual(plain.testRun(ns).frame, a.bytes.slice(a.offset(0), a.offset(0) + a.frameLength[0]!));
    } finally {
      plain.close();
    }
  });
});
