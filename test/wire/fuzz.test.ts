// 100k random and mutated packets through every gate: nothing throws, and
// whatever a gate accepts stays inside the bytes it was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ethernet from '../../src/wire/ethernet.js';
import * as ipv6 from '../../src/wire/ipv6.js';
import * as tcp from '../../src/wire/tcp.js';
import * as udp from '../../src/wire/udp.js';
import * as icmpv6 from '../../src/wire/icmpv6.js';
import * as ndp from '../../src/wire/ndp.js';
import { Ipv6Chain, walkChain } from '../../src/wire/ipv6-ext.js';
import { verifyL4Checksum, checksumFieldOffset } from '../../src/wire/checksum.js';
import { WireError, WIRE_ERROR_COUNT } from '../../src/wire/error.js';
import { buildNa, buildNs } from '../../src/wire/ndp-build.js';
import { parseIpv6 } from '../../src/wire/address.js';
import { corpusFiles, loadPcap, rng } from './corpus.js';

const INTERESTING = [0, 1, 4, 6, 8, 17, 43, 44, 50, 51, 58, 59, 60, 0x7f, 0x80, 0x86, 0x87, 0x88, 0xfe, 0xff];

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const file of corpusFiles()) {
    // A few packets per file, so the big TCP and QUIC captures do not crowd out the ND ones.
    for (const p of loadPcap(file).slice(0, 40)) if (p.ipOff >= 0 && p.ipLen <= 2000) out.push(p.data.slice(p.ipOff));
  }
  const a = parseIpv6('fe80::1');
  const t = parseIpv6('2001:db8::42');
  const mac = new Uint8Array(6).fill(2);
  const buf = new Uint8Array(128);
  out.push(buf.slice(0, buildNs(buf, 0, a, 0, t, 0, t, 0, mac, 0, mac, 0)));
  out.push(buf.slice(0, buildNa(buf, 0, t, 0, a, 0, t, 0, 0x60, mac, 0)));
  return out;
}

function mutate(seed: Uint8Array, rand: () => number): Uint8Array {
  const pick = rand();
  if (pick < 0.05) return Uint8Array.from({ length: Math.floor(rand() * 120) }, () => Math.floor(rand() * 256));
  let len = seed.length;
  if (pick < 0.3) len = Math.floor(rand() * (seed.length + 1));
  else if (pick < 0.4) len = seed.length + Math.floor(rand() * 64);
  const buf = new Uint8Array(len);
  buf.set(seed.subarray(0, Math.min(len, seed.length)));
  for (let i = seed.length; i < len; i++) buf[i] = Math.floor(rand() * 256);
  const flips = 1 + Math.floor(rand() * 4);
  for (let f = 0; f < flips && len > 0; f++) {
    // Headers matter most: bias positions towards the first 80 bytes.
    const at = Math.floor(rand() < 0.8 ? rand() * Math.min(len, 80) : rand() * len);
    buf[at] = rand() < 0.5 ? INTERESTING[Math.floor(rand() * INTERESTING.length)] : Math.floor(rand() * 256);
  }
  return buf;
}

function isCode(e: number): boolean {
  return Number.isInteger(e) && e >= 0 && e < WIRE_ERROR_COUNT;
}

test('100,000 mutated packets through check, walkChain and parseNd never throw or overrun', () => {
  const rand = rng(2026);
  const pool = seeds();
  const chain = new Ipv6Chain();
  const inner = new Ipv6Chain();
  const stats = new Uint32Array(WIRE_ERROR_COUNT);
  const ndStats = new Uint32Array(WIRE_ERROR_COUNT);
  for (let i = 0; i < 100000; i++) {
    const buf = mutate(pool[i % pool.length], rand);
    const len = buf.length;
    assert.ok(isCode(ethernet.check(buf, 0, len)));
    assert.ok(isCode(ipv6.check(buf, 0, len)));
    const err = walkChain(buf, 0, len, chain, (i & 1) === 1);
    assert.ok(isCode(err));
    stats[err]++;
    if (err === WireError.Ok) {
      assert.ok(chain.l4Offset >= 40 && chain.l4Length >= 0 && chain.l4Offset + chain.l4Length <= len, `chain bounds ${i}`);
      assert.ok(chain.pseudoDstOffset + 16 <= len);
      const l4 = chain.l4Offset;
      const l4Len = chain.l4Length;
      if (!chain.isFragment) {
        if (chain.protocol === 6 && tcp.check(buf, l4, l4Len) === WireError.Ok) {
          assert.ok(tcp.headerLength(buf, l4) <= l4Len);
        }
        if (chain.protocol === 17 && udp.check(buf, l4, l4Len) === WireError.Ok) {
          assert.ok(udp.length(buf, l4) <= l4Len);
        }
        const at = checksumFieldOffset(chain.protocol);
        if (at >= 0 && l4Len >= at + 2) verifyL4Checksum(buf, 0, l4, l4Len, chain.protocol, chain.pseudoDstOffset);
        if (chain.protocol === 58 && icmpv6.checkError(buf, l4, l4Len) === WireError.Ok) {
          const e = walkChain(buf, icmpv6.embeddedOffset(l4), l4Len - 8, inner, true);
          assert.ok(isCode(e));
          if (e === WireError.Ok) assert.ok(inner.l4Offset + inner.l4Length <= l4 + l4Len);
        }
        if (chain.protocol === 58) {
          const v = ndp.validate(buf, 0, chain);
          assert.ok(isCode(v));
          ndStats[v]++;
          if (ndp.check(buf, l4, l4Len) === WireError.Ok) assert.ok(ndp.optionsOffset(buf, l4) <= l4 + l4Len);
        }
      }
    }
    const r = ndp.parseNd(buf, 0, len);
    assert.ok(typeof r === 'object' || isCode(r));
  }
  // The mutations reach both the happy path and a spread of refusals.
  if (process.env.WIRE_FUZZ_STATS) process.stderr.write(`${[...stats].join(',')}\n${[...ndStats].join(',')}\n`);
  assert.ok(stats[WireError.Ok] > 10000, `ok ${stats[WireError.Ok]}`);
  assert.ok(stats.filter((n) => n > 0).length >= 5, `reasons seen: ${[...stats].join(',')}`);
  assert.ok(ndStats[WireError.Ok] > 100 && ndStats[WireError.BadOptionLength] > 0 && ndStats[WireError.BadChecksum] > 0,
    `ND reasons seen: ${[...ndStats].join(',')}`);
});
