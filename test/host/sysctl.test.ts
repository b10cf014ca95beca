import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coversRange, formatPortList, parsePortList, readSysctl } from '../../src/host/sysctl.js';

test('reserved port lists parse, merge and format like the kernel prints them', () => {
  assert.deepEqual(parsePortList('8080,61000-61999, 50000-50010'), [[8080, 8080], [61000, 61999], [50000, 50010]]);
  assert.deepEqual(parsePortList(''), []);
  assert.deepEqual(parsePortList('x,5-3,7'), [[7, 7]]);
  assert.equal(formatPortList([[61000, 61499], [61500, 61999], [8080, 8080]]), '8080,61000-61999');
  assert.equal(formatPortList([]), '');
});

test('coversRange', () => {
  assert.equal(coversRange([[61000, 61499], [61500, 61999]], 61000, 61999), true);
  assert.equal(coversRange([[61000, 61499]], 61000, 61999), false);
  assert.equal(coversRange([], 1, 1), false);
});

test('readSysctl: a missing key is undefined, a bad key throws', () => {
  assert.equal(readSysctl('net.ipv6.conf.no-such-if.forwarding'), undefined);
  assert.throws(() => readSysctl('net/../../etc/passwd'), RangeError);
});
