// IPv6 and MAC addresses: tests, comparison and copying over (buf, off)
// (hot path, no allocation), and text formatting/parsing (control plane and
// decode only: these build strings and arrays).
//
//  Solicited-node multicast (RFC 4291 §2.7.1):  ff02::1:ffXX:XXXX, where
//  XX:XXXX are the low 24 bits of the unicast/anycast address.
//  IPv6 multicast over Ethernet (RFC 2464 §7): 33:33 + the low 32 bits.
//
// Text form is RFC 5952 (lower case, longest zero run compressed, first one
// on a tie, never a single group), with the embedded-IPv4 exceptions of
// glibc's inet_ntop so output matches `tcpdump -n`: ::ffff:a.b.c.d and
// ::a.b.c.d (when the first 96 bits are zero and the next 16 are not).

import { ConfigError } from '../errors.js';

export const ADDRESS_LEN = 16;
export const MAC_LEN = 6;

export function isMulticast(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xff;
}

export function isUnspecified(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < ADDRESS_LEN; i++) if (buf[off + i] !== 0) return false;
  return true;
}

export function isLoopback(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < ADDRESS_LEN - 1; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 15] === 1;
}

/** fe80::/10 */
export function isLinkLocal(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0xfe && (buf[off + 1] & 0xc0) === 0x80;
}

/** ff02::1:ff00:0/104 */
export function isSolicitedNodeMulticast(buf: Uint8Array, off: number): boolean {
  if (buf[off] !== 0xff || buf[off + 1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (buf[off + i] !== 0) return false;
  return buf[off + 11] === 0x01 && buf[off + 12] === 0xff;
}

/** Whether the solicited-node group at groupOff is the one for the address at addrOff. */
export function isSolicitedNodeFor(group: Uint8Array, groupOff: number, addr: Uint8Array, addrOff: number): boolean {
  return isSolicitedNodeMulticast(group, groupOff) &&
    group[groupOff + 13] === addr[addrOff + 13] &&
    group[groupOff + 14] === addr[addrOff + 14] &&
    group[groupOff + 15] === addr[addrOff + 15];
}

/** Write the solicited-node group of the address at addrOff into out at outOff. */
export function writeSolicitedNode(addr: Uint8Array, addrOff: number, out: Uint8Array, outOff: number): void {
  out[outOff] = 0xff;
  out[outOff + 1] = 0x02;
  for (let i = 2; i < 11; i++) out[outOff + i] = 0;
  out[outOff + 11] = 0x01;
  out[outOff + 12] = 0xff;
  out[outOff + 13] = addr[addrOff + 13];
  out[outOff + 14] = addr[addrOff + 14];
  out[outOff + 15] = addr[addrOff + 15];
}

/** Write the Ethernet multicast MAC (33:33:xx:xx:xx:xx) for the multicast address at addrOff. */
export function writeMulticastMac(addr: Uint8Array, addrOff: number, out: Uint8Array, outOff: number): void {
  out[outOff] = 0x33;
  out[outOff + 1] = 0x33;
  out[outOff + 2] = addr[addrOff + 12];
  out[outOff + 3] = addr[addrOff + 13];
  out[outOff + 4] = addr[addrOff + 14];
  out[outOff + 5] = addr[addrOff + 15];
}

export function copyAddress(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  for (let i = 0; i < ADDRESS_LEN; i++) dst[dstOff + i] = src[srcOff + i];
}

export function copyMac(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number): void {
  for (let i = 0; i < MAC_LEN; i++) dst[dstOff + i] = src[srcOff + i];
}

export function equalAddress(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < ADDRESS_LEN; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

export function equalMac(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < MAC_LEN; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** Byte-wise order: negative, 0 or positive like a sort comparator. */
export function compareAddress(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): number {
  for (let i = 0; i < ADDRESS_LEN; i++) {
    const d = a[aOff + i] - b[bOff + i];
    if (d !== 0) return d;
  }
  return 0;
}

/** Whether the first prefixLen bits of the address equal those of the prefix. */
export function matchesPrefix(addr: Uint8Array, addrOff: number, prefix: Uint8Array, prefixOff: number, prefixLen: number): boolean {
  const whole = prefixLen >> 3;
  for (let i = 0; i < whole; i++) if (addr[addrOff + i] !== prefix[prefixOff + i]) return false;
  const rest = prefixLen & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[addrOff + whole] & mask) === (prefix[prefixOff + whole] & mask);
}

/** A copy of the address with the bits past the first `length` cleared (the network of address/length). */
export function clearHostBits(addr: Uint8Array, length: number): Uint8Array {
  const out = addr.slice(0, ADDRESS_LEN);
  for (let bit = length; bit < 128; bit++) out[bit >> 3] &= ~(0x80 >> (bit & 7));
  return out;
}

/**
 * Whether two prefixes in text ("2001:db8::/48"; a bare address is a /128)
 * share an address, i.e. the shorter one holds the longer. Throws ConfigError.
 */
export function prefixesOverlap(a: string, b: string): boolean {
  const x = parseIpv6Prefix(a);
  const y = parseIpv6Prefix(b);
  return matchesPrefix(x.address, 0, y.address, 0, Math.min(x.length, y.length));
}

/** RFC 5952 text of the 16 bytes at off (as `tcpdump -n` prints). */
export function formatIpv6(buf: Uint8Array, off: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((buf[off + 2 * i] << 8) | buf[off + 2 * i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const v4 = (w6: number, w7: number) => `${w6 >> 8}.${w6 & 0xff}.${w7 >> 8}.${w7 & 0xff}`;
  if (bestStart === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
    return (bestLen === 5 ? '::ffff:' : '::') + v4(words[6], words[7]);
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += '::';
      i += bestLen - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += words[i].toString(16);
  }
  return text;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse IPv6 text (RFC 4291 §2.2 forms, incl. embedded IPv4; no zone, no prefix); undefined when invalid. */
export function tryParseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : [];
  const words: number[] = [];
  const parsePart = (parts: string[], allowV4Last: boolean): number[] | undefined => {
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (HEX_GROUP.test(part)) { out.push(parseInt(part, 16)); continue; }
      const m = allowV4Last && i === parts.length - 1 ? DOTTED.exec(part) : null;
      if (m === null) return undefined;
      const b = [m[1], m[2], m[3], m[4]].map(Number);
      if (b.some((x, k) => x > 255 || (m[k + 1].length > 1 && m[k + 1][0] === '0'))) return undefined;
      out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    }
    return out;
  };
  const hw = parsePart(head, halves.length === 1);
  const tw = parsePart(tail, true);
  if (hw === undefined || tw === undefined) return undefined;
  if (halves.length === 1) {
    if (hw.length !== 8) return undefined;
    words.push(...hw);
  } else {
    const zeros = 8 - hw.length - tw.length;
    if (zeros < 1) return undefined;
    words.push(...hw, ...new Array<number>(zeros).fill(0), ...tw);
  }
  const out = new Uint8Array(ADDRESS_LEN);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i] >> 8;
    out[2 * i + 1] = words[i] & 0xff;
  }
  return out;
}

/** Parse IPv6 text or throw ConfigError (callers in the config layer add file:line). */
export function parseIpv6(text: string): Uint8Array {
  const addr = tryParseIpv6(text);
  if (addr === undefined) throw new ConfigError(`not an IPv6 address: ${JSON.stringify(text)}`);
  return addr;
}

/** Parse "2001:db8::/64" into the address (host bits kept as written) and the length; throws ConfigError. */
export function parseIpv6Prefix(text: string): { address: Uint8Array; length: number } {
  const slash = text.indexOf('/');
  const lenText = slash < 0 ? '128' : text.slice(slash + 1);
  const address = tryParseIpv6(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined || !/^\d{1,3}$/.test(lenText) || Number(lenText) > 128) {
    throw new ConfigError(`not an IPv6 prefix: ${JSON.stringify(text)}`);
  }
  return { address, length: Number(lenText) };
}

/** "aa:bb:cc:dd:ee:ff" (lower case, two digits per byte, like tcpdump -e). */
export function formatMac(buf: Uint8Array, off: number): string {
  let text = '';
  for (let i = 0; i < MAC_LEN; i++) {
    if (i > 0) text += ':';
    text += buf[off + i].toString(16).padStart(2, '0');
  }
  return text;
}

/** Parse "aa:bb:cc:dd:ee:ff" (or with '-'); undefined when invalid. */
export function tryParseMac(text: string): Uint8Array | undefined {
  const parts = text.split(/[:-]/);
  if (parts.length !== MAC_LEN || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) return undefined;
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** Parse a MAC or throw ConfigError. */
export function parseMac(text: string): Uint8Array {
  const mac = tryParseMac(text);
  if (mac === undefined) throw new ConfigError(`not a MAC address: ${JSON.stringify(text)}`);
  return mac;
}
