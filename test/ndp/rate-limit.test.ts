// TargetBuckets: the hashed, set-associative memory of targets behind the
// per-target rate limits. A flood of new keys only ever replaces keys seen
// once; a key seen twice is forgotten by time alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TargetBuckets } from '../../src/ndp/rate-limit.js';
import { ip } from './fixtures.js';

test('a flood of new keys never evicts a key seen twice, and fills only what it frees', () => {
  const t = new TargetBuckets(64, { rate: 10, burst: 5 }, 60_000, 7);
  const member = ip('2001:db8:2::a');
  const e = t.claim(0, member, 0, 0);
  assert.ok(e >= 0);
  t.touch(e, 1);
  const key = ip('2001:db8:2::');
  for (let i = 1; i <= 10_000; i++) {
    key[14] = i >> 8; key[15] = i;
    t.claim(0, key, 0, 2 + i);
  }
  assert.equal(t.find(0, member, 0, 20_000), e, 'still remembered');
  assert.equal(t.find(0, member, 0, 61_002), -1, 'forgotten once not seen for the memory time');
});

test('each key has its own bucket; tags keep equal addresses apart', () => {
  const t = new TargetBuckets(64, { rate: 10, burst: 5 }, 60_000, 7);
  const a = t.claim(0, ip('2001:db8:2::a'), 0, 0);
  const b = t.claim(0, ip('2001:db8:2::b'), 0, 0);
  const other = t.claim(1, ip('2001:db8:2::a'), 0, 0);
  assert.equal(new Set([a, b, other]).size, 3);
  for (let i = 0; i < 5; i++) assert.equal(t.take(a, 0), true);
  assert.equal(t.take(a, 0), false, 'a spent its burst');
  assert.equal(t.take(b, 0), true, 'b has its own');
  assert.equal(t.take(a, 100), true, 'refills at 10/s');
});

test('a set full of keys seen twice refuses a newcomer', () => {
  const t = new TargetBuckets(4, { rate: 0, burst: 0 }, 60_000, 7); // one set of four ways
  const key = ip('2001:db8:2::');
  for (let i = 1; i <= 4; i++) {
    key[15] = i;
    t.touch(t.claim(0, key, 0, 0), 0);
  }
  key[15] = 9;
  assert.equal(t.claim(0, key, 0, 1), -1);
  assert.ok(t.claim(0, key, 0, 60_001) >= 0, 'once the others are forgotten');
});
