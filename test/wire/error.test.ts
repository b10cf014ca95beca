import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WireError, wireErrorName, WIRE_ERROR_COUNT, WIRE_ERROR_NAMES } from '../../src/wire/error.js';

test('codes are dense from 0 and each has a kebab-case name', () => {
  const codes = Object.values(WireError).sort((a, b) => a - b);
  assert.deepEqual(codes, Array.from({ length: WIRE_ERROR_COUNT }, (_, i) => i));
  assert.equal(WIRE_ERROR_NAMES.length, WIRE_ERROR_COUNT);
  for (const name of WIRE_ERROR_NAMES) assert.match(name, /^[a-z0-9]+(-[a-z0-9]+)*$/);
  assert.equal(new Set(WIRE_ERROR_NAMES).size, WIRE_ERROR_COUNT);
});

test('names match the constant names', () => {
  for (const [key, code] of Object.entries(WireError)) {
    const kebab = key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
    assert.equal(wireErrorName(code), kebab);
  }
  assert.equal(wireErrorName(WireError.BadOptionLength), 'bad-option-length');
  assert.equal(wireErrorName(WireError.Truncated), 'truncated');
});

test('codes defined by engines (>= WIRE_ERROR_COUNT) get a placeholder name', () => {
  assert.equal(wireErrorName(WIRE_ERROR_COUNT), `unknown-${WIRE_ERROR_COUNT}`);
  assert.equal(wireErrorName(-1), 'unknown--1');
});
