// The NDP engine's packet path allocates nothing, also on the paths flood
// protection added: per-target buckets of a static prefix under a flood of
// random targets, the session reserve of an iface rule, NS behind extension
// headers and fragmented NS. A million NS under a GC observer; a single boxed
// number or object per packet would force scavenges long before the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countGcs } from '../support/gc.js';
import { Protocol } from '../../src/wire/ipv6.js';
import { NdpEvent } from '../../src/ndp/counters.js';
import { IP_OFFSET } from '../../src/ndp/actions.js';
import { INNER, UPLINK, ip, makeEngine, naFrame, nsFrame, feed, withExtensionHeaders } from './fixtures.js';

/** Milliseconds far above 2^31 (a monotonic clock after weeks of uptime). */
const NOW = 1_790_000_000_000;
const SLOTS = 4096;
const SLOT = 128;

test('floods inside prefixes, extension headers and fragments allocate nothing (1M NS)', async () => {
  const e = makeEngine({}, { queueCapacity: 1024 });
  // The router's first iface target is verified, so its later NS draw on the reserve.
  feed(e, NOW, UPLINK, nsFrame(ip('2001:db8:3::1')));
  feed(e, NOW, INNER, naFrame(ip('2001:db8:3::1')));
  const attacker = ip('2001:db8:ff::66');
  const ring = new Uint8Array(SLOTS * SLOT);
  const lens = new Int32Array(SLOTS);
  for (let i = 0; i < SLOTS; i++) {
    const low = (i * 2654435761 >>> 16 & 0xffff | 1).toString(16);
    let f: Uint8Array;
    switch (i % 8) {
      case 0: f = nsFrame(ip('2001:db8:2::a')); break; // a static member, answered from its own bucket
      case 1: f = withExtensionHeaders(nsFrame(ip('2001:db8:1::5')), [Protocol.DestinationOptions]); break;
      case 2: f = withExtensionHeaders(nsFrame(ip('2001:db8:1::5')), [Protocol.Fragment], { more: true }); break;
      case 3: f = nsFrame(ip(`2001:db8:3::2:${low}`)); break; // the router: from the reserve
      case 4: case 5: f = nsFrame(ip(`2001:db8:3::${low}`), { src: attacker }); break;
      default: f = nsFrame(ip(`2001:db8:2::${(i >> 3).toString(16)}:${low}`), { src: attacker }); break;
    }
    ring.set(f, i * SLOT);
    lens[i] = f.length;
  }
  const replay = (n: number, t0: number): number => {
    let now = t0;
    for (let i = 0; i < n; i++) {
      const slot = i & (SLOTS - 1);
      e.receive(now, UPLINK, ring, slot * SLOT + IP_OFFSET, lens[slot]! - IP_OFFSET, slot * SLOT + 6);
      if (e.actions.count >= 512) e.actions.clear();
      // 200k NS/s, the clock read once per batch of 64 as the service does.
      if ((i & 63) === 63) {
        now += 0.32;
        e.tick(now);
      }
    }
    return now;
  };
  let now = replay(SLOTS * 8, NOW + 10);

  const gc = countGcs();
  now = replay(1_000_000, now);
  const gcs = await gc.stop();
  assert.equal(gcs, 0, 'no scavenge while 1M NS went through');
  assert.ok(e.counters.eventCount(UPLINK, NdpEvent.SessionFromReserve) > 0, 'the reserve path ran');
});
