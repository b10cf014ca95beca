import { test } from 'node:test';
import assert from 'node:assert/strict';
import { portBlocks, steeringLines } from '../../src/host/steering.js';
import { parseIpv6 } from '../../src/wire/address.js';
import { SIXGATE_TC_PRIORITY } from '../../src/host/tags.js';

function covered(blocks: Array<[number, number]>): number[] {
  const out: number[] = [];
  for (let p = 0; p < 65536; p++) if (blocks.some(([v, m]) => (p & m) === v)) out.push(p);
  return out;
}

test('port ranges become exact value/mask blocks', () => {
  assert.deepEqual(portBlocks(61440, 65535), [[61440, 0xf000]]);
  assert.deepEqual(portBlocks(8080, 8080), [[8080, 0xffff]]);
  for (const [lo, hi] of [[61000, 61999], [1, 65535], [1024, 1030], [0, 0]] as const) {
    const got = covered(portBlocks(lo, hi));
    assert.equal(got.length, hi - lo + 1, `${lo}-${hi}`);
    assert.equal(got[0], lo);
    assert.equal(got.at(-1), hi);
  }
  assert.ok(portBlocks(61000, 61999).length <= 16);
});

test('steering lines: u32 matches on the host address and ports, mirred into the TUN, at sixgate\'s pref', () => {
  const lines = steeringLines({ dev: 'up0', direction: 'ingress', specs: [{ address: parseIpv6('2001:db8:1::2'), ports: [{ protocol: 6, lo: 8080, hi: 8080 }], icmpTypes: [1, 2, 3, 4, 129] }] }, 'sixgate0');
  assert.equal(lines[0], `filter add dev up0 ingress pref ${SIXGATE_TC_PRIORITY} protocol ipv6 u32 match ip6 dst 2001:db8:1::2/128 ` +
    'match ip6 protocol 6 0xff match ip6 dport 0x1f90 0xffff action mirred egress redirect dev sixgate0');
  // ICMPv6 errors and echo replies to the host address are steered too.
  assert.equal(lines.filter((l) => l.includes('protocol 58')).length, 5);
});

test('steering lines for locally originated traffic: lo\'s egress, and a published container\'s answers to the host by source', () => {
  const [line] = steeringLines({ dev: 'lo', direction: 'egress', specs: [{ address: parseIpv6('2001:db8:1::2'), ports: [{ protocol: 17, lo: 53, hi: 53 }] }] }, 'sixgate0');
  assert.match(line!, /^filter add dev lo egress pref \d+ protocol ipv6 u32 match ip6 dst 2001:db8:1::2\/128 match ip6 protocol 17 0xff match ip6 dport 0x35 0xffff /);
  const lines = steeringLines({ dev: 'br0', direction: 'ingress', specs: [{ address: parseIpv6('2001:db8:1::2'), ports: [], from: [{ protocol: 6, address: parseIpv6('fd66:1::2'), port: 80 }] }] }, 'sixgate0');
  assert.deepEqual(lines.map((l) => l.replace(/ action .*/, '')), [`filter add dev br0 ingress pref ${SIXGATE_TC_PRIORITY} protocol ipv6 u32 ` +
    'match ip6 dst 2001:db8:1::2/128 match ip6 src fd66:1::2/128 match ip6 protocol 6 0xff match ip6 sport 0x50 0xffff']);
});
