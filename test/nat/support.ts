// Shared helpers for the NAT66 tests: captures as bare IPv6 packets, and an
// independent "reference world" that rewrites packets the slow, obvious way
// (full checksum recomputation), to compare the translator's output against.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { capturesDir } from '../support/paths.js';
import { readCapture } from '../../src/pcap/reader.js';
import { ipOffset } from '../../src/pcap/linktype.js';
import { walkChain, Ipv6Chain } from '../../src/wire/ipv6-ext.js';
import { parseIpv6, formatIpv6 } from '../../src/wire/address.js';
import { Flag } from '../../src/wire/tcp.js';
import { verifyL4Checksum, fillL4Checksum, updateChecksum, updateChecksumWord } from '../../src/wire/checksum.js';

/** The IPv6 packets of a capture, each copied into its own buffer and cut to its real length. */
export function loadPackets(file: string): Uint8Array[] {
  const cap = readCapture(readFileSync(join(capturesDir, file)));
  const out: Uint8Array[] = [];
  for (const p of cap.packets) {
    const off = ipOffset(p.linktype, p.data);
    if (off < 0 || p.data.length - off < 40 || p.data[off] >> 4 !== 6) continue;
    const len = Math.min(p.data.length - off, 40 + ((p.data[off + 4] << 8) | p.data[off + 5]));
    // A copy as a plain Uint8Array: on a Buffer, slice() would be a view.
    out.push(new Uint8Array(p.data.subarray(off, off + len)));
  }
  return out;
}

export const addr = (text: string): Uint8Array => parseIpv6(text);

export function srcText(p: Uint8Array, off = 0): string {
  return formatIpv6(p, off + 8);
}

export function dstText(p: Uint8Array, off = 0): string {
  return formatIpv6(p, off + 24);
}

export interface L4Info {
  protocol: number;
  l4: number;
  l4len: number;
  fragment: boolean;
  firstFragment: boolean;
  fragmentId: number;
  fragmentOffset: number;
}

export function l4Of(p: Uint8Array, allowTruncated = false): L4Info | undefined {
  const ch = new Ipv6Chain();
  if (walkChain(p, 0, p.length, ch, allowTruncated) !== 0) return undefined;
  return {
    protocol: ch.protocol, l4: ch.l4Offset, l4len: ch.l4Length, fragment: ch.isFragment,
    firstFragment: ch.isFragment && ch.fragmentOffset === 0, fragmentId: ch.fragmentId, fragmentOffset: ch.fragmentOffset,
  };
}

export const TCP = 6;
export const UDP = 17;
export const ICMP6 = 58;

/** Ports (or the echo identifier twice) of a packet, or undefined. */
export function portsOf(p: Uint8Array): { src: number; dst: number } | undefined {
  const i = l4Of(p);
  if (i === undefined || (i.fragment && !i.firstFragment)) return undefined;
  if (i.protocol === TCP || i.protocol === UDP || i.protocol === 132) {
    return { src: (p[i.l4] << 8) | p[i.l4 + 1], dst: (p[i.l4 + 2] << 8) | p[i.l4 + 3] };
  }
  if (i.protocol === ICMP6 && (p[i.l4] === 128 || p[i.l4] === 129)) {
    const id = (p[i.l4 + 4] << 8) | p[i.l4 + 5];
    return { src: id, dst: id };
  }
  return undefined;
}

/** Whether the L4 checksum is right by full recomputation (unfragmented TCP/UDP/ICMPv6 only). */
export function checksumOk(p: Uint8Array): boolean {
  const i = l4Of(p);
  if (i === undefined || i.fragment) return false;
  return verifyL4Checksum(p, 0, i.l4, i.l4len, i.protocol);
}

/** Recompute the L4 checksum of an unfragmented TCP/UDP/ICMPv6 packet in place. */
export function fixChecksum(p: Uint8Array): void {
  const i = l4Of(p);
  if (i === undefined || i.fragment) return;
  if (i.protocol === TCP || i.protocol === UDP || i.protocol === ICMP6) fillL4Checksum(p, 0, i.l4, i.l4len, i.protocol);
}

/**
 * Reference rewrite of an unfragmented packet: set the source and/or
 * destination address and port, then recompute the checksum from scratch.
 */
export function rewrite(p: Uint8Array, change: { src?: Uint8Array; dst?: Uint8Array; sport?: number; dport?: number }): Uint8Array {
  const q = p.slice();
  if (change.src) q.set(change.src, 8);
  if (change.dst) q.set(change.dst, 24);
  const i = l4Of(q)!;
  if (i.protocol === ICMP6) {
    const id = change.sport ?? change.dport;
    if (id !== undefined) { q[i.l4 + 4] = id >> 8; q[i.l4 + 5] = id; }
  } else {
    if (change.sport !== undefined) { q[i.l4] = change.sport >> 8; q[i.l4 + 1] = change.sport; }
    if (change.dport !== undefined) { q[i.l4 + 2] = change.dport >> 8; q[i.l4 + 3] = change.dport; }
  }
  fixChecksum(q);
  return q;
}

/**
 * Reference rewrite of an ICMPv6 error as the other side of the NAT sees it:
 * the outer address on our side, the quoted address and port on our side, the
 * quoted L4 checksum by RFC 1624 (the quote may be cut short) and the outer
 * checksum from scratch.
 */
export function rewriteError(p: Uint8Array, change: {
  outerSrc?: Uint8Array; outerDst?: Uint8Array; quotedSrc?: Uint8Array; quotedDst?: Uint8Array; quotedSport?: number; quotedDport?: number;
}): Uint8Array {
  const q = p.slice();
  const outer = l4Of(q)!;
  const e = outer.l4 + 8;
  const inner = new Ipv6Chain();
  walkChain(q, e, q.length - e, inner, true);
  const il4 = inner.l4Offset;
  const csumAt = inner.protocol === TCP ? il4 + 16 : inner.protocol === UDP ? il4 + 6 : inner.protocol === ICMP6 ? il4 + 2 : -1;
  const hasCsum = csumAt >= 0 && csumAt + 2 <= q.length;
  const udp = inner.protocol === UDP;
  if (change.quotedSrc) {
    if (hasCsum) updateChecksum(q, csumAt, q, e + 8, change.quotedSrc, 0, 16, udp);
    q.set(change.quotedSrc, e + 8);
  }
  if (change.quotedDst) {
    if (hasCsum) updateChecksum(q, csumAt, q, e + 24, change.quotedDst, 0, 16, udp);
    q.set(change.quotedDst, e + 24);
  }
  const echo = inner.protocol === ICMP6;
  const portAt = (which: 0 | 2) => (echo ? il4 + 4 : il4 + which);
  for (const [which, port] of [[0, change.quotedSport], [2, change.quotedDport]] as const) {
    if (port === undefined) continue;
    const at = portAt(which);
    if (hasCsum) updateChecksumWord(q, csumAt, (q[at] << 8) | q[at + 1], port, udp);
    q[at] = port >> 8;
    q[at + 1] = port;
  }
  if (change.outerSrc) q.set(change.outerSrc, 8);
  if (change.outerDst) q.set(change.outerDst, 24);
  fillL4Checksum(q, 0, outer.l4, outer.l4len, ICMP6);
  return q;
}

/** Build a minimal UDP packet (checksum filled). */
export function udpPacket(src: string, sport: number, dst: string, dport: number, payload = 8): Uint8Array {
  const p = new Uint8Array(40 + 8 + payload);
  p[0] = 0x60;
  p[4] = (8 + payload) >> 8; p[5] = 8 + payload;
  p[6] = UDP; p[7] = 64;
  p.set(addr(src), 8);
  p.set(addr(dst), 24);
  p[40] = sport >> 8; p[41] = sport; p[42] = dport >> 8; p[43] = dport;
  p[44] = (8 + payload) >> 8; p[45] = 8 + payload;
  for (let i = 0; i < payload; i++) p[48 + i] = i * 7;
  fixChecksum(p);
  return p;
}

/** Build a minimal TCP packet with the given flags (checksum filled). */
export function tcpPacket(src: string, sport: number, dst: string, dport: number, flags: number, payload = 0): Uint8Array {
  const p = new Uint8Array(40 + 20 + payload);
  p[0] = 0x60;
  p[4] = (20 + payload) >> 8; p[5] = 20 + payload;
  p[6] = TCP; p[7] = 64;
  p.set(addr(src), 8);
  p.set(addr(dst), 24);
  p[40] = sport >> 8; p[41] = sport; p[42] = dport >> 8; p[43] = dport;
  p[44] = 0x12; p[45] = 0x34; p[46] = 0x56; p[47] = 0x78;
  p[52] = 0x50; p[53] = flags; p[54] = 0xff; p[55] = 0xff;
  for (let i = 0; i < payload; i++) p[60 + i] = i;
  fixChecksum(p);
  return p;
}

/** Build an ICMPv6 echo request (128) or reply (129). */
export function echoPacket(src: string, dst: string, type: 128 | 129, id: number, seq = 1): Uint8Array {
  const p = new Uint8Array(40 + 16);
  p[0] = 0x60;
  p[5] = 16;
  p[6] = ICMP6; p[7] = 64;
  p.set(addr(src), 8);
  p.set(addr(dst), 24);
  p[40] = type;
  p[44] = id >> 8; p[45] = id; p[46] = seq >> 8; p[47] = seq;
  fixChecksum(p);
  return p;
}

export const TCP_FIN = Flag.Fin;
export const TCP_SYN = Flag.Syn;
export const TCP_RST = Flag.Rst;
export const TCP_ACK = Flag.Ack;

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Hex of the first differing region, for assertion messages. */
export function diffAt(a: Uint8Array, b: Uint8Array): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const hex = (x: Uint8Array) => Buffer.from(x.subarray(Math.max(0, i - 4), i + 12)).toString('hex');
  return `differs at byte ${i}: got ${hex(a)} want ${hex(b)} (lengths ${a.length}/${b.length})`;
}
