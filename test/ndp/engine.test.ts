import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNd } from '../../src/wire/ndp.js';
import { WireError } from '../../src/wire/error.js';
import { formatIpv6, formatMac } from '../../src/wire/address.js';
import { readCapture } from '../../src/pcap/reader.js';
import { ipOffset } from '../../src/pcap/linktype.js';
import { ActionKind, SendPurpose } from '../../src/ndp/actions.js';
import { NdpDrop, NdpEvent, DROP_NAMES } from '../../src/ndp/counters.js';
import { NdpEngine } from '../../src/ndp/engine.js';
import { capturesDir } from '../support/paths.js';
import { jumbogram } from '../support/packets.js';
import {
  BASE_SPEC, BRIDGE, INNER, ROUTER, ROUTER_MAC, UPLINK, UPLINK_MAC, feed, ip, mac, makeEngine, naFrame, nsFrame, sent, sentMac, solicited,
  withExtensionHeaders,
} from './fixtures.js';
import { Protocol } from '../../src/wire/ipv6.js';

function na(engine: NdpEngine, i: number) {
  const repr = parseNd(sent(engine, i), 0, engine.actions.frameLength[i]! - 14);
  assert.equal(typeof repr, 'object', `action ${i} is a valid ND packet (got ${String(repr)})`);
  return repr as Exclude<ReturnType<typeof parseNd>, number>;
}

describe('NDP engine: answering', () => {
  test('exact address (static /128 rule): one solicited NA, as a frame to the SLLA', () => {
    const e = makeEngine();
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5'))), 0);
    assert.equal(e.actions.count, 1);
    assert.equal(e.actions.kind[0], ActionKind.Send);
    assert.equal(e.actions.iface[0], UPLINK);
    assert.equal(e.actions.purpose[0], SendPurpose.Answer);
    assert.equal(formatMac(sentMac(e, 0), 0), formatMac(ROUTER_MAC, 0));
    const r = na(e, 0);
    assert.equal(r.kind, 'na');
    if (r.kind !== 'na') return;
    assert.equal(r.hopLimit, 255);
    assert.equal(formatIpv6(r.src, 0), '2001:db8:1::5', 'from the target (as Linux answers for its own addresses)');
    assert.equal(formatIpv6(r.dst, 0), formatIpv6(ROUTER, 0), 'unicast to the solicitor');
    assert.equal(formatIpv6(r.target, 0), '2001:db8:1::5');
    assert.deepEqual([r.router, r.solicited, r.override], [true, true, false], 'R from config, S=1, O=0 (proxy)');
    assert.equal(formatMac(r.options.targetLinkAddr!, 0), formatMac(UPLINK_MAC, 0));
    assert.equal(e.counters.eventCount(UPLINK, NdpEvent.AdvertSent), 1);
    assert.deepEqual(e.addresses.stats(UPLINK).find((s) => s.address === '2001:db8:1::5')?.answered, 1);
    assert.equal(e.addresses.stats(UPLINK).find((s) => s.address === '2001:db8:1::5')?.lastAnswered, 0, 'at time 0');
    assert.equal(feed(e, 250, UPLINK, nsFrame(ip('2001:db8:1::5'))), 0);
    assert.equal(e.addresses.stats(UPLINK).find((s) => s.address === '2001:db8:1::5')?.lastAnswered, 250, 'the last answer\'s time (sixgate status)');
  });

  test('router no clears R; the static list and a static prefix answer too', () => {
    const e = makeEngine({ router: false });
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:9::9'))), 0);
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:2::1234'))), 0);
    for (const i of [0, 1]) {
      const r = na(e, i);
      assert.ok(r.kind === 'na' && !r.router && r.solicited && !r.override);
    }
    assert.equal(e.ruleStats(UPLINK)[1]!.answered, 1);
  });

  test('no SLLA: the frame source MAC is used', () => {
    const e = makeEngine();
    const frame = nsFrame(ip('2001:db8:1::5'), { dst: ip('2001:db8:1::5'), slla: null, frameSrc: mac('0a:00:00:00:00:07') });
    assert.equal(feed(e, 0, UPLINK, frame), 0);
    assert.equal(formatMac(sentMac(e, 0), 0), '0a:00:00:00:00:07');
  });

  test("naSource 'link-local' answers from the uplink's link-local address, or the target when it has none", () => {
    const e = makeEngine({ naSource: 'link-local' });
    feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5')));
    assert.equal(formatIpv6(na(e, 0).src, 0), 'fe80::1');
    e.setInterface(UPLINK, { name: 'eth0', mac: UPLINK_MAC, linkLocal: null });
    feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5')));
    assert.equal(formatIpv6(na(e, 1).src, 0), '2001:db8:1::5');
  });

  test('unknown options (nonce) are skipped', () => {
    const e = makeEngine();
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5'), { extraOptions: [14, 1, 1, 2, 3, 4, 5, 6, 200, 1, 0, 0, 0, 0, 0, 0] })), 0);
  });
});

describe('NDP engine: every drop reason', () => {
  const target = ip('2001:db8:1::5');
  const cases: [string, () => Uint8Array, number, number?][] = [
    ['hop limit 64', () => nsFrame(target, { hopLimit: 64 }), WireError.BadHopLimit],
    ['bad checksum', () => nsFrame(target, { badChecksum: true }), WireError.BadChecksum],
    ['code 1', () => nsFrame(target, { code: 1 }), WireError.BadCode],
    ['multicast target', () => nsFrame(ip('ff02::1'), { dst: ip('ff02::1:ff00:1') }), NdpDrop.MulticastTarget],
    ['zero-length option', () => nsFrame(target, { extraOptions: [14, 0, 0, 0, 0, 0, 0, 0] }), WireError.BadOptionLength],
    ['option overrunning the message', () => nsFrame(target, { extraOptions: [14, 2, 0, 0, 0, 0, 0, 0] }), WireError.BadOptionLength],
    ['DAD not to a solicited-node group', () => nsFrame(target, { src: ip('::'), dst: ip('ff02::1'), slla: null }), NdpDrop.DadDestination],
    ['DAD with an SLLA', () => nsFrame(target, { src: ip('::') }), NdpDrop.DadWithSlla],
    ['multicast source', () => nsFrame(target, { src: ip('ff02::5') }), NdpDrop.MulticastSource],
    ['not ours', () => nsFrame(ip('2001:db8:77::1')), NdpDrop.NotOurs],
    ['DAD for a static prefix (never in use as far as we know)', () => nsFrame(ip('2001:db8:2::8'), { src: ip('::'), slla: null }), NdpDrop.DadNotInUse],
    ['auto rule, best route back out of the uplink', () => nsFrame(ip('2001:db8:4::101')), NdpDrop.NoRoute],
    ['NS on an inner interface', () => nsFrame(target), NdpDrop.NotUplink, INNER],
    ['NA nobody waits for', () => naFrame(ip('2001:db8:3::1')), NdpDrop.UnexpectedAdvert, INNER],
    ['NA with S=1 to a multicast group', () => naFrame(ip('2001:db8:3::1'), { dst: ip('ff02::1'), flags: 0x60 }), NdpDrop.SolicitedToMulticast, INNER],
    ['NA with hop limit 254', () => naFrame(ip('2001:db8:3::1'), { hopLimit: 254 }), WireError.BadHopLimit, INNER],
  ];
  for (const [name, build, reason, iface = UPLINK] of cases) {
    test(`${name} -> ${DROP_NAMES[reason]}`, () => {
      const e = makeEngine();
      assert.equal(feed(e, 0, iface, build()), reason);
      assert.equal(e.counters.dropCount(iface, reason), 1);
      assert.equal(e.actions.count, 0, 'nothing sent');
      assert.deepEqual(e.counters.snapshot(iface).drops, { [DROP_NAMES[reason]!]: 1 });
    });
  }

  test('not an NS or NA (a router solicitation) -> bad-type', () => {
    const e = makeEngine();
    const f = nsFrame(ip('2001:db8:1::5'), { dst: ip('ff02::2') }).slice(0, 14 + 40 + 8);
    f[14 + 5] = 8;
    f[14 + 40] = 133;
    f.fill(0, 14 + 44);
    fixChecksum(f);
    assert.equal(feed(e, 0, UPLINK, f), WireError.BadType);
  });

  test('the uplink session bucket limits new sessions across rules', () => {
    const e = makeEngine({}, { uplinkSessionRate: { rate: 1, burst: 2 }, ruleSessionRate: { rate: 0, burst: 0 } });
    const reasons = [1, 2, 3].map((i) => feed(e, 0, UPLINK, nsFrame(ip(`2001:db8:3::${i}`))));
    assert.deepEqual(reasons, [0, 0, NdpDrop.UplinkRateLimited]);
    assert.equal(e.ruleStats(UPLINK)[2]!.limited, 1);
  });

  test('a full output queue drops and counts, keeping a quarter for exact addresses', () => {
    const e = makeEngine({}, { queueCapacity: 8, staticPrefixRate: { rate: 0, burst: 0 } });
    const reasons = [1, 2, 3, 4, 5, 6, 7].map((i) => feed(e, 0, UPLINK, nsFrame(ip(`2001:db8:2::${i}`))));
    assert.deepEqual(reasons, [0, 0, 0, 0, 0, 0, NdpDrop.QueueFull], 'static-prefix answers stop at 3/4 of 8');
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5'))), 0, 'an exact address still gets through');
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5'))), 0);
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5'))), NdpDrop.QueueFull);
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.QueueFull), 2);
  });

  test('an inner interface without a link-local address cannot be probed', () => {
    const e = makeEngine();
    e.setInterface(INNER, { name: 'veth1', mac: mac('02:00:00:00:00:02'), linkLocal: null });
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:3::1'))), 0, 'the session opens');
    assert.equal(e.actions.count, 0);
    assert.equal(e.counters.dropCount(INNER, NdpDrop.NoProbeSource), 1);
  });

  test('every drop reason has a name', () => {
    assert.equal(new Set(DROP_NAMES).size, DROP_NAMES.length);
    assert.ok(DROP_NAMES.every((n) => /^[a-z0-9-]+$/.test(n)));
  });

  test('truncated and fragmented packets', () => {
    const e = makeEngine();
    const frame = nsFrame(target);
    // IPv6 payload length says 16: an NS body cut short.
    const short = frame.slice(0, 14 + 40 + 16);
    short[14 + 5] = 16;
    assert.equal(feed(e, 0, UPLINK, short), WireError.Truncated);
    // Captured bytes shorter than the payload length claims.
    assert.equal(e.receive(0, UPLINK, frame, 14, 50, 6), WireError.BadLength);
    // An atomic fragment header in front of the NS (RFC 6980 forbids any).
    const frag = new Uint8Array(frame.length + 8);
    frag.set(frame.subarray(0, 54));
    frag.set(frame.subarray(54), 62);
    frag[14 + 6] = 44;
    frag[14 + 5] += 8;
    frag[54] = 58;
    assert.equal(feed(e, 0, UPLINK, frag), WireError.Fragmented);
    // An NS inside an RFC 2675 jumbogram: its own reason, not an empty packet.
    assert.equal(feed(e, 0, UPLINK, jumbogram(frame, 14)), WireError.Jumbogram);
    assert.equal(e.counters.dropCount(UPLINK, WireError.Jumbogram), 1);
  });
});

describe('NDP engine: DAD', () => {
  test('DAD for an exact address in use is defended: NA to ff02::1, S=0, O=0', () => {
    const e = makeEngine();
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:1::5'), { src: ip('::'), slla: null })), 0);
    assert.equal(e.actions.purpose[0], SendPurpose.Defend);
    assert.equal(formatMac(sentMac(e, 0), 0), '33:33:00:00:00:01');
    const r = na(e, 0);
    assert.ok(r.kind === 'na');
    assert.equal(formatIpv6(r.dst, 0), 'ff02::1');
    assert.deepEqual([r.router, r.solicited, r.override], [true, false, false]);
    assert.equal(e.counters.eventCount(UPLINK, NdpEvent.DadDefended), 1);
    assert.equal(e.addresses.stats(UPLINK).find((s) => s.address === '2001:db8:1::5')?.defended, 1);
  });

  test('DAD for an iface-rule target is answered only once the inner side confirms it', () => {
    const e = makeEngine();
    const t = ip('2001:db8:3::7');
    assert.equal(feed(e, 0, UPLINK, nsFrame(t, { src: ip('::'), slla: null })), 0);
    assert.equal(e.actions.count, 1, 'only the probe');
    assert.equal(e.actions.purpose[0], SendPurpose.Probe);
    e.actions.clear();
    assert.equal(feed(e, 10, INNER, naFrame(t)), 0);
    assert.equal(e.actions.count, 1);
    assert.equal(e.actions.purpose[0], SendPurpose.Defend);
    assert.equal(formatIpv6(na(e, 0).dst, 0), 'ff02::1');
  });
});

describe('NDP engine: sessions', () => {
  test('WAITING -> VALID: probe the inner side, queue solicitors, answer them on the NA', () => {
    const e = makeEngine();
    const t = ip('2001:db8:3::7');
    assert.equal(feed(e, 0, UPLINK, nsFrame(t)), 0);
    assert.equal(e.actions.count, 1);
    assert.equal(e.actions.iface[0], INNER);
    assert.equal(formatMac(sentMac(e, 0), 0), '33:33:ff:00:00:07');
    const probe = parseNd(sent(e, 0), 0, e.actions.frameLength[0]! - 14);
    assert.ok(typeof probe === 'object' && probe.kind === 'ns');
    assert.equal(formatIpv6(probe.src, 0), 'fe80::2');
    assert.equal(formatIpv6(probe.dst, 0), formatIpv6(solicited(t), 0));
    assert.equal(formatMac(probe.options.sourceLinkAddr!, 0), '02:00:00:00:00:02');
    e.actions.clear();
    // A second solicitor, and the first one again (not queued twice).
    assert.equal(feed(e, 100, UPLINK, nsFrame(t, { src: ip('2001:db8:ff::2'), slla: mac('0a:00:00:00:00:02') })), 0);
    assert.equal(feed(e, 150, UPLINK, nsFrame(t)), 0);
    assert.equal(e.actions.count, 0);
    assert.deepEqual(e.sessionList().map((s) => [s.target, s.state, s.pending, s.created]), [['2001:db8:3::7', 'waiting', 2, 0]]);
    assert.match(e.sessionList()[0]!.rule, /^2001:db8:3::\/\d+$/, 'the rule that made it (sixgate ndp sessions)');
    assert.equal(feed(e, 200, INNER, naFrame(t)), 0);
    assert.equal(e.actions.count, 2);
    assert.deepEqual([0, 1].map((i) => formatIpv6(na(e, i).dst, 0)), ['2001:db8:ff::1', '2001:db8:ff::2']);
    assert.deepEqual([0, 1].map((i) => formatMac(sentMac(e, i), 0)), ['0a:00:00:00:00:01', '0a:00:00:00:00:02']);
    assert.equal(e.sessionList()[0]!.state, 'valid');
    e.actions.clear();
    assert.equal(feed(e, 300, UPLINK, nsFrame(t)), 0, 'VALID answers at once');
    assert.equal(e.actions.count, 1);
    assert.equal(e.actions.purpose[0], SendPurpose.Answer);
  });

  test('no answer: 1 + retries probes at timeout intervals, then INVALID (negative cache) until deadtime', () => {
    const e = makeEngine();
    const t = ip('2001:db8:3::8');
    feed(e, 0, UPLINK, nsFrame(t));
    let probes = e.actions.count;
    e.actions.clear();
    for (let now = 0; now <= 2000; now += 100) {
      e.tick(now);
      probes += e.actions.count;
      e.actions.clear();
    }
    assert.equal(probes, 4, 'the NS and 3 retries');
    assert.equal(e.sessionList()[0]!.state, 'invalid');
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.TargetUnreachable), 1, 'the queued solicitor is dropped');
    assert.equal(feed(e, 2100, UPLINK, nsFrame(t)), NdpDrop.TargetUnreachable);
    e.tick(2000 + 10000);
    assert.equal(e.sessionList().length, 0, 'deadtime removes it');
    assert.equal(e.counters.eventCount(UPLINK, NdpEvent.SessionRemoved), 1);
    assert.equal(e.nextDeadline, Number.POSITIVE_INFINITY);
  });

  test('an INVALID session turns VALID when the target shows up', () => {
    const e = makeEngine({ retries: 0 });
    const t = ip('2001:db8:3::9');
    feed(e, 0, UPLINK, nsFrame(t));
    e.tick(500);
    assert.equal(e.sessionList()[0]!.state, 'invalid');
    assert.equal(feed(e, 600, INNER, naFrame(t)), 0);
    assert.equal(e.sessionList()[0]!.state, 'valid');
  });

  test('VALID -> RENEWING at ttl (keepalive), kept by an NA, removed without one', () => {
    const e = makeEngine();
    const t = ip('2001:db8:3::a');
    feed(e, 0, UPLINK, nsFrame(t));
    feed(e, 10, INNER, naFrame(t));
    e.actions.clear();
    e.tick(10 + 30000);
    assert.equal(e.sessionList()[0]!.state, 'renewing');
    assert.equal(e.actions.purpose[0], SendPurpose.Probe);
    e.actions.clear();
    assert.equal(feed(e, 30100, UPLINK, nsFrame(t)), 0, 'RENEWING still answers');
    assert.equal(e.actions.purpose[0], SendPurpose.Answer);
    feed(e, 30200, INNER, naFrame(t));
    assert.equal(e.sessionList()[0]!.state, 'valid');
    e.tick(30200 + 30000);
    for (let now = 60200; now <= 63000; now += 250) e.tick(now);
    assert.equal(e.sessionList().length, 0);
  });

  test('keepalive no: an untouched VALID session ends at ttl', () => {
    const e = makeEngine({ keepalive: false });
    const t = ip('2001:db8:3::b');
    feed(e, 0, UPLINK, nsFrame(t));
    feed(e, 10, INNER, naFrame(t));
    e.tick(10 + 30000);
    assert.equal(e.sessionList()[0]!.state, 'renewing', 'touched by the first NS');
    feed(e, 30020, INNER, naFrame(t));
    e.tick(30020 + 30000);
    assert.equal(e.sessionList().length, 0, 'no NS since: gone');
  });

  test('auto: the inner interface comes from the longest-prefix route', () => {
    const e = makeEngine();
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:4::1'))), 0);
    assert.equal(e.actions.iface[0], BRIDGE);
    e.setRoutes([]);
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:4::2'))), NdpDrop.NoRoute);
  });

  test('overlapping rules: a matching static rule wins wherever it is; several iface rules probe every interface', () => {
    const e = makeEngine({
      rules: [
        { prefix: ip('2001:db8:3::'), prefixLength: 64, method: 'iface', iface: INNER, autovia: false },
        { prefix: ip('2001:db8:3::'), prefixLength: 64, method: 'iface', iface: BRIDGE, autovia: false },
        { prefix: ip('2001:db8:3::100'), prefixLength: 120, method: 'static', iface: -1, autovia: false },
      ],
    });
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:3::101'))), 0);
    assert.equal(e.actions.purpose[0], SendPurpose.Answer);
    e.actions.clear();
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:3::1'))), 0);
    assert.deepEqual(Array.from(e.actions.iface.subarray(0, e.actions.count)), [INNER, BRIDGE]);
  });

  test('an NA on another interface than the one probed is not believed', () => {
    const e = makeEngine();
    const t = ip('2001:db8:4::1');
    feed(e, 0, UPLINK, nsFrame(t));
    assert.equal(feed(e, 5, INNER, naFrame(t)), NdpDrop.UnexpectedAdvert);
    assert.equal(feed(e, 5, BRIDGE, naFrame(t)), 0);
  });

  test('autowire and autovia: a route on VALID, removed when the session ends', () => {
    const spec = {
      autowire: true, keepalive: false,
      rules: [{ prefix: ip('2001:db8:3::'), prefixLength: 64, method: 'iface' as const, iface: INNER, autovia: true }],
    };
    const e = makeEngine(spec);
    const t = ip('2001:db8:3::c');
    feed(e, 0, UPLINK, nsFrame(t));
    e.actions.clear();
    feed(e, 10, INNER, naFrame(t, { src: ip('fe80::99') }));
    assert.equal(e.actions.kind[0], ActionKind.RouteReplace);
    assert.equal(e.actions.iface[0], INNER);
    const o = e.actions.offset(0);
    assert.equal(formatIpv6(e.actions.bytes, o), '2001:db8:3::c');
    assert.equal(e.actions.hasVia[0], 1);
    assert.equal(formatIpv6(e.actions.bytes, o + 16), 'fe80::99');
    e.actions.clear();
    for (let now = 30010; now <= 33000; now += 100) e.tick(now);
    const kinds = Array.from(e.actions.kind.subarray(0, e.actions.count));
    assert.ok(kinds.includes(ActionKind.RouteRemove));
    assert.equal(e.counters.eventCount(UPLINK, NdpEvent.RouteRemoved), 1);
  });

  test('autovia names no next hop when the NA came from the target itself', () => {
    const e = makeEngine({
      autowire: true,
      rules: [{ prefix: ip('2001:db8:3::'), prefixLength: 64, method: 'iface', iface: INNER, autovia: true }],
    });
    const t = ip('2001:db8:3::e');
    feed(e, 0, UPLINK, nsFrame(t));
    e.actions.clear();
    feed(e, 10, INNER, naFrame(t));
    assert.equal(e.actions.kind[0], ActionKind.RouteReplace);
    assert.equal(e.actions.hasVia[0], 0);
  });

  test('a full pending list drops further solicitors', () => {
    const e = makeEngine();
    const t = ip('2001:db8:3::d');
    for (let i = 1; i <= 5; i++) feed(e, 0, UPLINK, nsFrame(t, { src: ip(`2001:db8:ff::${i}`) }));
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.PendingFull), 1);
  });
});

describe('NDP engine: addresses and membership', () => {
  test('configure joins solicited-node groups for exact targets and ALLMULTI for prefixes', () => {
    const e = new NdpEngine({ seed: 1 });
    e.setInterface(UPLINK, { name: 'eth0', mac: UPLINK_MAC, linkLocal: ip('fe80::1') });
    e.setInterface(INNER, { name: 'veth1', mac: UPLINK_MAC, linkLocal: ip('fe80::2') });
    e.configure([BASE_SPEC]);
    const changes = e.takeMembershipChanges().map((c) => c.kind === 'allmulti' ? `allmulti ${c.on}` : `${c.kind} ${formatIpv6(c.group, 0)}`);
    assert.deepEqual(changes.sort(), ['allmulti true', 'join ff02::1:ff00:5', 'join ff02::1:ff00:9']);
    assert.equal(e.actions.count, 2, 'both exact addresses announced');
    // Reload without prefix rules: ALLMULTI off, the static list address left.
    e.configure([{ ...BASE_SPEC, rules: [BASE_SPEC.rules[0]!], addresses: [] }]);
    const after = e.takeMembershipChanges().map((c) => c.kind === 'allmulti' ? `allmulti ${c.on}` : `${c.kind} ${formatIpv6(c.group, 0)}`);
    assert.deepEqual(after.sort(), ['allmulti false', 'leave ff02::1:ff00:9']);
    assert.equal(e.actions.count, 2, 'nothing announced again');
  });

  test('add() answers at once, announces once (O=1, S=0) and joins; remove() stops it', () => {
    const e = makeEngine();
    const a = ip('2001:db8:5::2');
    assert.equal(feed(e, 0, UPLINK, nsFrame(a)), NdpDrop.NotOurs);
    assert.equal(e.add(UPLINK, a), true);
    assert.equal(e.add(UPLINK, a), true);
    assert.equal(e.actions.count, 1);
    assert.equal(e.actions.purpose[0], SendPurpose.Announce);
    const r = na(e, 0);
    assert.ok(r.kind === 'na');
    assert.equal(formatIpv6(r.dst, 0), 'ff02::1');
    assert.deepEqual([r.router, r.solicited, r.override], [true, false, true]);
    assert.deepEqual(e.takeMembershipChanges().map((c) => c.kind), ['join']);
    assert.equal(feed(e, 0, UPLINK, nsFrame(a)), 0);
    assert.equal(feed(e, 0, UPLINK, nsFrame(a, { src: ip('::'), slla: null })), 0, 'in use: DAD defended');
    assert.equal(e.remove(UPLINK, a), true);
    assert.deepEqual(e.takeMembershipChanges().map((c) => c.kind), ['leave']);
    assert.equal(feed(e, 0, UPLINK, nsFrame(a)), NdpDrop.NotOurs);
    assert.equal(e.add(BRIDGE, a), false, 'not an uplink');
  });

  test('an address claimed by a rule and by add() stays until both let go', () => {
    const e = makeEngine();
    const a = ip('2001:db8:1::5');
    e.add(UPLINK, a);
    assert.equal(e.actions.count, 0, 'already answered: no announcement');
    e.remove(UPLINK, a);
    assert.equal(feed(e, 0, UPLINK, nsFrame(a)), 0);
  });

  test('reload keeps VALID sessions under a surviving rule and ends the rest', () => {
    const e = makeEngine();
    feed(e, 0, UPLINK, nsFrame(ip('2001:db8:3::1')));
    feed(e, 1, INNER, naFrame(ip('2001:db8:3::1')));
    feed(e, 0, UPLINK, nsFrame(ip('2001:db8:4::1')));
    e.configure([{ ...BASE_SPEC, rules: [BASE_SPEC.rules[2]!] }]);
    assert.deepEqual(e.sessionList().map((s) => [s.target, s.state]), [['2001:db8:3::1', 'valid']]);
    e.actions.clear();
    assert.equal(feed(e, 5, UPLINK, nsFrame(ip('2001:db8:3::1'))), 0);
    assert.equal(e.actions.purpose[0], SendPurpose.Answer);
  });
});

describe('NDP engine: flood protection', () => {
  test('an NS flood for random targets in a /64 stays within the buckets and the cap; exact addresses are all answered', () => {
    const e = makeEngine({}, { maxSessions: 256, queueCapacity: 64 });
    const t = ip('2001:db8:3::');
    const frame = nsFrame(t);
    const legit = nsFrame(ip('2001:db8:1::5'));
    const tOff = 14 + 40 + 8;
    let legitAnswered = 0;
    let legitSent = 0;
    const n = 200_000;
    const seconds = 2;
    for (let i = 0; i < n; i++) {
      const now = (i / n) * seconds * 1000;
      // A new random target each time: the checksum changes with it, so rebuild it cheaply.
      const x = (Math.imul(i, 2654435761) >>> 0) | 1;
      frame[tOff + 12] = x >>> 24; frame[tOff + 13] = x >>> 16; frame[tOff + 14] = x >>> 8; frame[tOff + 15] = x;
      fixChecksum(frame);
      feed(e, now, UPLINK, frame);
      if (i % 100 === 0) {
        legitSent++;
        const before = e.counters.eventCount(UPLINK, NdpEvent.AdvertSent);
        feed(e, now, UPLINK, legit);
        if (e.counters.eventCount(UPLINK, NdpEvent.AdvertSent) === before + 1) legitAnswered++;
      }
      if (e.actions.count > 32) e.actions.clear();
      e.tick(now);
    }
    assert.equal(legitAnswered, legitSent, 'every NS for the exact address answered');
    const created = e.counters.eventCount(UPLINK, NdpEvent.SessionCreated);
    // rule bucket: burst 100 + 200/s over 2 s
    assert.ok(created <= 100 + 200 * seconds + 1, `sessions created ${created}`);
    assert.ok(e.sessions.count <= 256);
    const limited = e.counters.dropCount(UPLINK, NdpDrop.PrefixRateLimited);
    assert.ok(limited > n * 0.99, `rate-limited ${limited}`);
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.QueueFull), 0);
  });

  test('the session cap holds when the buckets are generous; its last eighth is kept for verified solicitors', () => {
    const e = makeEngine({}, { maxSessions: 64, ruleSessionRate: { rate: 0, burst: 0 }, uplinkSessionRate: { rate: 0, burst: 0 } });
    // The router's first target is verified before a flood from elsewhere fills the table.
    feed(e, 0, UPLINK, nsFrame(ip('2001:db8:3::1')));
    feed(e, 0, INNER, naFrame(ip('2001:db8:3::1')));
    const frame = nsFrame(ip('2001:db8:3::'), { src: ip('2001:db8:ff::66') });
    for (let i = 2; i <= 100; i++) {
      frame[14 + 40 + 8 + 15] = i;
      fixChecksum(frame);
      feed(e, 0, UPLINK, frame);
      e.actions.clear();
    }
    assert.equal(e.sessions.count, 56);
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.SessionCap), 44);
    // The router's solicitations for targets never seen before take the reserved slots, up to the cap.
    for (let i = 1; i <= 20; i++) {
      feed(e, 1, UPLINK, nsFrame(ip(`2001:db8:3::1:${i}`)));
      e.actions.clear();
    }
    assert.equal(e.sessions.count, 64);
    assert.equal(e.counters.eventCount(UPLINK, NdpEvent.SessionFromReserve), 8);
  });
});

/** Feeds `n` NS for random targets under `prefix` (its first 14 bytes) over `seconds`, calling `between(i, now)` after each. */
function flood(e: NdpEngine, prefix: string, n: number, seconds: number, between: (i: number, now: number) => void, src = ip('2001:db8:ff::66')): void {
  const frame = nsFrame(ip(prefix), { src });
  const tOff = 14 + 40 + 8;
  for (let i = 0; i < n; i++) {
    const now = (i / n) * seconds * 1000;
    const x = (Math.imul(i + 1, 2654435761) >>> 0) | 1;
    frame[tOff + 14] = x >>> 8; frame[tOff + 15] = x;
    frame[tOff + 12] = x >>> 24; frame[tOff + 13] = x >>> 16;
    fixChecksum(frame);
    feed(e, now, UPLINK, frame);
    between(i, now);
    if (e.actions.count > 32) e.actions.clear();
    e.tick(now);
  }
}

/** Feeds one NS and says whether it was answered at once. */
function answered(e: NdpEngine, now: number, frame: Uint8Array): boolean {
  const before = e.counters.eventCount(UPLINK, NdpEvent.AdvertSent);
  feed(e, now, UPLINK, frame);
  return e.counters.eventCount(UPLINK, NdpEvent.AdvertSent) === before + 1;
}

describe('NDP engine: floods inside a prefix', () => {
  test('static prefix: members answered lately keep being answered while random targets in the prefix exhaust its bucket', () => {
    const e = makeEngine({}, { queueCapacity: 64 });
    const members = [ip('2001:db8:2::a'), ip('2001:db8:2::b')].map((t) => nsFrame(t));
    for (const m of members) assert.equal(answered(e, 0, m), true);
    let sent = 0;
    let ok = 0;
    flood(e, '2001:db8:2::', 200_000, 2, (i, now) => {
      if (i % 1000 !== 0) return;
      sent++;
      if (answered(e, now, members[sent % 2]!)) ok++;
    });
    assert.equal(ok, sent, `members answered ${ok}/${sent}`);
    const limited = e.counters.dropCount(UPLINK, NdpDrop.PrefixRateLimited);
    // The prefix bucket (burst 1000 + 5000/s) still bounds the answers for random targets.
    const randomAnswered = 200_000 - limited;
    assert.ok(randomAnswered <= 1000 + 5000 * 2 + 1, `random targets answered ${randomAnswered}`);
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.TargetRateLimited), 0);
  });

  test('static prefix: one target solicited too fast spends its own bucket, not the prefix', () => {
    const e = makeEngine({}, { staticTargetRate: { rate: 10, burst: 5 } });
    const hot = nsFrame(ip('2001:db8:2::1'));
    let ok = 0;
    for (let i = 0; i < 50; i++) {
      if (answered(e, 0, hot)) ok++;
      e.actions.clear();
    }
    assert.equal(ok, 5, 'its burst');
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.TargetRateLimited), 45);
    assert.equal(answered(e, 0, nsFrame(ip('2001:db8:2::2'))), true, 'another target still answered');
    assert.equal(answered(e, 1000, hot), true, 'refilled a second later');
  });

  test('iface rule: during a full-rate flood, the router that solicited verified targets still gets sessions for new ones', () => {
    const e = makeEngine({}, { queueCapacity: 64 });
    assert.equal(feed(e, 0, UPLINK, nsFrame(ip('2001:db8:3::1'))), 0);
    assert.equal(feed(e, 1, INNER, naFrame(ip('2001:db8:3::1'))), 0);
    e.actions.clear();
    const wanted: string[] = [];
    flood(e, '2001:db8:3::', 200_000, 2, (i, now) => {
      if (i % 20_000 !== 10_000) return;
      const target = `2001:db8:3::1:${wanted.length + 1}`;
      wanted.push(target);
      assert.equal(feed(e, now, UPLINK, nsFrame(ip(target))), 0, `a session for ${target}`);
    });
    const sessions = new Set(e.sessionList().map((s) => s.target));
    for (const t of wanted) assert.ok(sessions.has(t), `${t} has a session`);
    assert.equal(e.counters.eventCount(UPLINK, NdpEvent.SessionFromReserve), wanted.length);
    assert.ok(e.counters.dropCount(UPLINK, NdpDrop.PrefixRateLimited) > 190_000);
  });

  test('iface rule: a target verified before keeps its reserve even when another solicitor asks for it', () => {
    const e = makeEngine({}, { ruleSessionRate: { rate: 1, burst: 1 } });
    feed(e, 0, UPLINK, nsFrame(ip('2001:db8:3::7')));
    feed(e, 1, INNER, naFrame(ip('2001:db8:3::7')));
    // The session ends (renewal probes unanswered) but the target stays remembered.
    for (let now = 31_000; now <= 40_000; now += 250) e.tick(now);
    assert.equal(e.sessionList().length, 0);
    const stranger = ip('2001:db8:ff::99');
    assert.equal(feed(e, 40_000, UPLINK, nsFrame(ip('2001:db8:3::8'), { src: stranger })), 0, 'the rule bucket refilled: one token');
    assert.equal(feed(e, 40_000, UPLINK, nsFrame(ip('2001:db8:3::9'), { src: stranger })), NdpDrop.PrefixRateLimited);
    assert.equal(feed(e, 40_000, UPLINK, nsFrame(ip('2001:db8:3::7'), { src: stranger })), 0, 'verified target: from the reserve');
  });
});

describe('NDP engine: extension headers and fragments', () => {
  const target = ip('2001:db8:1::5');
  for (const [name, kinds] of [
    ['Destination Options', [Protocol.DestinationOptions]],
    ['Hop-by-Hop', [Protocol.HopByHop]],
    ['Hop-by-Hop then Destination Options', [Protocol.HopByHop, Protocol.DestinationOptions]],
    ['three headers (Hop-by-Hop, Routing, Destination Options)', [Protocol.HopByHop, Protocol.Routing, Protocol.DestinationOptions]],
  ] as const) {
    test(`an NS behind ${name} is answered like any other`, () => {
      const e = makeEngine();
      assert.equal(feed(e, 0, UPLINK, withExtensionHeaders(nsFrame(target), kinds)), 0);
      assert.equal(e.actions.count, 1);
      const r = na(e, 0);
      assert.ok(r.kind === 'na');
      assert.equal(formatIpv6(r.target, 0), '2001:db8:1::5');
      assert.equal(formatIpv6(r.dst, 0), formatIpv6(ROUTER, 0));
    });
  }

  test('fragmented NS (atomic, first, later fragment) are dropped and counted as fragmented (RFC 6980)', () => {
    const e = makeEngine();
    const ns = nsFrame(target);
    assert.equal(feed(e, 0, UPLINK, withExtensionHeaders(ns, [Protocol.Fragment])), WireError.Fragmented);
    assert.equal(feed(e, 0, UPLINK, withExtensionHeaders(ns, [Protocol.Fragment], { more: true })), WireError.Fragmented);
    assert.equal(feed(e, 0, UPLINK, withExtensionHeaders(ns, [Protocol.DestinationOptions, Protocol.Fragment], { more: true })), WireError.Fragmented);
    assert.equal(feed(e, 0, UPLINK, withExtensionHeaders(ns, [Protocol.Fragment], { offset: 8 })), WireError.Fragmented);
    assert.equal(e.actions.count, 0);
    assert.equal(e.counters.dropCount(UPLINK, WireError.Fragmented), 4);
    assert.equal(e.counters.snapshot(UPLINK).drops.fragmented, 4);
  });
});

describe('NDP engine: fuzz', () => {
  test('bit flips, truncations and random bytes never throw and always give a known reason', () => {
    const e = makeEngine();
    const seeds = [
      nsFrame(ip('2001:db8:1::5')), nsFrame(ip('2001:db8:3::7')), nsFrame(ip('2001:db8:1::5'), { src: ip('::'), slla: null }),
      naFrame(ip('2001:db8:3::7')),
    ];
    let x = 0x12345678;
    const rand = (n: number): number => {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      return (x >>> 0) % n;
    };
    for (let round = 0; round < 30_000; round++) {
      const seed = seeds[rand(seeds.length)]!;
      const f = seed.slice();
      const flips = 1 + rand(4);
      for (let k = 0; k < flips; k++) f[14 + rand(f.length - 14)] ^= 1 << rand(8);
      if (rand(8) === 0) f.fill(rand(256), 14 + rand(f.length - 14));
      const len = rand(4) === 0 ? rand(f.length - 14 + 1) : f.length - 14;
      const reason = e.receive(round, rand(3), f, 14, len, 6);
      assert.ok(Number.isInteger(reason) && reason >= 0 && reason < DROP_NAMES.length, `round ${round}: ${reason}`);
      if (e.actions.count > 256) e.actions.clear();
      e.tick(round);
    }
  });
});

describe('NDP engine: third-party captures', () => {
  function frames(name: string): Uint8Array[] {
    const cap = readCapture(new Uint8Array(readFileSync(join(capturesDir, name))));
    return [...cap].map((p) => p.data.slice());
  }

  function feedCapture(e: NdpEngine, name: string): number[] {
    return frames(name).map((f) => {
      const off = ipOffset(1, f);
      return off < 0 ? -1 : e.receive(0, UPLINK, f, off, f.length - off, 6);
    });
  }

  test('zeek icmp6-nd-options: the DAD NS is defended only for an address in use', () => {
    const e = makeEngine();
    const reasons = feedCapture(e, 'zeek__icmp6-nd-options.pcap');
    assert.equal(e.counters.dropCount(UPLINK, NdpDrop.NotOurs), 5, 'the 5 NS (all DAD) are for addresses we do not proxy');
    assert.equal(e.actions.count, 0);
    const inUse = ip('2001:db8:0:1:c000:54ff:fef5:0');
    const e2 = makeEngine({ addresses: [inUse] });
    e2.actions.clear();
    feedCapture(e2, 'zeek__icmp6-nd-options.pcap');
    assert.equal(e2.counters.eventCount(UPLINK, NdpEvent.DadDefended), 1);
    assert.equal(formatIpv6(na(e2, 0).dst, 0), 'ff02::1');
    // RAs, MLD reports and the router's NAs are not NS: counted, not answered.
    assert.ok(reasons.includes(WireError.BadType) || reasons.includes(NdpDrop.UnexpectedAdvert));
  });

  test('tcpdump icmpv6-ns-nonce: DAD with a Nonce option validates and is defended', () => {
    const e = makeEngine({ addresses: [ip('fe80::546f:f7ff:fee1:f')] });
    e.actions.clear();
    assert.deepEqual(feedCapture(e, 'tcpdump__icmpv6-ns-nonce.pcap'), [0]);
    assert.equal(e.actions.purpose[0], SendPurpose.Defend);
  });

  test('zeek icmp6-nd-short-options: every malformed NS is dropped with a reason', () => {
    const e = makeEngine({ addresses: [ip('fe80::3')] });
    e.actions.clear();
    const all = frames('zeek__icmp6-nd-short-options.pcap');
    const ns = all.filter((f) => f[14 + 40] === 135);
    assert.equal(ns.length, 4);
    const reasons = ns.map((f) => e.receive(0, UPLINK, f, 14, f.length - 14, 6));
    // Lengths 16 and 8 are cut bodies; 32 has a good SLLA; 24 has none.
    assert.deepEqual(reasons.map((r) => DROP_NAMES[r]), ['truncated', 'ok', 'ok', 'truncated']);
    assert.equal(e.actions.count, 2);
  });
});

// Recomputes an NS frame's ICMPv6 checksum after a test edits its target.
function fixChecksum(frame: Uint8Array): void {
  frame[14 + 42] = 0;
  frame[14 + 43] = 0;
  let sum = 0;
  for (let i = 14 + 8; i < 14 + 40; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!;
  const len = frame.length - 54;
  sum += len + 58;
  for (let i = 54; i < frame.length; i += 2) sum += (frame[i]! << 8) | (frame[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  frame[14 + 42] = c >> 8;
  frame[14 + 43] = c & 0xff;
}
