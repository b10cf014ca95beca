import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AddressTable } from '../../src/ndp/address-table.js';
import { TokenBuckets } from '../../src/ndp/rate-limit.js';
import { RouteTable } from '../../src/ndp/routes.js';
import { parseIpv6 } from '../../src/wire/address.js';

describe('AddressTable', () => {
  test('matches a Map under random inserts and removals (backward-shift deletion keeps every key reachable)', () => {
    const cap = 512;
    const table = new AddressTable(cap, 7);
    const model = new Map<string, number>();
    const addr = new Uint8Array(16);
    let seed = 12345;
    const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let step = 0; step < 50_000; step++) {
      // Few distinct keys so inserts, hits and removals all happen often.
      const k = rand() % 900;
      const tag = k & 1;
      addr.fill(0);
      addr[0] = 0x20; addr[1] = 0x01; addr[14] = k >> 8; addr[15] = k & 0xff;
      const key = `${tag}/${k}`;
      const op = rand() % 3;
      const found = table.find(tag, addr, 0);
      assert.equal(found >= 0, model.has(key), `step ${step}: find ${key}`);
      if (found >= 0) assert.equal(found, model.get(key));
      if (op < 2) {
        const e = table.insert(tag, addr, 0);
        if (model.has(key)) assert.equal(e, model.get(key));
        else if (model.size === cap) assert.equal(e, -1);
        else {
          assert.ok(e >= 0 && e < cap);
          model.set(key, e);
        }
      } else if (found >= 0) {
        table.remove(found);
        model.delete(key);
      }
      assert.equal(table.size, model.size);
    }
    for (const [key, e] of model) {
      assert.ok(table.live(e));
      const k = Number(key.split('/')[1]);
      assert.equal(table.tag(e), k & 1);
      const out = new Uint8Array(16);
      table.copyAddress(e, out, 0);
      assert.equal((out[14]! << 8) | out[15]!, k);
      assert.ok(table.addressEquals(e, out, 0));
    }
  });

  test('the tag separates equal addresses', () => {
    const t = new AddressTable(4, 1);
    const a = parseIpv6('2001:db8::1');
    const e0 = t.insert(0, a, 0);
    const e1 = t.insert(1, a, 0);
    assert.notEqual(e0, e1);
    assert.equal(t.find(0, a, 0), e0);
    assert.equal(t.find(1, a, 0), e1);
    assert.equal(t.find(2, a, 0), -1);
  });
});

describe('TokenBuckets', () => {
  test('a burst, then the rate', () => {
    const b = new TokenBuckets(2);
    b.set(0, { rate: 10, burst: 5 });
    let ok = 0;
    for (let i = 0; i < 100; i++) if (b.take(0, 0)) ok++;
    assert.equal(ok, 5, 'burst');
    ok = 0;
    for (let now = 1; now <= 1000; now++) if (b.take(0, now)) ok++;
    assert.equal(ok, 10, '10 per second after');
    assert.equal(b.take(1, 0), true, 'an unset bucket (rate 0) never limits');
  });

  test('time going backwards refills nothing', () => {
    const b = new TokenBuckets(1);
    b.set(0, { rate: 1000, burst: 1 });
    assert.equal(b.take(0, 100), true);
    assert.equal(b.take(0, 50), false);
    assert.equal(b.take(0, 101), true);
  });
});

describe('RouteTable', () => {
  test('longest prefix wins, whatever the order given; a best route back out of the uplink means none', () => {
    const r = new RouteTable();
    r.replace([
      { prefix: parseIpv6('::'), prefixLength: 0, iface: 0 },
      { prefix: parseIpv6('2001:db8::'), prefixLength: 32, iface: 1 },
      { prefix: parseIpv6('2001:db8:5::'), prefixLength: 80, iface: 2 },
      { prefix: parseIpv6('2001:db8:5::'), prefixLength: 64, iface: 3 },
    ]);
    assert.equal(r.lookup(parseIpv6('2001:db8:5::2'), 0, 0), 2);
    assert.equal(r.lookup(parseIpv6('2001:db8:5:0:1::2'), 0, 0), 3);
    assert.equal(r.lookup(parseIpv6('2001:db8:6::2'), 0, 0), 1);
    assert.equal(r.lookup(parseIpv6('2001:db9::1'), 0, 0), -1);
    assert.equal(r.lookup(parseIpv6('2001:db9::1'), 0, 5), 0);
  });
});
