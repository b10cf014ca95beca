import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as opt from '../../src/wire/ndp-option.js';
import { WireError } from '../../src/wire/error.js';
import { hex, placed } from './corpus.js';

const SLLA = '0101 0011 2233 4455';
const MTU = '0501 0000 000005dc';
const PREFIX = '0304 40c0 00278d00 00093a80 00000000 20010db8000000010000000000000000';
const UNKNOWN = '1903 0000 00000e10 20010db8000000000000000000000053';
const NONCE = '0e01 6069 604c 0aaa';

function area(text: string, at = 3): { buf: Uint8Array; off: number; end: number } {
  const bytes = hex(text);
  return { buf: placed(bytes, at, 5), off: at, end: at + bytes.length };
}

test('a well-formed option area, unknown types skipped', () => {
  const { buf, off, end } = area(SLLA + MTU + UNKNOWN + PREFIX + NONCE);
  assert.equal(opt.checkOptions(buf, off, end), WireError.Ok);
  const slla = opt.findOption(buf, off, end, opt.OptionType.SourceLinkAddr);
  assert.equal(slla, off);
  assert.equal(opt.optionType(buf, slla), 1);
  assert.equal(opt.optionLength(buf, slla), 8);
  assert.deepEqual(buf.subarray(opt.linkAddrOffset(slla), opt.linkAddrOffset(slla) + 6), hex('001122334455'));
  assert.equal(opt.mtu(buf, opt.findOption(buf, off, end, opt.OptionType.Mtu)), 1500);
  const pi = opt.findOption(buf, off, end, opt.OptionType.PrefixInformation);
  assert.equal(pi, off + 8 + 8 + 24);
  assert.equal(opt.prefixLength(buf, pi), 64);
  assert.equal(opt.prefixFlags(buf, pi), opt.PrefixFlag.OnLink | opt.PrefixFlag.Autonomous);
  assert.equal(opt.validLifetime(buf, pi), 2592000);
  assert.equal(opt.preferredLifetime(buf, pi), 604800);
  assert.deepEqual(buf.subarray(opt.prefixOffset(pi), opt.prefixOffset(pi) + 8), hex('20010db800000001'));
  assert.equal(opt.findOption(buf, off, end, opt.OptionType.Nonce), end - 8);
  assert.equal(opt.findOption(buf, off, end, opt.OptionType.TargetLinkAddr), -1);
  assert.equal(opt.checkOptions(buf, off, off), WireError.Ok, 'no options at all');
});

test('length 0 is BadOptionLength (it would loop forever)', () => {
  const { buf, off, end } = area(SLLA + '0200 0000 00000000');
  assert.equal(opt.checkOptions(buf, off, end), WireError.BadOptionLength);
  assert.equal(opt.findOption(buf, off, end, 99), -1, 'findOption stops too');
});

test('an option running past the area is BadOptionLength', () => {
  const { buf, off, end } = area(SLLA + '0102 0011 2233 4455');
  assert.equal(opt.checkOptions(buf, off, end), WireError.BadOptionLength);
  const odd = area(SLLA + '01');
  assert.equal(opt.checkOptions(odd.buf, odd.off, odd.end), WireError.BadOptionLength);
  const cut = area(SLLA + '0101 0011');
  assert.equal(opt.checkOptions(cut.buf, cut.off, cut.end), WireError.BadOptionLength);
});

test('fixed-size options with the wrong length are BadOptionLength', () => {
  const shortPrefix = area('0303 40c0 00278d00 00093a80 00000000 20010db800000001');
  assert.equal(opt.checkOptions(shortPrefix.buf, shortPrefix.off, shortPrefix.end), WireError.BadOptionLength);
  const longMtu = area('0502 0000 000005dc 0000000000000000');
  assert.equal(opt.checkOptions(longMtu.buf, longMtu.off, longMtu.end), WireError.BadOptionLength);
  const longSlla = area('0102 0011 2233 4455 0000000000000000');
  assert.equal(opt.checkOptions(longSlla.buf, longSlla.off, longSlla.end), WireError.Ok, 'longer link-layer addresses are allowed');
});

test('writers emit every byte', () => {
  const buf = new Uint8Array(20).fill(0xff);
  assert.equal(opt.writeLinkAddr(buf, 2, opt.OptionType.TargetLinkAddr, hex('ffff001122334455'), 2), 8);
  assert.equal(opt.writeNonce(buf, 10, hex('6069604c0aaa'), 0), 8);
  assert.deepEqual(buf, hex('ffff 0201 0011 2233 4455 0e01 6069 604c 0aaa ffff'));
});
