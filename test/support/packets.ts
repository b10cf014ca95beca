// Minimal packet builders for I/O tests: just enough IPv6/UDP/ICMPv6/NS to
// drive the kernel from the far side of a TUN or veth. Independent of
// src/wire on purpose, so a bug there cannot hide a bug in the I/O layer.
import { isIPv6 } from 'node:net';

/** 16 bytes of an IPv6 address (full or :: compressed; no zone). */
export function ip6(text: string): Uint8Array {
  if (!isIPv6(text)) throw new Error(`not an IPv6 address: ${text}`);
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export function ip6Text(b: Uint8Array, off = 0): string {
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(((b[off + i * 2] << 8) | b[off + i * 2 + 1]).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** Solicited-node multicast group of `target` (ff02::1:ffXX:XXXX). */
export function solicitedNode(target: Uint8Array): Uint8Array {
  const g = ip6('ff02::1:ff00:0');
  g.set(target.subarray(13, 16), 13);
  return g;
}

function sum16(b: Uint8Array, off: number, len: number, acc: number): number {
  for (let i = 0; i + 1 < len; i += 2) acc += (b[off + i] << 8) | b[off + i + 1];
  if (len & 1) acc += b[off + len - 1] << 8;
  return acc;
}

/** The upper-layer checksum over the IPv6 pseudo-header (RFC 8200 §8.1). */
export function l4Checksum(src: Uint8Array, dst: Uint8Array, proto: number, b: Uint8Array, off: number, len: number): number {
  let acc = sum16(src, 0, 16, 0);
  acc = sum16(dst, 0, 16, acc);
  acc += len + proto;
  acc = sum16(b, off, len, acc);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

/** Writes an IPv6 header at `off`. */
export function ipv6Header(b: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array, nextHeader: number,
  payloadLen: number, hopLimit: number): void {
  b[off] = 0x60; b[off + 1] = 0; b[off + 2] = 0; b[off + 3] = 0;
  b[off + 4] = payloadLen >> 8; b[off + 5] = payloadLen & 0xff;
  b[off + 6] = nextHeader; b[off + 7] = hopLimit;
  b.set(src, off + 8);
  b.set(dst, off + 24);
}

/** IPv6 + UDP + payload at `off`; returns the packet length. */
export function udp6Packet(b: Uint8Array, off: number, src: Uint8Array, dst: Uint8Array, sport: number, dport: number,
  payload: Uint8Array): number {
  const ulen = 8 + payload.length;
  ipv6Header(b, off, src, dst, 17, ulen, 64);
  const u = off + 40;
  b[u] = sport >> 8; b[u + 1] = sport & 0xff; b[u + 2] = dport >> 8; b[u + 3] = dport & 0xff;
  b[u + 4] = ulen >> 8; b[u + 5] = ulen & 0xff; b[u + 6] = 0; b[u + 7] = 0;
  b.set(payload, u + 8);
  const c = l4Checksum(src, dst, 17, b, u, ulen) || 0xffff;
  b[u + 6] = c >> 8; b[u + 7] = c & 0xff;
  return 40 + ulen;
}

/** An NS body (ICMPv6 header first) with a source link-layer address option; checksum left 0 for the kernel. */
export function nsMessage(b: Uint8Array, off: number, target: Uint8Array, sllao: Uint8Array): number {
  b.fill(0, off, off + 32);
  b[off] = 135;
  b.set(target, off + 8);
  b[off + 24] = 1; b[off + 25] = 1;
  b.set(sllao, off + 26);
  return 32;
}

/**
 * A whole Ethernet frame carrying an NS from `srcIp`/`srcMac` to the
 * solicited-node group of `target`, optionally behind one hop-by-hop header
 * (PadN only). Returns the frame length.
 */
export function nsFrame(b: Uint8Array, off: number, srcMac: Uint8Array, srcIp: Uint8Array, target: Uint8Array,
  hopLimit: number, hopByHop = false): number {
  const dst = solicitedNode(target);
  b[off] = 0x33; b[off + 1] = 0x33; b.set(dst.subarray(12, 16), off + 2);
  b.set(srcMac, off + 6);
  b[off + 12] = 0x86; b[off + 13] = 0xdd;
  const ext = hopByHop ? 8 : 0;
  ipv6Header(b, off + 14, srcIp, dst, hopByHop ? 0 : 58, ext + 32, hopLimit);
  const h = off + 54;
  if (hopByHop) {
    b[h] = 58; b[h + 1] = 0; b[h + 2] = 1; b[h + 3] = 4; b.fill(0, h + 4, h + 8);
  }
  const icmp = h + ext;
  nsMessage(b, icmp, target, srcMac);
  const c = l4Checksum(srcIp, dst, 58, b, icmp, 32);
  b[icmp + 2] = c >> 8; b[icmp + 3] = c & 0xff;
  return 54 + ext + 32;
}

/**
 * The IPv6 packet at `ipOff` in `frame` (its link header kept in front) made
 * an RFC 2675 jumbogram: payload length 0, a Hop-by-Hop header holding a
 * Jumbo Payload option, and the payload padded with zeros past 65535 bytes.
 */
export function jumbogram(frame: Uint8Array, ipOff: number): Uint8Array {
  const payload = frame.subarray(ipOff + 40);
  const jumboLength = 8 + Math.max(payload.length, 65536);
  const out = new Uint8Array(ipOff + 40 + jumboLength);
  out.set(frame.subarray(0, ipOff + 40));
  out.set(payload, ipOff + 48);
  const next = frame[ipOff + 6]!;
  out[ipOff + 4] = 0; out[ipOff + 5] = 0; out[ipOff + 6] = 0;
  out.set([next, 0, 0xc2, 4, jumboLength >>> 24, (jumboLength >> 16) & 0xff, (jumboLength >> 8) & 0xff, jumboLength & 0xff], ipOff + 40);
  return out;
}
