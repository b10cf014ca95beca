// The DHCPv6-PD engine on a made-up clock, against replies built here: the
// exchanges and their timers (RFC 8415 §15, §18.2), a kept lease, a prefix
// moved at a renewal, the lease's end, and malformed or foreign messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PdClient, type Lease } from '../../src/dhcp6/client.js';
import * as dhcp from '../../src/wire/dhcpv6.js';
import { WireError } from '../../src/wire/error.js';
import { parseIpv6 } from '../../src/wire/address.js';

const DUID = Uint8Array.of(0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
const SERVER = Uint8Array.of(0, 2, 0, 0, 9, 0xbf, 1);
const IAID = 7;

/** A server message answering `m` (the client's last message): `type`, with an IA_PD holding `prefixes`. */
function answer(m: Uint8Array, type: number, prefixes: Array<[string, number, number]>, t1 = 100, t2 = 160, status?: number): Uint8Array {
  const b = new Uint8Array(512);
  let at = dhcp.writeHeader(b, 0, type, dhcp.transactionId(m, 0));
  at = dhcp.writeOption(b, at, dhcp.Option.ClientId, DUID);
  at = dhcp.writeOption(b, at, dhcp.Option.ServerId, SERVER);
  if (status !== undefined) at = dhcp.writeOption(b, at, dhcp.Option.StatusCode, Uint8Array.of(0, status));
  at = dhcp.writeIaPd(b, at, IAID, t1, t2, prefixes.map(([p, preferred, valid]) => ({ prefix: parseIpv6(p.split('/')[0]!), length: Number(p.split('/')[1]), preferred, valid })));
  return b.slice(0, at);
}

let seed = 1;
const random = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;

/** Solicit → Advertise → Request → Reply at `now`; returns the client, bound. */
function bound(now: number, prefix = '2001:db8:a00::/56'): PdClient {
  const c = new PdClient(DUID, IAID, random, undefined, now);
  const solicit = c.wake(now).send!;
  assert.equal(solicit.type, 'solicit');
  const request = c.receive(answer(solicit.bytes, dhcp.MsgType.Advertise, [[prefix, 200, 300]]), now).send!;
  assert.equal(request.type, 'request');
  const r = c.receive(answer(request.bytes, dhcp.MsgType.Reply, [[prefix, 200, 300]]), now);
  assert.equal(r.event?.kind, 'bound');
  return c;
}

test('Solicit, Advertise, Request, Reply: bound with the prefix, T1 and T2 from the server', () => {
  const c = bound(1000);
  assert.equal(c.state, 'bound');
  assert.deepEqual(c.prefixes(1000), ['2001:db8:a00::/56']);
  assert.equal(c.nextWake(), 1000 + 100_000, 'wakes at T1');
  assert.equal(c.lease!.serverId, '0002000009bf01');
});

test('Solicit is retransmitted with growing, jittered timeouts; a foreign or malformed answer changes nothing', () => {
  const c = new PdClient(DUID, IAID, random, undefined, 0);
  const first = c.wake(0).send!;
  const rt1 = c.nextWake();
  assert.ok(rt1 > 1000 && rt1 <= 1100, `first RT ${rt1}`);
  assert.equal(c.wake(rt1 - 1).send, undefined);
  c.wake(rt1);
  const rt2 = c.nextWake() - rt1;
  assert.ok(rt2 >= 1.9 * rt1 && rt2 <= 2.1 * rt1, `second RT ${rt2}`);
  const other = answer(first.bytes, dhcp.MsgType.Advertise, [['2001:db8:a00::/56', 1, 2]]);
  other[1]! ^= 0xff;
  assert.deepEqual(c.receive(other, rt1), {}, 'another transaction');
  assert.equal(dhcp.check(Uint8Array.of(2, 0, 0), 0, 3), WireError.Truncated);
  const truncated = answer(first.bytes, dhcp.MsgType.Advertise, [['2001:db8:a00::/56', 1, 2]]);
  assert.equal(dhcp.check(truncated, 0, truncated.length - 3), WireError.BadOptionLength);
  assert.equal(c.state, 'soliciting');
});

test('Renew at T1, Rebind at T2, the lease ends with its valid lifetime; a new prefix at a renewal replaces the old', () => {
  const c = bound(0);
  const renew = c.wake(100_000).send!;
  assert.equal(renew.type, 'renew');
  // No answer: Rebind at T2, then the lease ends at the valid lifetime (300 s).
  assert.equal(c.wake(160_000).send!.type, 'rebind');
  assert.equal(c.nextWake() <= 300_000, true);
  const end = c.wake(300_000);
  assert.equal(end.event?.kind, 'expired');
  assert.deepEqual(c.prefixes(300_000), []);
  assert.equal(end.send!.type, 'solicit');
  // Another client: the server moves it at a renewal (old prefix with lifetime 0, a new one).
  const d = bound(0);
  const r = d.wake(100_000).send!;
  const moved = d.receive(answer(r.bytes, dhcp.MsgType.Reply, [['2001:db8:a00::/56', 0, 0], ['2001:db8:b00::/56', 200, 300]]), 100_000);
  assert.equal(moved.event?.kind, 'bound');
  assert.deepEqual(d.prefixes(100_000), ['2001:db8:b00::/56']);
});

test('a kept lease is used at once and confirmed (Renew before T2, Rebind after); NoBinding asks again with a Request', () => {
  const lease: Lease = { serverId: '0002000009bf01', t1: 100, t2: 160, prefixes: [{ prefix: '2001:db8:a00::/56', preferred: 200, valid: 300 }], at: 0 };
  const early = new PdClient(DUID, IAID, random, lease, 10_000);
  assert.deepEqual(early.prefixes(10_000), ['2001:db8:a00::/56']);
  const renew = early.wake(10_000).send!;
  assert.equal(renew.type, 'renew');
  const refused = early.receive(answer(renew.bytes, dhcp.MsgType.Reply, [], 0, 0, dhcp.Status.NoBinding), 10_000);
  assert.equal(refused.send?.type, 'request');
  assert.equal(new PdClient(DUID, IAID, random, lease, 200_000).wake(200_000).send!.type, 'rebind');
  assert.equal(new PdClient(DUID, IAID, random, lease, 400_000).wake(400_000).send!.type, 'solicit', 'an expired lease is not kept');
});

test('Release gives the prefixes back to the server that delegated them', () => {
  const c = bound(0);
  const release = c.release(5000)!;
  assert.equal(release.type, 'release');
  assert.equal(dhcp.msgType(release.bytes, 0), dhcp.MsgType.Release);
  assert.equal(c.nextWake(), Infinity);
});
