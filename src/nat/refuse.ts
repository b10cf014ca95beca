// Refusals: an inbound packet to a port of an external address that nothing
// is mapped to or published on is answered the way a host's kernel answers
// a closed port, instead of vanishing (a client's connect then fails at once
// rather than after its SYN retries, minutes later).
//
//  - a TCP SYN (without ACK) gets a RST, RFC 9293 §3.10.7.1 (CLOSED state):
//    <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting SYN and FIN;
//  - any other TCP segment, UDP and SCTP get ICMPv6 destination unreachable,
//    code 4 (port unreachable), quoting as much of the packet as fits in
//    1280 bytes (RFC 4443 §3.1). Not a RST for a segment of a connection
//    already under way: its session may have gone (expired, or lost with a
//    crash) while both ends still hold it, and the inside end's next packet
//    re-creates the session on the same port. A RST would kill such a
//    connection; an ICMPv6 error is a soft error to an established TCP
//    connection (RFC 5461), which carries on.
//
// RFC 5382 REQ-4 asks a NAT to wait 6 s before answering an unsolicited SYN,
// in case the inside host's own SYN (a simultaneous open, TCP hole punching)
// follows; that needs a queue of pending SYNs. Here a SYN to a port with no
// mapping at all is answered at once, as a host would: a punching peer whose
// SYN wins the race retries. `refuse: silent` is REQ-4a's silent drop.
//
// Never in answer to a RST, an ICMPv6 error (those are not refused: they
// fail as errors), a fragment, a packet whose checksum is wrong, or a packet
// whose source does not name one node (RFC 4443 §2.4 (e)): unspecified,
// loopback, multicast, link-local (a reply could not be routed back) or one
// of our own external addresses (a spoofed reflection at ourselves).
//
// Rate: one token bucket for both kinds, RFC 4443 §2.4 (f). Defaults are
// Linux's global ICMP limit (net.ipv4.icmp_msgs_per_sec = 1000,
// icmp_msgs_burst = 50, which also covers ICMPv6): a reply is never larger
// than the packet it answers plus 48 bytes, so at 1,000 a second the
// refusals cost at most ~10 Mbit/s whatever arrives. Linux also keeps a
// per-destination limit; a global one needs no per-peer table, and a peer
// cannot draw more from it than it spends sending.
//
// The reply overwrites the packet in its buffer (a TUN ring slot): the
// caller gives the room it may use (NatBatch.room, translate's `room`; 0
// turns replies off), the verdict is Verdict.Reply and the new length is in
// Nat66.replyLength / NatBatch.lengths. Nothing here allocates; the clock is
// the engine's (set per call from the caller's time, never read here).

import { HEADER_LEN as IP_HEADER_LEN, MIN_MTU, Protocol, writeHeaderWords } from '../wire/ipv6.js';
import { HEADER_LEN as TCP_HEADER_LEN, Flag as TcpFlag, writeHeader as writeTcpHeader, seqNumber, srcPort, dstPort, headerLength } from '../wire/tcp.js';
import { HEADER_LEN as ICMP_HEADER_LEN, IcmpType, DestUnreachableCode, writeHeader as writeIcmpHeader } from '../wire/icmpv6.js';
import { verifyL4Checksum, fillL4Checksum } from '../wire/checksum.js';
import { verifyChecksum as verifySctpChecksum } from '../wire/sctp.js';
import type { Ipv6Chain } from '../wire/ipv6-ext.js';
import { ConfigError } from '../errors.js';
import { NatCounter } from './types.js';

export type RefuseMode = 'reply' | 'silent';
export const REFUSE_MODES: readonly RefuseMode[] = ['reply', 'silent'];

/** Replies per second and the burst above it, by default (Linux's ICMP limits, see above). */
export const DEFAULT_REFUSE_RATE = 1000;
export const DEFAULT_REFUSE_BURST = 50;
/** Hop limit of a reply: Linux's default for the packets it originates. */
const REPLY_HOP_LIMIT = 64;
/** An ICMPv6 error's own headers before the quote. */
const ERROR_HEADERS = IP_HEADER_LEN + ICMP_HEADER_LEN;
/** The least quote worth sending: the offending IPv6 header and the ports after it, so the sender can match its socket. */
const MIN_QUOTE = IP_HEADER_LEN + 8;

export interface RefuseOptions {
  refuse?: RefuseMode;
  refuseRate?: number;
  refuseBurst?: number;
}

export class Refusals {
  readonly reply: boolean;
  /** Tokens per ms and the bucket's size. */
  private readonly perMs: number;
  private readonly burst: number;
  /** [0] tokens, [1] when they were last added (the engine's ms). */
  private readonly bucket = new Float64Array(2);
  /** The length of the last reply built. */
  length = 0;
  /** The engine's clock ([0]: the current packet's time, ms): read, not passed, since a fractional double argument is a heap number. */
  private readonly clock: Float64Array;

  constructor(options: RefuseOptions, clock: Float64Array) {
    this.clock = clock;
    const mode = options.refuse ?? 'reply';
    if (!REFUSE_MODES.includes(mode)) throw new ConfigError(`refuse must be one of ${REFUSE_MODES.join(', ')}, got ${String(mode)}`);
    const rate = options.refuseRate ?? DEFAULT_REFUSE_RATE;
    const burst = options.refuseBurst ?? DEFAULT_REFUSE_BURST;
    if (!(rate > 0) || !Number.isFinite(rate)) throw new ConfigError(`refuseRate must be a positive number (replies a second), got ${String(rate)}`);
    if (!Number.isInteger(burst) || burst < 1) throw new ConfigError(`refuseBurst must be a positive integer (replies), got ${String(burst)}`);
    this.reply = mode === 'reply';
    this.perMs = rate / 1000;
    this.burst = burst;
    this.bucket[0] = burst;
    this.bucket[1] = -Infinity;
  }

  /**
   * Replace the packet at buf[off..) (walked into `ch`, its addresses in
   * w[0..7]: source, destination) by the refusal it deserves, within `room`
   * bytes. `flags`: its TCP flags. `external`: whether its source is one of
   * our external addresses. Returns true with `length` set, or false (no
   * reply: the caller drops the packet as it would have).
   */
  build(buf: Uint8Array, off: number, room: number, ch: Ipv6Chain, w: Uint32Array, flags: number, external: boolean,
    partial: boolean, counters: Float64Array): boolean {
    if (!this.reply || room === 0 || ch.isFragment || external || !unicastSource(w)) return false;
    const proto = ch.protocol;
    // Port protocols only: an echo to nothing is not a closed port.
    if (proto !== Protocol.Tcp && proto !== Protocol.Udp && proto !== Protocol.Sctp) return false;
    const tcp = proto === Protocol.Tcp;
    if (tcp && (flags & TcpFlag.Rst) !== 0) return false;
    if (!this.refill(counters)) return false;
    if (!partial && !checksumValid(buf, off, ch, proto)) return false;
    const rst = tcp && (flags & (TcpFlag.Syn | TcpFlag.Ack)) === TcpFlag.Syn;
    if (!(rst ? this.reset(buf, off, room, ch, w, flags) : this.unreachable(buf, off, room, ch, w))) return false;
    this.bucket[0] -= 1;
    counters[rst ? NatCounter.RstSent : NatCounter.UnreachableSent]++;
    return true;
  }

  // Adds the tokens earned since the last refill; whether one is there to spend (else counted as limited).
  private refill(counters: Float64Array): boolean {
    const b = this.bucket;
    const elapsed = this.clock[0] - b[1];
    if (elapsed > 0) {
      b[0] = Math.min(this.burst, b[0] + elapsed * this.perMs);
      b[1] = this.clock[0];
    }
    if (b[0] >= 1) return true;
    counters[NatCounter.RefusalsRateLimited]++;
    return false;
  }

  private reset(buf: Uint8Array, off: number, room: number, ch: Ipv6Chain, w: Uint32Array, flags: number): boolean {
    const len = IP_HEADER_LEN + TCP_HEADER_LEN;
    if (room < len) return false;
    const l4 = ch.l4Offset;
    const segLen = ch.l4Length - headerLength(buf, l4) + 1 + (flags & TcpFlag.Fin ? 1 : 0);
    const ack = (seqNumber(buf, l4) + segLen) >>> 0;
    const from = dstPort(buf, l4);
    const to = srcPort(buf, l4);
    writeHeaderWords(buf, off, TCP_HEADER_LEN, Protocol.Tcp, REPLY_HOP_LIMIT, w, 4, 0);
    writeTcpHeader(buf, off + IP_HEADER_LEN, from, to, 0, ack, TcpFlag.Rst | TcpFlag.Ack, 0);
    fillL4Checksum(buf, off, off + IP_HEADER_LEN, TCP_HEADER_LEN, Protocol.Tcp);
    this.length = len;
    return true;
  }

  private unreachable(buf: Uint8Array, off: number, room: number, ch: Ipv6Chain, w: Uint32Array): boolean {
    const quote = Math.min(ch.payloadEnd - off, MIN_MTU - ERROR_HEADERS, room - ERROR_HEADERS);
    if (quote < MIN_QUOTE) return false;
    // The packet moves up to make room for the headers (memmove: the two overlap).
    buf.copyWithin(off + ERROR_HEADERS, off, off + quote);
    const icmpLen = ICMP_HEADER_LEN + quote;
    writeHeaderWords(buf, off, icmpLen, Protocol.Icmpv6, REPLY_HOP_LIMIT, w, 4, 0);
    writeIcmpHeader(buf, off + IP_HEADER_LEN, IcmpType.DestinationUnreachable, DestUnreachableCode.PortUnreachable, 0);
    fillL4Checksum(buf, off, off + IP_HEADER_LEN, icmpLen, Protocol.Icmpv6);
    this.length = ERROR_HEADERS + quote;
    return true;
  }
}

/**
 * A corrupt packet is no evidence of anyone knocking: the kernel drops it
 * too. (A partial checksum, from offload, was made by the host itself and
 * is not checked.)
 */
function checksumValid(buf: Uint8Array, off: number, ch: Ipv6Chain, proto: number): boolean {
  return proto === Protocol.Sctp
    ? verifySctpChecksum(buf, ch.l4Offset, ch.l4Length)
    : verifyL4Checksum(buf, off, ch.l4Offset, ch.l4Length, proto, ch.pseudoDstOffset);
}

/**
 * Whether the source (w[0..3]) names one node a reply can go back to: not
 * unspecified or loopback (::/127 is both), multicast (ff00::/8) or
 * link-local (fe80::/10).
 */
function unicastSource(w: Uint32Array): boolean {
  const top = w[0];
  if ((top >>> 24) === 0xff || (top >>> 22) === 0x3fa) return false;
  return top !== 0 || w[1] !== 0 || w[2] !== 0 || w[3] > 1;
}
