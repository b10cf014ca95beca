import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyRing } from '../../src/service/latency.js';

test('latency ring: nearest-rank quantiles over the last N samples', () => {
  const r = new LatencyRing(100);
  assert.ok(Number.isNaN(r.quantile(0.5)));
  for (let i = 1; i <= 100; i++) r.add(i);
  assert.equal(r.quantile(0.5), 50);
  assert.equal(r.quantile(0.99), 99);
  assert.equal(r.quantile(1), 100);
  for (let i = 0; i < 50; i++) r.add(1000);
  assert.equal(r.count, 100);
  assert.equal(r.total, 150);
  assert.equal(r.quantile(0.5), 100);
  assert.equal(r.quantile(0.51), 1000);
});
