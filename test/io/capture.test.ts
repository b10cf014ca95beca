// The capture tap on its own: what it takes (drops only, one reason, or
// everything), what it does when full (counts, keeps what it has), and that
// a drain empties it and a stop frees it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANY_REASON, CaptureTap, NO_REASON, NOT_DROPPED } from '../../src/io/capture.js';

const packet = (fill: number, len = 100): Uint8Array => new Uint8Array(len).fill(fill);

test('idle, a tap takes nothing; started, it takes what the settings ask for', () => {
  const tap = new CaptureTap();
  assert.equal(tap.active, false);
  tap.start({ dropsOnly: true, want: 7 });
  assert.equal(tap.offer(packet(1), 0, 100, 0, NOT_DROPPED, 0, 1), -1, 'kept packets are not drops');
  assert.equal(tap.offer(packet(2), 0, 100, 0, 8, 0, 2), -1, 'another reason');
  assert.equal(tap.offer(packet(3), 10, 50, 2, 7, 5, 3.5), 0);
  const [p] = tap.drain();
  assert.deepEqual({ ...p, data: [...p!.data] }, { data: [...packet(3, 50)], iface: 2, reason: 7, note: 5, stamp: 3.5 });
  assert.deepEqual(tap.drain(), [], 'a drain empties it');
  tap.stop();
  tap.start({ dropsOnly: false, want: ANY_REASON });
  assert.equal(tap.offer(packet(1), 0, 100, 0, NOT_DROPPED, 0, 1), 0);
  const r = tap.offer(packet(2), 0, 100, 0, NOT_DROPPED, 0, 1);
  tap.settle(r, 9, 3);
  assert.deepEqual(tap.drain().map((x) => [x.reason, x.note]), [[NOT_DROPPED, 0], [9, 3]]);
  tap.start({ dropsOnly: true, want: NO_REASON });
  assert.equal(tap.offer(packet(1), 0, 100, 0, 3, 0, 1), -1, 'a reason this component does not have: nothing');
});

test('a full tap counts what it cannot keep and keeps what it has', () => {
  const tap = new CaptureTap();
  tap.start({ dropsOnly: true, want: ANY_REASON, bytes: 250, records: 10 });
  for (let i = 0; i < 5; i++) tap.offer(packet(i), 0, 100, 0, 1, 0, i);
  assert.equal(tap.lost, 3, 'two fit in 250 bytes');
  assert.deepEqual(tap.drain().map((p) => p.data[0]), [0, 1]);
  tap.start({ dropsOnly: true, want: ANY_REASON, bytes: 10_000, records: 2 });
  for (let i = 0; i < 3; i++) tap.offer(packet(i, 10), 0, 10, 0, 1, 0, i);
  assert.equal(tap.lost, 1, 'out of records');
  tap.stop();
  assert.equal(tap.active, false);
  assert.deepEqual(tap.drain(), []);
});
