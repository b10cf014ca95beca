import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F, HEADER_LEN, check, crc32c, fillChecksum } from '../../src/wire/sctp.js';
import { WireError } from '../../src/wire/error.js';

test('field table and gate: a 12-byte common header, checksum last', () => {
  assert.equal(HEADER_LEN, 12);
  assert.deepEqual([F.SRC_PORT, F.DST_PORT, F.VERIFICATION_TAG, F.CHECKSUM], [0, 2, 4, 8]);
  assert.equal(check(new Uint8Array(12), 0, 11), WireError.Truncated);
  assert.equal(check(new Uint8Array(12), 0, 12), WireError.Ok);
});

test('CRC32c: the RFC 3720 check value, and fillChecksum stores it least significant byte first over a zeroed field', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789'), 0, 9) >>> 0, 0xe3069283);
  const p = new Uint8Array(4 + 16);
  p.set([0x0b, 0x59, 0x0b, 0x59, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 1, 0, 0, 4], 4);
  fillChecksum(p, 4, 16);
  const stored = (p[12] | (p[13] << 8) | (p[14] << 16) | (p[15] << 24)) >>> 0;
  const copy = p.slice(4);
  copy.fill(0, F.CHECKSUM, F.CHECKSUM + 4);
  assert.equal(stored, crc32c(copy, 0, 16) >>> 0);
});
