// Real traffic through the NAT: one side of each capture is the inside
// network, its packets go outbound, the other side's come back inbound as the
// world would send them. Every result is compared byte for byte with a
// reference rewrite that recomputes checksums from scratch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { NatDrop } from '../../src/nat/drop.js';
import { Verdict } from '../../src/nat/types.js';
import { partialChecksum } from '../../src/wire/checksum.js';
import {
  loadPackets, addr, srcText, dstText, portsOf, checksumOk, fixChecksum, rewrite, l4Of, equalBytes, diffAt,
  TCP, UDP, ICMP6, TCP_SYN, TCP_ACK,
} from './support.js';

const EXT = '2001:db8:ffff::1';
const EXT_BYTES = addr(EXT);

interface Tally { out: number; in: number; fixed: number; flows: Set<string>; skipped: number; refused: number }

/**
 * Replay a capture whose inside host is `inside`: returns how many packets
 * went each way. `portRange` forces port rewriting when it excludes the
 * capture's ports.
 */
function replay(file: string, inside: string, portRange?: [number, number]): Tally {
  const nat = new Nat66({
    networks: [{ name: 'n', insideSubnets: [`${inside}/128`], externalAddresses: [EXT], portRange }],
    capacity: 1024,
    seed: 7,
  });
  const tally: Tally = { out: 0, in: 0, fixed: 0, flows: new Set(), skipped: 0, refused: 0 };
  let now = 1_000_000;
  for (const original of loadPackets(file)) {
    now += 10;
    const info = l4Of(original);
    if (info === undefined || info.fragment) { tally.skipped++; continue; }
    const ports = portsOf(original);
    const echo = info.protocol === ICMP6 && ports !== undefined;
    if (!(info.protocol === TCP || info.protocol === UDP || echo)) { tally.skipped++; continue; }
    const p = original.slice();
    if (!checksumOk(p)) { fixChecksum(p); tally.fixed++; }
    if (srcText(p) === inside) {
      const buf = p.slice();
      const v = nat.translate(buf, 0, buf.length, now);
      assert.equal(v, Verdict.Forward, `${file}: outbound verdict ${v}`);
      const mapped = portsOf(buf)!;
      if (portRange === undefined || echo) assert.equal(mapped.src, ports!.src, 'port (echo identifier) preserved');
      else assert.ok(mapped.src >= portRange[0] && mapped.src <= portRange[1], 'port in range');
      const want = rewrite(p, { src: EXT_BYTES, sport: mapped.src });
      assert.ok(equalBytes(buf, want), `${file} outbound: ${diffAt(buf, want)}`);
      assert.ok(checksumOk(buf));
      tally.flows.add(`${info.protocol} ${ports!.src} ${dstText(p)} ${ports!.dst}`);
      tally.out++;
    } else if (dstText(p) === inside) {
      // The reply as it arrives from the world: to our external address and port.
      const sessions = nat.listSessions();
      const s = sessions.find((x) => x.remote === srcText(p) && (echo ? x.insidePort === ports!.dst : x.remotePort === ports!.src && x.insidePort === ports!.dst));
      if (s === undefined) {
        // Opened from outside (FTP active mode): no ALG (RFC 4787 REQ-10), so it is refused.
        const wire = rewrite(p, { dst: EXT_BYTES });
        const v = nat.translate(wire, 0, wire.length, now);
        assert.ok(v === -NatDrop.NoMapping || v === -NatDrop.Filtered, `${file}: unsolicited inbound verdict ${v}`);
        tally.refused++;
        continue;
      }
      const wire = rewrite(p, { dst: EXT_BYTES, dport: s.externalPort });
      const buf = wire.slice();
      const v = nat.translate(buf, 0, buf.length, now);
      assert.equal(v, Verdict.Forward, `${file}: inbound verdict ${v}`);
      assert.ok(equalBytes(buf, p), `${file} inbound: ${diffAt(buf, p)}`);
      // The same packet from an unrelated remote, or to an unmapped port, is dropped.
      const stranger = wire.slice();
      stranger[23] ^= 0x5a;
      fixChecksum(stranger);
      assert.equal(nat.translate(stranger, 0, stranger.length, now), -NatDrop.Filtered);
      if (!echo) {
        const otherPort = rewrite(wire, { dport: s.externalPort ^ 0x4000 });
        assert.equal(nat.translate(otherPort, 0, otherPort.length, now), -NatDrop.NoMapping);
      }
      tally.in++;
    } else {
      tally.skipped++;
    }
  }
  return tally;
}

const CASES: Array<[string, string, number]> = [
  ['suricata-verify__http-body-hook-01.pcap', '', 1000],
  ['suricata-verify__community-id-ipv6.pcap', '', 20],
  ['zeek__ftp-ipv6.pcap', '', 50],
  ['zeek__quic-chromium-google-de-fragmented.pcap', '', 100],
  ['zeek__communityid-icmp6.pcap', '3ffe:507:0:1:200:86ff:fe05:80da', 8],
  ['zeek__ipv6-fragmented-dns.pcap', '', 1],
];

/** The inside host: the source of the first TCP SYN, else of the first UDP/echo packet. */
function clientOf(file: string): string {
  const packets = loadPackets(file);
  for (const p of packets) {
    const i = l4Of(p);
    if (i?.protocol === TCP && !i.fragment && (p[i.l4 + 13] & (TCP_SYN | TCP_ACK)) === TCP_SYN) return srcText(p);
  }
  for (const p of packets) {
    const i = l4Of(p);
    if (i?.protocol === UDP || (i?.protocol === ICMP6 && p[i.l4] === 128)) return srcText(p);
  }
  throw new Error(`no client in ${file}`);
}

for (const [file, given, minimum] of CASES) {
  test(`round trip, ports preserved: ${file}`, () => {
    const t = replay(file, given || clientOf(file));
    assert.ok(t.out + t.in >= minimum, `${file}: only ${t.out}+${t.in} packets translated`);
    assert.ok(t.out > 0 && t.in > 0);
  });
  test(`round trip, ports rewritten: ${file}`, () => {
    const t = replay(file, given || clientOf(file), [61000, 61999]);
    assert.ok(t.out + t.in >= minimum);
  });
}

test('round trip counts: every flow of the HTTP, TLS, FTP and QUIC captures', () => {
  const http = replay('suricata-verify__http-body-hook-01.pcap', clientOf('suricata-verify__http-body-hook-01.pcap'));
  assert.equal(http.out + http.in, 2007 - http.skipped);
  const ftp = replay('zeek__ftp-ipv6.pcap', clientOf('zeek__ftp-ipv6.pcap'));
  assert.ok(ftp.flows.size >= 2, 'FTP control and data connections');
  assert.ok(ftp.refused > 0, 'the active-mode data connection from the server is refused');
  const tls = replay('suricata-verify__community-id-ipv6.pcap', clientOf('suricata-verify__community-id-ipv6.pcap'));
  assert.ok(tls.fixed > 0, 'the TLS capture has offloaded (wrong) checksums, normalised first');
});

test('offload super-packet (NEEDS_CSUM): the partial sum follows the new addresses, both ways', () => {
  const [gso] = loadPackets('tcpdump__gso-ipv6.pcap');
  const i = l4Of(gso)!;
  const field = (p: Uint8Array) => (p[i.l4 + 16] << 8) | p[i.l4 + 17];
  assert.equal(field(gso), partialChecksum(gso, 0, i.l4len, TCP), 'the capture holds the partial pseudo-header sum');
  const inside = srcText(gso);
  for (const range of [undefined, [61000, 61999] as [number, number]]) {
    const nat = new Nat66({ networks: [{ name: 'n', insideSubnets: [`${inside}/128`], externalAddresses: [EXT], portRange: range }], seed: 3 });
    const out = gso.slice();
    assert.equal(nat.translate(out, 0, out.length, 5000, true), Verdict.Forward);
    assert.equal(srcText(out), EXT);
    assert.equal(field(out), partialChecksum(out, 0, i.l4len, TCP), 'partial sum for the new source; the port is not in it');
    // Back in: a super-packet towards the inside (GRO on the world side) with the roles swapped.
    const reply = gso.slice();
    reply.set(gso.subarray(24, 40), 8);
    reply.set(EXT_BYTES, 24);
    const sport = (out[i.l4] << 8) | out[i.l4 + 1];
    reply[i.l4] = reply[i.l4 + 2]; reply[i.l4 + 1] = reply[i.l4 + 3];
    reply[i.l4 + 2] = sport >> 8; reply[i.l4 + 3] = sport;
    reply[i.l4 + 13] = TCP_ACK;
    const pf = partialChecksum(reply, 0, i.l4len, TCP);
    reply[i.l4 + 16] = pf >> 8; reply[i.l4 + 17] = pf;
    assert.equal(nat.translate(reply, 0, reply.length, 5001, true), Verdict.Forward);
    assert.equal(dstText(reply), inside);
    assert.equal(field(reply), partialChecksum(reply, 0, i.l4len, TCP));
  }
});
