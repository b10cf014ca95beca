// Bad input never throws: every capture in the corpus, then thousands of
// mutated packets, through both directions. Every drop is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Nat66 } from '../../src/nat/nat66.js';
import { DROP_REASON_COUNT, DROP_REASON_NAMES } from '../../src/nat/drop.js';
import { capturesDir } from '../support/paths.js';
import { loadPackets } from './support.js';

function permissive(): Nat66 {
  // Nearly every address is "inside"; 3000::/4 holds the external address.
  return new Nat66({
    networks: [{
      name: 'all', insideSubnets: ['::/3', '2000::/4', '4000::/2', '8000::/1'], externalAddresses: ['3fff::1'],
      filtering: 'endpoint-independent',
    }],
    capacity: 4096,
    seed: 3,
  });
}

test('drop reason names cover every code', () => {
  assert.equal(DROP_REASON_NAMES.length, DROP_REASON_COUNT);
  assert.equal(new Set(DROP_REASON_NAMES).size, DROP_REASON_COUNT);
});

test('every capture in the corpus, both directions: integer verdicts, drops counted, no throw', () => {
  const files = readdirSync(capturesDir).filter((f) => /\.pcap(ng)?$/.test(f));
  assert.ok(files.length >= 40);
  let total = 0;
  for (const file of files) {
    let packets: Uint8Array[];
    try { packets = loadPackets(file); } catch { continue; }
    const nat = permissive();
    let dropped = 0;
    for (const p of packets) {
      for (const dir of [0, 1]) {
        const buf = p.slice();
        // The second time from 3f00::/8, outside every inside subnet: the engine takes it inbound.
        if (dir === 1 && buf.length > 8) buf[8] = 0x3f;
        const v = nat.translate(buf, 0, buf.length, total);
        assert.ok(Number.isInteger(v) && v >= -DROP_REASON_COUNT && v <= 2, `${file}: verdict ${v}`);
        if (v < 0) dropped++;
        total++;
      }
    }
    const counted = nat.drops.reduce((a, b) => a + b, 0);
    assert.equal(counted, dropped, `${file}: drops ${counted} counted for ${dropped} dropped packets`);
  }
});

test('mutated packets (bit flips, truncation, length lies) never throw', () => {
  const seeds = [
    ...loadPackets('zeek__communityid-icmp6.pcap'),
    ...loadPackets('zeek__ipv6-fragmented-dns.pcap'),
    ...loadPackets('suricata-verify__frag-ip-tcp.pcap'),
    ...loadPackets('zeek__icmp6-destunreach-ip6ext-udp.pcap'),
    ...loadPackets('suricata-verify__community-id-ipv6.pcap').slice(0, 10),
  ];
  const nat = permissive();
  let s = 0x12345678;
  const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (let round = 0; round < 20_000; round++) {
    const base = seeds[rnd() % seeds.length];
    const buf = new Uint8Array(base.length + 16);
    buf.set(base);
    const flips = 1 + (rnd() % 4);
    for (let f = 0; f < flips; f++) buf[rnd() % Math.min(buf.length, 120)] ^= 1 << (rnd() % 8);
    const len = rnd() % 5 === 0 ? rnd() % (base.length + 1) : base.length;
    if (rnd() & 1) buf[8] = 0x3f; // from outside the inside subnets: inbound
    const v = nat.translate(buf, 0, len, round);
    assert.ok(Number.isInteger(v));
    if (round % 1000 === 0) nat.expire(round);
  }
});
