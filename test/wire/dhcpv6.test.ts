// DHCPv6 view: check() gates every option length, nested IA_PD and IA Prefix
// options included, so that options() never reads past the message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dhcp from '../../src/wire/dhcpv6.js';
import { WireError } from '../../src/wire/error.js';
import { parseIpv6 } from '../../src/wire/address.js';

function reply(): Uint8Array {
  const b = new Uint8Array(256);
  let at = dhcp.writeHeader(b, 0, dhcp.MsgType.Reply, 0xabcdef);
  at = dhcp.writeOption(b, at, dhcp.Option.ServerId, Uint8Array.of(0, 2, 0, 0, 9, 0xbf));
  at = dhcp.writeIaPd(b, at, 1, 10, 20, [{ prefix: parseIpv6('2001:db8:a00::'), length: 56, preferred: 30, valid: 40 }]);
  return b.slice(0, at);
}

test('a Reply built here reads back: header, options, IA_PD and its prefix', () => {
  const m = reply();
  assert.equal(dhcp.check(m, 0, m.length), WireError.Ok);
  assert.equal(dhcp.msgType(m, 0), dhcp.MsgType.Reply);
  assert.equal(dhcp.transactionId(m, 0), 0xabcdef);
  const codes: number[] = [];
  dhcp.options(m, dhcp.HEADER_LEN, m.length, (code, data, len) => {
    codes.push(code);
    if (code !== dhcp.Option.IaPd) return;
    assert.equal(dhcp.u32(m, data + dhcp.IaPdF.T2), 20);
    dhcp.options(m, data + dhcp.IaPdF.OPTIONS, data + len, (c, d) => {
      assert.equal(c, dhcp.Option.IaPrefix);
      assert.equal(m[d + dhcp.IaPrefixF.PREFIX_LENGTH], 56);
      assert.equal(dhcp.u32(m, d + dhcp.IaPrefixF.VALID), 40);
    });
  });
  assert.deepEqual(codes, [dhcp.Option.ServerId, dhcp.Option.IaPd]);
});

test('every truncation and every corrupted byte is refused or read in bounds, never a throw', () => {
  const m = reply();
  // Cut anywhere but between options (after the header, after the server id), a message is refused.
  for (let len = 0; len < m.length; len++) {
    if (len !== dhcp.HEADER_LEN && len !== dhcp.HEADER_LEN + 10) assert.notEqual(dhcp.check(m, 0, len), WireError.Ok, `truncated to ${len}`);
  }
  for (let i = 0; i < m.length; i++) {
    for (const v of [0, 0x7f, 0xff]) {
      const x = m.slice();
      x[i] = v;
      if (dhcp.check(x, 0, x.length) !== WireError.Ok) continue;
      dhcp.options(x, dhcp.HEADER_LEN, x.length, (_, data, len) => assert.ok(data + len <= x.length));
    }
  }
});
