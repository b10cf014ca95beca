// ICMPv6 errors through the NAT (RFC 5508 §3, RFC 6146 §3.5.4, RFC 5382 REQ-7/8).
//
// An error quotes the packet that caused it, as that packet looked where the
// error was generated. So the session is found from the quoted packet, seen
// backwards: an error going out was caused by a packet that came in (quoted
// source = remote, quoted destination = inside), an error coming in by a
// packet that went out (quoted source = our external address).
//
// Translated: the outer address on our side, the quoted address and port on
// our side, the quoted L4 checksum (RFC 1624, when the quote reaches it; it
// covers the original whole packet, which the incremental update keeps
// consistent) and the outer ICMPv6 checksum (recomputed: the message is at
// most 1280 bytes and every part of it may have changed; it is verified
// first so a corrupt error is never laundered into a valid one).
//
// Errors never create or refresh a session. Packet Too Big may fall back from
// the session to the mapping (filtering aside) because path MTU discovery
// depends on it: IPv6 routers never fragment.

import { walkChain } from '../wire/ipv6-ext.js';
import { F as IP, HEADER_LEN as IP_HEADER_LEN, Protocol } from '../wire/ipv6.js';
import { F as TCP } from '../wire/tcp.js';
import { F as UDP, HEADER_LEN as UDP_HEADER_LEN } from '../wire/udp.js';
import { F as ICMP, HEADER_LEN as ICMP_HEADER_LEN, IcmpType } from '../wire/icmpv6.js';
import { WireError } from '../wire/error.js';
import {
  verifyL4Checksum, fillL4Checksum, ADDRESS_ONES, readAddressWords, writeAddressWords, addressWordsSum, applyChecksumDiff,
} from '../wire/checksum.js';
import type { Ipv6Chain } from '../wire/ipv6-ext.js';
import type { Nat66 } from './nat66.js';
import { NatDrop } from './drop.js';
import { R, REC_WORDS, OWNER_PUBLISHED } from './table.js';
import { ProtoClass, Verdict, NatCounter, Direction } from './types.js';
import { externalIndexOf, inNetwork } from './engine-config.js';
import { nptRewrite, inPrefix } from './nptv6.js';


// The quoted packet's transport fields, filled by parseQuote (one per module, reused).
let qPc = 0;
let qSrcPort = 0;
let qDstPort = 0;
/** Where the quoted source / destination port (or echo identifier) lives. */
let qSrcAt = 0;
let qDstAt = 0;
/** Quoted L4 checksum field, or -1 when it is not in the quote or has no pseudo-header (SCTP). */
let qCsumAt = -1;
let qEcho = false;
const insideScratch = new Uint32Array(4);

// Returns 0, or a drop code. The quote starts at l4 + ICMP.EMBEDDED and ends at `end`.
function parseQuote(nat: Nat66, buf: Uint8Array, l4: number, end: number): number {
  const q = l4 + ICMP.EMBEDDED;
  const inner = nat.inner;
  if (end - q < IP_HEADER_LEN || walkChain(buf, q, end - q, inner, true) !== WireError.Ok) return NatDrop.IcmpErrorMalformed;
  if (inner.isFragment && inner.fragmentOffset !== 0) return NatDrop.IcmpErrorFragmented;
  const il4 = inner.l4Offset;
  const avail = inner.l4Length;
  qEcho = false;
  qCsumAt = -1;
  switch (inner.protocol) {
    case Protocol.Tcp:
    case Protocol.Udp:
    case Protocol.Sctp:
      // The three start alike: source and destination port (the same F offsets).
      if (avail < UDP.DST_PORT + 2) return NatDrop.IcmpErrorMalformed;
      qPc = inner.protocol === Protocol.Tcp ? ProtoClass.Tcp : inner.protocol === Protocol.Udp ? ProtoClass.Udp : ProtoClass.Sctp;
      qSrcAt = il4 + UDP.SRC_PORT;
      qDstAt = il4 + UDP.DST_PORT;
      qSrcPort = (buf[qSrcAt] << 8) | buf[qSrcAt + 1];
      qDstPort = (buf[qDstAt] << 8) | buf[qDstAt + 1];
      if (inner.protocol === Protocol.Tcp && avail >= TCP.CHECKSUM + 2) qCsumAt = il4 + TCP.CHECKSUM;
      if (inner.protocol === Protocol.Udp && avail >= UDP_HEADER_LEN) qCsumAt = il4 + UDP.CHECKSUM;
      break;
    case Protocol.Icmpv6: {
      if (avail < ICMP_HEADER_LEN) return NatDrop.IcmpErrorMalformed;
      const type = buf[il4 + ICMP.TYPE];
      // RFC 4443 §2.4: never an error about an error.
      if (type !== IcmpType.EchoRequest && type !== IcmpType.EchoReply) return NatDrop.IcmpErrorMalformed;
      qPc = ProtoClass.Icmp;
      qEcho = true;
      qSrcAt = il4 + ICMP.ECHO_ID;
      qDstAt = qSrcAt;
      qSrcPort = (buf[qSrcAt] << 8) | buf[qSrcAt + 1];
      qDstPort = qSrcPort;
      qCsumAt = il4 + ICMP.CHECKSUM;
      break;
    }
    default:
      return NatDrop.UnsupportedProtocol;
  }
  readAddressWords(buf, q + IP.SRC, nat.innerPkt, 0);
  readAddressWords(buf, q + IP.DST, nat.innerPkt, 4);
  return 0;
}

/** The four RFC 4443 error messages, the ones that quote a packet to translate. */
function isTranslatableError(type: number): boolean {
  return type >= IcmpType.DestinationUnreachable && type <= IcmpType.ParameterProblem;
}

function checkOuter(nat: Nat66, buf: Uint8Array, off: number, ch: Ipv6Chain): number {
  if (!isTranslatableError(buf[ch.l4Offset + ICMP.TYPE])) return NatDrop.IcmpNotTranslatable;
  if (ch.isFragment) return NatDrop.IcmpErrorFragmented;
  if (!verifyL4Checksum(buf, off, ch.l4Offset, ch.l4Length, Protocol.Icmpv6)) return WireError.BadChecksum;
  return parseQuote(nat, buf, ch.l4Offset, ch.payloadEnd);
}

/** An error from an inside host (or router) about a packet that came in. */
export function translateErrorOutbound(nat: Nat66, buf: Uint8Array, off: number, ch: Ipv6Chain, net: number): number {
  const bad = checkOuter(nat, buf, off, ch);
  if (bad !== 0) return nat.drop(bad);
  const t = nat.table;
  const k = t.key;
  const ip = nat.innerPkt;
  if (!inNetwork(nat.cfg, net, ip, 4)) return nat.drop(NatDrop.IcmpErrorNoMapping);
  const inPort = qDstPort;
  const remPort = qEcho ? 0 : qSrcPort;
  for (let i = 0; i < 4; i++) { k[i] = ip[4 + i]; k[4 + i] = ip[i]; }
  let id = t.findInside(qPc, inPort, remPort);
  if (id !== 0 && nat.expired(id)) id = 0;
  if (id === 0) {
    if (buf[ch.l4Offset + ICMP.TYPE] !== IcmpType.PacketTooBig) return nat.drop(NatDrop.IcmpErrorNoMapping);
    id = t.findMapping(qPc, inPort);
    if (id === 0) return nat.drop(NatDrop.IcmpErrorNoMapping);
  }
  const ext = t.rec[id * REC_WORDS + R.EXT];
  const extWords = nat.cfg.extWords;
  const ew = (ext & 0xffff) * 4;
  const extPort = ext >>> 16;
  const q = ch.l4Offset + ICMP.EMBEDDED;
  writeAddressWords(buf, off + IP.SRC, extWords, ew);
  const diff = ADDRESS_ONES - addressWordsSum(ip, 4) + writeAddressWords(buf, q + IP.DST, extWords, ew);
  let portDiff = 0;
  if (extPort !== inPort) {
    buf[qDstAt] = extPort >> 8;
    buf[qDstAt + 1] = extPort;
    portDiff = 0xffff - inPort + extPort;
  }
  if (qCsumAt >= 0) applyChecksumDiff(buf, qCsumAt, diff + portDiff, qPc === ProtoClass.Udp);
  fillL4Checksum(buf, off, ch.l4Offset, ch.l4Length, Protocol.Icmpv6);
  nat.counters[NatCounter.IcmpErrorsOut]++;
  return Verdict.Forward;
}

/** An error from the world about a packet that went out. */
export function translateErrorInbound(nat: Nat66, buf: Uint8Array, off: number, ch: Ipv6Chain): number {
  const bad = checkOuter(nat, buf, off, ch);
  if (bad !== 0) return nat.drop(bad);
  const t = nat.table;
  const k = t.key;
  const ip = nat.innerPkt;
  const extIdx = externalIndexOf(nat.cfg, ip, 0);
  if (extIdx < 0) return nat.drop(NatDrop.IcmpErrorNoMapping);
  const extPort = qSrcPort;
  const remPort = qEcho ? 0 : qDstPort;
  for (let i = 0; i < 4; i++) k[4 + i] = ip[4 + i];
  let id = t.findOutside(qPc, extIdx, extPort, remPort);
  if (id !== 0 && nat.expired(id)) id = 0;
  let words = t.rec;
  let wo = id * REC_WORDS;
  let inPort = 0;
  if (id !== 0) {
    inPort = words[wo + R.PORTS] >>> 16;
  } else {
    if (buf[ch.l4Offset + ICMP.TYPE] !== IcmpType.PacketTooBig) return nat.drop(NatDrop.IcmpErrorNoMapping);
    const owner = t.portOwner(extIdx, qPc, extPort);
    if (owner === 0) return nat.drop(NatDrop.IcmpErrorNoMapping);
    if (owner & OWNER_PUBLISHED) {
      const p = owner & ~OWNER_PUBLISHED;
      nat.published.insideWords(p, insideScratch);
      words = insideScratch;
      wo = 0;
      inPort = nat.published.insidePort(p);
    } else {
      wo = owner * REC_WORDS;
      inPort = words[wo + R.PORTS] >>> 16;
    }
  }
  const q = ch.l4Offset + ICMP.EMBEDDED;
  writeAddressWords(buf, off + IP.DST, words, wo + R.IN_ADDR);
  const diff = ADDRESS_ONES - addressWordsSum(ip, 0) + writeAddressWords(buf, q + IP.SRC, words, wo + R.IN_ADDR);
  let portDiff = 0;
  if (extPort !== inPort) {
    buf[qSrcAt] = inPort >> 8;
    buf[qSrcAt + 1] = inPort;
    portDiff = 0xffff - extPort + inPort;
  }
  if (qCsumAt >= 0) applyChecksumDiff(buf, qCsumAt, diff + portDiff, qPc === ProtoClass.Udp);
  fillL4Checksum(buf, off, ch.l4Offset, ch.l4Length, Protocol.Icmpv6);
  nat.counters[NatCounter.IcmpErrorsIn]++;
  return Verdict.Forward;
}

/**
 * NPTv6: also map the quoted packet's address on our side (the kernel's
 * ip6t_NPT does not). Checksum-neutral like the outer rewrite, so no
 * checksum changes. Called before the outer rewrite; quietly does nothing
 * for a quote too short to hold an IPv6 header.
 */
export function translateNptError(nat: Nat66, buf: Uint8Array, ch: Ipv6Chain, net: number, dir: number): void {
  const l4 = ch.l4Offset;
  if (!isTranslatableError(buf[l4 + ICMP.TYPE])) return;
  const q = l4 + ICMP.EMBEDDED;
  if (ch.payloadEnd - q < IP_HEADER_LEN) return;
  const c = nat.cfg;
  const ip = nat.innerPkt;
  readAddressWords(buf, q + IP.SRC, ip, 0);
  readAddressWords(buf, q + IP.DST, ip, 4);
  const po = net * 4;
  if (dir === Direction.Out) {
    if (inPrefix(ip, 4, c.nptInside, c.nptMask, po)) {
      nptRewrite(buf, q + IP.DST, c.nptExternal, c.nptMask, po, c.nptLength[net], c.nptAdjust[net]);
    }
  } else if (inPrefix(ip, 0, c.nptExternal, c.nptMask, po)) {
    nptRewrite(buf, q + IP.SRC, c.nptInside, c.nptMask, po, c.nptLength[net], ~c.nptAdjust[net] & 0xffff);
  }
}
