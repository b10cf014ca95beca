// The NAT66 translator: stateful NAPT66 (masquerade) and stateless NPTv6 per
// network, over packets rewritten in place.
//
// The engine decides each packet's direction, once, by its source address
// (classify): from an inside (container) subnet it goes out, anything else
// comes in; a packet out to one of our own external addresses is then
// translated back in (hairpin). translate (one packet) and translateBatch
// (a TUN read) return a Verdict (Forward, Held, Hairpin) or -reason for a
// drop, after counting it in `drops` (indexed by WireError / NatDrop codes).
// Headers are read and written through src/wire's field tables (F.*).
// Nothing on these paths allocates, throws or reads a clock: `now` is ms.
//
// Behaviour (RFC 4787, 5382, 5508, 6146, 7857 for NAT; RFC 6296 for NPTv6):
//  - endpoint-independent mapping with port preservation when the inside port
//    is free and in the network's range; paired external address per inside
//    address when a network has several;
//  - address-and-port-dependent filtering, or endpoint-independent per network;
//  - TCP state after RFC 6146 (simultaneous open works), timers per state;
//  - ICMPv6 errors translated (outer and quoted headers, all checksums), never
//    creating or refreshing a session; Packet Too Big falls back to the
//    mapping, so path MTU discovery works even when filtering would refuse;
//  - hairpinning: a packet to one of our external addresses is translated
//    outbound then inbound, so the target sees the external source (REQ-9a);
//  - fragments: see fragments.ts; published ports: see published.ts;
//  - a packet to a port with no mapping is answered like a closed port (a
//    TCP RST or ICMPv6 port unreachable, rate-limited) when the caller gives
//    room for the reply: see refuse.ts.

import { walkChain, Ipv6Chain, RoutingType } from '../wire/ipv6-ext.js';
import { F as IP, HEADER_LEN as IP_HEADER_LEN, Protocol } from '../wire/ipv6.js';
import { F as TCP, HEADER_LEN as TCP_HEADER_LEN, Flag as TcpFlag } from '../wire/tcp.js';
import { F as UDP, HEADER_LEN as UDP_HEADER_LEN } from '../wire/udp.js';
import { F as ICMP, HEADER_LEN as ICMP_HEADER_LEN, IcmpType, FIRST_INFORMATIONAL_TYPE } from '../wire/icmpv6.js';
import { HEADER_LEN as SCTP_HEADER_LEN, fillChecksum as fillSctpChecksum } from '../wire/sctp.js';
import { WireError } from '../wire/error.js';
import {
  ADDRESS_ONES, readAddressWords, writeAddressWords, addressWordsSum, applyChecksumDiff, applyPartialChecksumDiff,
} from '../wire/checksum.js';
import { ConnTable, R, REC_WORDS, Flag, FAST_PATH_FLAGS } from './table.js';
import { migrateSessions, type Migration } from './migrate.js';
import { layoutOf } from './layout.js';
import { FragmentTracker, FRAG_HAIRPIN } from './fragments.js';
import { NatDrop, DROP_REASON_COUNT } from './drop.js';
import { ProtoClass, Verdict, NatCounter, NAT_COUNTER_NAMES, Direction, TcpState } from './types.js';
import { BatchWarmer, NatBatch, WARM_MIN_SESSIONS, viewOf } from './batch.js';
import { snapshotTable, restoreTable, adoptTable, checkStateHeader } from './snapshot.js';
import { listSessions, listHosts, type SessionInfo, type HostInfo } from './status.js';
import {
  compileConfig, networkOf, externalIndexOf, nptNetworkOfExternal,
  MODE_NPTV6, TICK_MS, type CompiledConfig, type NatConfig,
} from './engine-config.js';
import { nptRewrite } from './nptv6.js';
import { PublishedPorts, publishedEntries } from './published.js';
import { Sessions } from './sessions.js';
import { translateErrorOutbound, translateErrorInbound, translateNptError } from './icmp-error.js';
import { Refusals } from './refuse.js';
import { HostCounter, HOST_COUNTER_COUNT } from './hosts.js';
import { OffloadCandidates } from './candidates.js';

export { NatBatch };

export const DIR_OUT = Direction.Out;
export const DIR_IN = Direction.In;

/** Sessions a table holds when the configuration does not say. */
export const DEFAULT_CAPACITY = 262_144;

/**
 * External address indexes a table has room for: a few more than in use, so
 * a network or address added later (`docker network create`) fits in place.
 * Each costs 1 MiB of port owners, so the room stays small; beyond it the
 * engine is rebuilt and takes over its sessions (migrateFrom).
 */
export function externalRoom(count: number): number {
  return Math.ceil((count + 1) / 4) * 4;
}

/** What a reconfiguration changed. */
export interface Reconfigured {
  /** Sessions removed because what they used went (or a new published port took their port). */
  readonly sessionsDropped: number;
  readonly publishedAdded: number;
  readonly publishedRemoved: number;
}

export class Nat66 {
  readonly table: ConnTable;
  readonly fragments: FragmentTracker;
  /** Dropped packets per reason (WireError and NatDrop codes; names in DROP_REASON_NAMES). */
  readonly drops = new Float64Array(DROP_REASON_COUNT);
  /** NatCounter values. */
  readonly counters = new Float64Array(NAT_COUNTER_NAMES.length);
  /**
   * Per network (cfg's index): packets and bytes each way, laid out like a
   * host's (net * HOST_COUNTER_COUNT + HostCounter), and dropped packets per reason (net *
   * DROP_REASON_COUNT + reason). Replaced, counts carried by network name,
   * when a reconfiguration changes the networks.
   */
  netCounters: Float64Array;
  netDrops: Float64Array;
  readonly published: PublishedPorts;
  /** Opening sessions, lifetimes, reclaiming (sessions.ts). */
  readonly sessions: Sessions;
  /**
   * Compiled configuration (read-only for helpers). One object for the
   * engine's life: reconfigure() replaces its contents, so every part that
   * holds it (sessions, published ports) sees the change at once.
   */
  readonly cfg: CompiledConfig;
  /** Answers to packets for no mapping, and their rate limit (replaced by reconfigure). */
  refusals: Refusals;
  /** Sessions the fast path may take over (candidates.ts); off unless an offload layer turns it on. */
  readonly offload: OffloadCandidates;

  readonly chain = new Ipv6Chain();
  readonly inner = new Ipv6Chain();
  /** Source and destination words of the packet being translated (0..3 source, 4..7 destination). */
  readonly pkt = new Uint32Array(8);
  /** The same as received, kept for fragment bookkeeping. */
  private readonly orig = new Uint32Array(8);
  /** Quoted packet's addresses in an ICMPv6 error. */
  readonly innerPkt = new Uint32Array(8);
  tick = 0;
  /** The time of the packet being translated, ms; a typed array because a fractional ms count is not a small integer (see fragments.ts). */
  readonly clock = new Float64Array(1);
  private hasNpt: boolean;
  private clockStarted = false;
  private readonly warmer = new BatchWarmer();
  /** translate's batch of one packet. */
  private readonly single = new NatBatch(1);
  /** classify's word loads over the caller's packet buffer (see viewOf). */
  private view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** classify's answer: the packet's Direction, and its network (out) or external address index (in, or -1). */
  private dir: number = DIR_IN;
  private match = -1;
  /** Hash of the next session lookup when translateBatch already computed it, else 0. */
  private presetHash = 0;
  /** With presetHash: the index slot the warm-up found for that lookup. */
  private presetSlot = 0;
  /** The table's hash seed (a reconfiguration that names another one needs a new table). */
  private readonly seed: number;
  /** Bytes from the current packet's offset a refusal may overwrite (0: none, refusals are drops). */
  private room = 0;

  /**
   * `mappable`: the wiring will map a state file over the table (see
   * ConnTable). `previous`: the configuration of the engine this one
   * replaces, so the external addresses keep their indexes (see migrateFrom).
   */
  constructor(config: NatConfig, options: { mappable?: boolean; previous?: CompiledConfig } = {}) {
    this.cfg = compileConfig(config, options.previous);
    this.table = new ConnTable({
      capacity: config.capacity ?? DEFAULT_CAPACITY,
      externalCount: externalRoom(this.cfg.extCount),
      hostCapacity: config.hostCapacity,
    }, this.seed = config.seed ?? ((Math.random() * 0x100000000) >>> 0), { mappable: options.mappable });
    this.table.fingerprint = this.cfg.fingerprint;
    this.fragments = new FragmentTracker(config.fragmentFlows ?? 1024, config.fragmentHoldSlots ?? 32,
      config.fragmentHoldBytes ?? 2048, this.clock, this.cfg.fragmentMs);
    this.hasNpt = this.cfg.netMode.some((m) => m === MODE_NPTV6);
    this.published = new PublishedPorts(this.cfg, this.table);
    this.sessions = new Sessions(this.table, this.cfg, this.published, this.drops, this.counters);
    this.refusals = new Refusals(config, this.clock);
    this.netCounters = new Float64Array(this.cfg.netCount * HOST_COUNTER_COUNT);
    this.netDrops = new Float64Array(this.cfg.netCount * DROP_REASON_COUNT);
    this.offload = new OffloadCandidates();
    for (const p of config.published ?? []) this.published.add(p);
  }

  drop(code: number): number {
    this.drops[code]++;
    return -code;
  }

  private setClock(now: number): void {
    this.clock[0] = now;
    this.syncTick();
  }

  // From clock[0], so translateBatch can set the time with a store: a
  // double passed to a call V8 does not inline is a heap number.
  private syncTick(): void {
    const tick = Math.floor(this.clock[0] / TICK_MS);
    if (tick === this.tick && this.clockStarted) return;
    this.tick = tick;
    this.sessions.tick = this.tick;
    if (!this.clockStarted) {
      this.table.startClock(this.tick);
      this.clockStarted = true;
    }
  }

  // ---- entry points -----------------------------------------------------------

  /**
   * Translate one packet; see translateBatch for a TUN read. `partialCsum`:
   * the L4 checksum holds a NEEDS_CSUM pseudo-header sum (offload
   * super-packet). `room`: bytes from `off` a refusal may overwrite with its
   * reply (Verdict.Reply, its length in replyLength); 0 drops instead.
   *
   * A batch of one, and deliberately no more than that. `now` is a double
   * (a fractional millisecond count, never a small integer), so unless V8
   * inlines this function into its caller every call boxes it into a heap
   * number. V8 weighs a callee together with everything its own optimised
   * code inlined: when this held the packet path itself, how much that was
   * depended on timing and at times put it over the inlining budget, and
   * a loop of translate calls allocated one heap number per packet.
   * translateBatch is too large for V8 ever to inline, so this stays a few
   * stores and one call, and its callers inline it.
   */
  translate(buf: Uint8Array, off: number, len: number, now: number, partialCsum = false, room = 0): number {
    const one = this.single;
    one.now = now;
    one.room = room;
    one.count = 1;
    one.offsets[0] = off;
    one.lengths[0] = len;
    one.partial[0] = partialCsum ? 1 : 0;
    this.translateBatch(buf, one);
    return one.verdicts[0];
  }

  /**
   * Translate a batch (see NatBatch) in arrival order, each packet as
   * translate would; its verdict in batch.verdicts and its direction in
   * batch.dirs. Every packet is classified first; with a large table the
   * warm-up then touches every packet's index slot and session so their
   * cache misses overlap (style: batch the lookups), and the translation
   * reuses both. Fragments released during the batch are available through
   * releasedFragments / copyReleasedFragment until the next call.
   */
  translateBatch(buf: Uint8Array, batch: NatBatch): void {
    const count = batch.count;
    const { offsets, lengths, dirs, match, words, partial, verdicts } = batch;
    const view = this.view = viewOf(buf, this.view);
    for (let i = 0; i < count; i++) {
      this.classify(buf, view, offsets[i], lengths[i], words, i * 8);
      dirs[i] = this.dir;
      match[i] = this.match;
    }
    const pkt = this.pkt;
    const warmed = this.table.count >= WARM_MIN_SESSIONS ? this.warmer.warm(this.table, buf, view, batch) : 0;
    const hashes = this.table.warmHashes;
    const slots = this.table.warmSlots;
    // Fragments released by any packet of the batch stay listed until the next call.
    if (this.fragments.releasedCount !== 0) this.fragments.recycleReleased();
    this.clock[0] = batch.now;
    this.syncTick();
    this.room = batch.room;
    for (let i = 0; i < count; i++) {
      // The session lookup may reuse the warm-up's hash (consumed by it, or cleared here).
      this.presetHash = i < warmed ? hashes[i] : 0;
      this.presetSlot = i < warmed ? slots[i] : 0;
      const w = i * 8;
      for (let k = 0; k < 8; k++) pkt[k] = words[w + k];
      const v = dirs[i] === DIR_OUT
        ? this.outbound(buf, offsets[i], lengths[i], partial[i] !== 0, match[i])
        : this.inbound(buf, offsets[i], lengths[i], partial[i] !== 0, match[i]);
      verdicts[i] = v;
      if (v < 0) this.attributeDrop(-v, dirs[i], match[i], words, w);
      else if (v === Verdict.Reply) {
        lengths[i] = this.refusals.length;
        // A refusal is a no-mapping drop answered (counted as one in `drops`).
        this.attributeDrop(NatDrop.NoMapping, dirs[i], match[i], words, w);
      }
    }
    this.presetHash = 0;
  }

  private countNetwork(net: number, packets: number, bytes: number, len: number): void {
    const o = net * HOST_COUNTER_COUNT;
    this.netCounters[o + packets]++;
    this.netCounters[o + bytes] += len;
  }

  /**
   * A drop (already counted in `drops`) counted again on its network and,
   * for an outbound packet, on its source's host when the table has it. An
   * inbound packet names a network by its destination (an external address
   * or NPTv6 prefix); one for none of ours names no network.
   */
  private attributeDrop(reason: number, dir: number, match: number, words: Uint32Array, w: number): void {
    const cfg = this.cfg;
    const net = dir === DIR_OUT ? match : match >= 0 ? cfg.extNet[match] : this.hasNpt ? nptNetworkOfExternal(cfg, words, w + 4) : -1;
    if (net >= 0) this.netDrops[net * DROP_REASON_COUNT + reason]++;
    if (dir !== DIR_OUT) return;
    const hosts = this.table.hosts;
    const host = hosts.find(words, w);
    if (host !== 0) hosts.drops[host * DROP_REASON_COUNT + reason]++;
  }

  /** The length of the reply a translate call that returned Verdict.Reply left in the buffer. */
  get replyLength(): number {
    return this.refusals.length;
  }

  /**
   * The one place a packet's direction is decided, into `dir` and `match`:
   * a source in an inside subnet goes out (match: its network); anything
   * else comes in (match: the external address it is sent to, or -1 for an
   * NPTv6 prefix or none of ours). The source and destination words are
   * read here, once, into w[o..o+7], for the translation (which finds them
   * in `pkt`). Before any validation: a packet too short or malformed goes
   * in and is dropped there by the chain walk, before its words are used.
   */
  private classify(buf: Uint8Array, view: DataView, off: number, len: number, w: Uint32Array, o: number): void {
    const cfg = this.cfg;
    let match = -1;
    if (len >= IP_HEADER_LEN && off >= 0 && off + IP_HEADER_LEN <= buf.length) {
      // Source then destination: eight words from IP.SRC (IP.DST follows it).
      const at = off + IP.SRC;
      w[o] = view.getUint32(at); w[o + 1] = view.getUint32(at + 4); w[o + 2] = view.getUint32(at + 8); w[o + 3] = view.getUint32(at + 12);
      w[o + 4] = view.getUint32(at + 16); w[o + 5] = view.getUint32(at + 20); w[o + 6] = view.getUint32(at + 24); w[o + 7] = view.getUint32(at + 28);
      const net = networkOf(cfg, w, o);
      if (net >= 0) {
        this.dir = DIR_OUT;
        this.match = net;
        return;
      }
      match = externalIndexOf(cfg, w, o + 4);
    }
    this.dir = DIR_IN;
    this.match = match;
  }

  // The two directions with the clock already set and the packet's
  // addresses in `pkt` (classify). `now` is not passed per packet: a
  // fractional millisecond count (a read's time stamp) is a heap number every
  // time a double crosses a call that is not inlined.
  private outbound(buf: Uint8Array, off: number, len: number, partialCsum: boolean, net: number): number {
    const ch = this.chain;
    const err = walkChain(buf, off, len, ch, false);
    if (err !== 0) return this.drop(err);
    if (ch.segmentsLeft > 0) return this.drop(ch.routingType === RoutingType.Type0 ? NatDrop.RoutingHeader0 : NatDrop.RoutingHeaderActive);
    const pkt = this.pkt;
    if (this.cfg.netMode[net] === MODE_NPTV6) return this.nptOutbound(buf, off, ch, net, partialCsum);
    if (ch.isFragment) {
      this.orig.set(pkt);
      if (ch.fragmentOffset !== 0) return this.laterFragment(buf, off, ch, DIR_OUT);
    }
    const v = this.outboundL4(buf, off, ch, net, partialCsum);
    if (v >= 0 && ch.isFragment) this.rememberFirst(buf, off, ch, DIR_OUT, v === Verdict.Hairpin);
    return v;
  }

  private inbound(buf: Uint8Array, off: number, len: number, partialCsum: boolean, extIdx: number): number {
    const ch = this.chain;
    const err = walkChain(buf, off, len, ch, false);
    if (err !== 0) return this.drop(err);
    if (ch.segmentsLeft > 0) return this.drop(ch.routingType === RoutingType.Type0 ? NatDrop.RoutingHeader0 : NatDrop.RoutingHeaderActive);
    const pkt = this.pkt;
    if (extIdx < 0) {
      const net = this.hasNpt ? nptNetworkOfExternal(this.cfg, pkt, 4) : -1;
      if (net >= 0) return this.nptInbound(buf, off, ch, net, false);
      return this.drop(NatDrop.NotExternal);
    }
    if (ch.isFragment) {
      this.orig.set(pkt);
      if (ch.fragmentOffset !== 0) return this.laterFragment(buf, off, ch, DIR_IN);
    }
    const v = this.inboundL4(buf, off, ch, extIdx, partialCsum, false);
    if (v >= 0 && ch.isFragment) this.rememberFirst(buf, off, ch, DIR_IN, v === Verdict.Hairpin);
    return v;
  }

  /** Held fragments the last translate call released (translated now): copy them out before the next call. */
  get releasedFragments(): number {
    return this.fragments.releasedCount;
  }

  /**
   * Copy released fragment k (0 <= k < releasedFragments, arrival order), a
   * whole IPv6 packet, to out[at..); returns its length, or -1 when it is
   * longer than `room`.
   */
  copyReleasedFragment(k: number, out: Uint8Array, at: number, room: number): number {
    return this.fragments.copyReleased(k, out, at, room);
  }

  /** Expire sessions and held fragments up to `now`; returns the sessions removed. */
  expire(now: number): number {
    this.setClock(now);
    const removed = this.table.expire(this.tick);
    this.counters[NatCounter.SessionsExpired] += removed;
    this.drops[NatDrop.FragmentTimeout] += this.fragments.expire();
    return removed;
  }

  /**
   * `packets` packets, `bytes` bytes in all (IPv6 packets, as the engine
   * counts them), of session `id` went through the fast path in direction
   * `dir` (Direction) since the last call: counted as translated packets are
   * (session, inside address, network, engine), and the session's timer
   * refreshed as such a packet would refresh it (an offloaded TCP segment
   * carries no SYN, FIN or RST). Control plane: once a second per
   * offloaded session that moved.
   */
  passedFast(id: number, dir: number, packets: number, bytes: number, now: number): void {
    this.setClock(now);
    const t = this.table;
    const rec = t.rec;
    const o = id * REC_WORDS;
    const meta = rec[o + R.META];
    this.sessions.touch(id, (meta >>> 12) & 0xf, TcpFlag.Ack, dir);
    const out = dir === DIR_OUT;
    rec[o + (out ? R.PKTS_OUT : R.PKTS_IN)] += packets;
    const at = o + (out ? R.BYTES_OUT : R.BYTES_IN);
    const sum = rec[at] + bytes;
    rec[at] = sum;
    t.bytesHi[id * 2 + (out ? 0 : 1)] += Math.floor(sum / 0x100000000);
    const hc = (meta >>> 16) * HOST_COUNTER_COUNT;
    t.hostCnt[hc + (out ? HostCounter.PacketsOut : HostCounter.PacketsIn)] += packets;
    t.hostCnt[hc + (out ? HostCounter.BytesOut : HostCounter.BytesIn)] += bytes;
    const net = out ? networkOf(this.cfg, rec, o + R.IN_ADDR) : this.cfg.extNet[rec[o + R.EXT] & 0xffff];
    if (net >= 0) {
      const n = net * HOST_COUNTER_COUNT;
      this.netCounters[n + (out ? HostCounter.PacketsOut : HostCounter.PacketsIn)] += packets;
      this.netCounters[n + (out ? HostCounter.BytesOut : HostCounter.BytesIn)] += bytes;
    }
    this.counters[out ? NatCounter.OutPackets : NatCounter.InPackets] += packets;
    this.counters[out ? NatCounter.OutBytes : NatCounter.InBytes] += bytes;
  }

  /**
   * TCP, UDP and SCTP, the same in both directions: the header must be whole
   * (a TCP data offset within the segment). Returns the ProtoClass with the TCP
   * flags in bits 8-15, or a negative drop reason. The three headers start
   * alike: source port, destination port (the same F offsets in each table).
   */
  private portHeader(buf: Uint8Array, ch: Ipv6Chain): number {
    const l4 = ch.l4Offset;
    const l4len = ch.l4Length;
    const short = ch.isFragment ? NatDrop.TinyFragment : WireError.Truncated;
    switch (ch.protocol) {
      case Protocol.Tcp: {
        if (l4len < TCP_HEADER_LEN) return this.drop(short);
        const doff = (buf[l4 + TCP.DATA_OFFSET] >> 4) * 4;
        if (doff < TCP_HEADER_LEN || doff > l4len) return this.drop(WireError.BadHeaderLength);
        return ProtoClass.Tcp | (buf[l4 + TCP.FLAGS] << 8);
      }
      case Protocol.Udp:
        return l4len < UDP_HEADER_LEN ? this.drop(short) : ProtoClass.Udp;
      default: // SCTP
        return l4len < SCTP_HEADER_LEN ? this.drop(short) : ProtoClass.Sctp;
    }
  }

  // ---- masquerade, outbound ------------------------------------------------------

  private outboundL4(buf: Uint8Array, off: number, ch: Ipv6Chain, net: number, partial: boolean): number {
    const l4 = ch.l4Offset;
    const l4len = ch.l4Length;
    let pc: number;
    let inPort: number;
    let remPort = 0;
    let csumAt = -1;
    let portAt: number;
    let flags = 0;
    let mayCreate = true;
    switch (ch.protocol) {
      case Protocol.Tcp:
      case Protocol.Udp:
      case Protocol.Sctp: {
        const got = this.portHeader(buf, ch);
        if (got < 0) return got;
        pc = got & 0xff;
        flags = got >>> 8;
        portAt = l4 + UDP.SRC_PORT;
        break;
      }
      case Protocol.Icmpv6: {
        if (l4len < ICMP_HEADER_LEN) return this.drop(WireError.Truncated);
        const type = buf[l4 + ICMP.TYPE];
        if (type < FIRST_INFORMATIONAL_TYPE) return translateErrorOutbound(this, buf, off, ch, net);
        if (type !== IcmpType.EchoRequest && type !== IcmpType.EchoReply) return this.drop(NatDrop.IcmpNotTranslatable);
        pc = ProtoClass.Icmp;
        mayCreate = type === IcmpType.EchoRequest;
        csumAt = l4 + ICMP.CHECKSUM;
        portAt = l4 + ICMP.ECHO_ID; // the identifier; the remote "port" is 0
        inPort = (buf[portAt] << 8) | buf[portAt + 1];
        break;
      }
      default:
        return this.drop(NatDrop.UnsupportedProtocol);
    }
    if (pc !== ProtoClass.Icmp) {
      inPort = (buf[l4 + UDP.SRC_PORT] << 8) | buf[l4 + UDP.SRC_PORT + 1];
      remPort = (buf[l4 + UDP.DST_PORT] << 8) | buf[l4 + UDP.DST_PORT + 1];
      mayCreate = (flags & TcpFlag.Rst) === 0;
      csumAt = portChecksumAt(pc, l4);
    }
    const t = this.table;
    const k = t.key;
    const pkt = this.pkt;
    for (let i = 0; i < 8; i++) k[i] = pkt[i];
    // A preset hash saves rehashing; a miss with it is re-checked the normal way.
    const preset = this.presetHash;
    this.presetHash = 0;
    let id = preset !== 0 ? t.findInsideFrom(this.presetSlot, preset, pc, inPort!, remPort) : 0;
    if (id === 0) id = t.findInside(pc, inPort!, remPort);
    const rec = t.rec;
    if (id !== 0 && rec[id * REC_WORDS + R.EXPIRY] <= this.tick) {
      t.remove(id);
      id = 0;
    }
    if (id === 0) {
      if (!mayCreate) return this.drop(NatDrop.NoSession);
      id = this.sessions.createOutbound(net, pc, inPort!, remPort, flags);
      if (id < 0) return id;
    } else {
      this.sessions.touch(id, pc, flags, DIR_OUT);
    }
    const o = id * REC_WORDS;
    const plen = ch.payloadEnd - off;
    rec[o + R.PKTS_OUT]++;
    const bytesOut = rec[o + R.BYTES_OUT];
    rec[o + R.BYTES_OUT] = bytesOut + plen;
    if (rec[o + R.BYTES_OUT] < bytesOut) t.bytesHi[id * 2]++;
    const hc = (rec[o + R.META] >>> 16) * HOST_COUNTER_COUNT;
    t.hostCnt[hc + HostCounter.PacketsOut]++;
    t.hostCnt[hc + HostCounter.BytesOut] += plen;
    this.countNetwork(net, HostCounter.PacketsOut, HostCounter.BytesOut, plen);
    this.counters[NatCounter.OutPackets]++;
    this.counters[NatCounter.OutBytes] += plen;

    const ext = rec[o + R.EXT];
    const extIdx = ext & 0xffff;
    const extPort = ext >>> 16;
    const diff = ADDRESS_ONES - addressWordsSum(pkt, 0) + writeAddressWords(buf, off + IP.SRC, this.cfg.extWords, extIdx * 4);
    let portDiff = 0;
    if (extPort !== inPort!) {
      buf[portAt] = extPort >> 8;
      buf[portAt + 1] = extPort;
      portDiff = 0xffff - inPort! + extPort;
    }
    if (pc === ProtoClass.Sctp) {
      // CRC32c has no pseudo-header: only a port change needs it recomputed.
      if (portDiff !== 0 && !partial) {
        if (ch.isFragment) return this.drop(NatDrop.SctpFragment);
        fillSctpChecksum(buf, l4, l4len);
      }
    } else if (partial) {
      applyPartialChecksumDiff(buf, csumAt, diff);
    } else {
      applyChecksumDiff(buf, csumAt, diff + portDiff, pc === ProtoClass.Udp);
    }
    return this.hairpinIfExternal(buf, off, ch, partial, id);
  }

  // After an outbound rewrite: a destination that is one of ours goes back in.
  // Otherwise masquerade session `id` (0: NPTv6) may be offered to the fast path.
  private hairpinIfExternal(buf: Uint8Array, off: number, ch: Ipv6Chain, partial: boolean, id: number): number {
    const pkt = this.pkt;
    const cfg = this.cfg;
    const extIdx = externalIndexOf(cfg, pkt, 4);
    if (extIdx >= 0) {
      this.counters[NatCounter.Hairpin]++;
      readAddressWords(buf, off + IP.SRC, pkt, 0);
      return this.inboundL4(buf, off, ch, extIdx, partial, true);
    }
    if (this.hasNpt) {
      const net = nptNetworkOfExternal(cfg, pkt, 4);
      if (net >= 0) {
        this.counters[NatCounter.Hairpin]++;
        return this.nptInbound(buf, off, ch, net, true);
      }
    }
    if (id !== 0 && this.offload.enabled) this.offerIfSettled(id, ch);
    return Verdict.Forward;
  }

  // The fast path takes a session once it is settled (TCP established, UDP
  // answered) and a whole packet of it went through the plain masquerade path.
  private offerIfSettled(id: number, ch: Ipv6Chain): void {
    const rec = this.table.rec;
    const at = id * REC_WORDS + R.META;
    const meta = rec[at];
    if ((meta & Flag.OFFERED) !== 0 || ch.isFragment || !settledMeta(meta)) return;
    const c = this.offload;
    if (c.count === c.ids.length) {
      c.missed++;
      return;
    }
    rec[at] = meta | Flag.OFFERED;
    c.ids[c.count++] = id;
  }

  /** Whether session `id` is live and settled: TCP established (no FIN or RST since), or UDP answered. */
  settled(id: number): boolean {
    return settledMeta(this.table.rec[id * REC_WORDS + R.META]);
  }

  /** Clears session `id`'s fast-path marks (the offload layer refused or demoted it): its next settled packet offers it again. */
  unmark(id: number): void {
    this.table.rec[id * REC_WORDS + R.META] &= ~FAST_PATH_FLAGS;
  }

  /** Session `id` (offered) is on the fast path now: `sixgate flows` says so. */
  setOffloaded(id: number): void {
    this.table.rec[id * REC_WORDS + R.META] |= Flag.OFFLOADED;
  }

  /** Clears every session's fast-path marks (the fast path was reset, or this table is new to it). Control plane: O(capacity). */
  unmarkAll(): void {
    const rec = this.table.rec;
    this.offload.count = 0;
    for (let id = 1; id <= this.table.capacity; id++) {
      const at = id * REC_WORDS + R.META;
      // Only records that have them: a mapped table's pages are written only where needed.
      if ((rec[at] & FAST_PATH_FLAGS) !== 0) rec[at] &= ~FAST_PATH_FLAGS;
    }
  }

  // ---- masquerade, inbound -------------------------------------------------------

  private inboundL4(buf: Uint8Array, off: number, ch: Ipv6Chain, extIdx: number, partial: boolean, hairpin: boolean): number {
    const l4 = ch.l4Offset;
    const l4len = ch.l4Length;
    let pc: number;
    let extPort: number;
    let remPort = 0;
    let csumAt = -1;
    let portAt: number;
    let flags = 0;
    let mayCreate = true;
    switch (ch.protocol) {
      case Protocol.Tcp:
      case Protocol.Udp:
      case Protocol.Sctp: {
        const got = this.portHeader(buf, ch);
        if (got < 0) return got;
        pc = got & 0xff;
        flags = got >>> 8;
        portAt = l4 + UDP.DST_PORT;
        break;
      }
      case Protocol.Icmpv6: {
        if (l4len < ICMP_HEADER_LEN) return this.drop(WireError.Truncated);
        const type = buf[l4 + ICMP.TYPE];
        if (type < FIRST_INFORMATIONAL_TYPE) {
          if (hairpin) return this.drop(NatDrop.IcmpNotTranslatable);
          return translateErrorInbound(this, buf, off, ch);
        }
        if (type !== IcmpType.EchoRequest && type !== IcmpType.EchoReply) return this.drop(NatDrop.IcmpNotTranslatable);
        pc = ProtoClass.Icmp;
        // Echo identifiers are mapped like source ports: only replies come back in.
        mayCreate = false;
        csumAt = l4 + ICMP.CHECKSUM;
        portAt = l4 + ICMP.ECHO_ID;
        extPort = (buf[portAt] << 8) | buf[portAt + 1];
        break;
      }
      default:
        return this.drop(NatDrop.UnsupportedProtocol);
    }
    if (pc !== ProtoClass.Icmp) {
      remPort = (buf[l4 + UDP.SRC_PORT] << 8) | buf[l4 + UDP.SRC_PORT + 1];
      extPort = (buf[l4 + UDP.DST_PORT] << 8) | buf[l4 + UDP.DST_PORT + 1];
      mayCreate = (flags & TcpFlag.Rst) === 0;
      csumAt = portChecksumAt(pc, l4);
    }
    const t = this.table;
    const k = t.key;
    const pkt = this.pkt;
    k[4] = pkt[0]; k[5] = pkt[1]; k[6] = pkt[2]; k[7] = pkt[3];
    const preset = this.presetHash;
    this.presetHash = 0;
    let id = preset !== 0 ? t.findOutsideFrom(this.presetSlot, preset, pc, extIdx, extPort!, remPort) : 0;
    if (id === 0) id = t.findOutside(pc, extIdx, extPort!, remPort);
    const rec = t.rec;
    if (id !== 0 && rec[id * REC_WORDS + R.EXPIRY] <= this.tick) {
      t.remove(id);
      id = 0;
    }
    if (id === 0) {
      // Hairpinned to a port of the host's own address that is not sixgate's:
      // the host's (a published container answering the host's connection).
      if (hairpin && this.cfg.netHost[this.cfg.extNet[extIdx]] === 1 && t.portOwner(extIdx, pc, extPort!) === 0) return Verdict.Forward;
      id = this.sessions.createInbound(pc, extIdx, extPort!, remPort, flags, mayCreate);
      if (id < 0) return id === -NatDrop.NoMapping && !hairpin ? this.refuse(buf, off, ch, flags, partial) : id;
    } else {
      this.sessions.touch(id, pc, flags, DIR_IN);
    }
    const o = id * REC_WORDS;
    const plen = ch.payloadEnd - off;
    rec[o + R.PKTS_IN]++;
    const bytesIn = rec[o + R.BYTES_IN];
    rec[o + R.BYTES_IN] = bytesIn + plen;
    if (rec[o + R.BYTES_IN] < bytesIn) t.bytesHi[id * 2 + 1]++;
    const hc = (rec[o + R.META] >>> 16) * HOST_COUNTER_COUNT;
    t.hostCnt[hc + HostCounter.PacketsIn]++;
    t.hostCnt[hc + HostCounter.BytesIn] += plen;
    const net = this.cfg.extNet[extIdx];
    this.countNetwork(net, HostCounter.PacketsIn, HostCounter.BytesIn, plen);
    this.counters[NatCounter.InPackets]++;
    this.counters[NatCounter.InBytes] += plen;

    const inPort = rec[o + R.PORTS] >>> 16;
    const diff = ADDRESS_ONES - addressWordsSum(pkt, 4) + writeAddressWords(buf, off + IP.DST, rec, o + R.IN_ADDR);
    let portDiff = 0;
    if (extPort! !== inPort) {
      buf[portAt] = inPort >> 8;
      buf[portAt + 1] = inPort;
      portDiff = 0xffff - extPort! + inPort;
    }
    if (pc === ProtoClass.Sctp) {
      if (portDiff !== 0 && !partial) {
        if (ch.isFragment) return this.drop(NatDrop.SctpFragment);
        fillSctpChecksum(buf, l4, l4len);
      }
    } else if (partial) {
      applyPartialChecksumDiff(buf, csumAt, diff);
    } else {
      applyChecksumDiff(buf, csumAt, diff + portDiff, pc === ProtoClass.Udp);
    }
    if (hairpin) return Verdict.Hairpin;
    if (this.offload.enabled) this.offerIfSettled(id, ch);
    return Verdict.Forward;
  }

  // A packet to no mapping (counted as no-mapping already): the reply that
  // replaces it, or the drop when there is none (refuse.ts).
  private refuse(buf: Uint8Array, off: number, ch: Ipv6Chain, flags: number, partial: boolean): number {
    // Silent, or no room for a reply: a drop, without the source lookup below.
    if (!this.refusals.reply || this.room === 0) return -NatDrop.NoMapping;
    const pkt = this.pkt;
    const external = externalIndexOf(this.cfg, pkt, 0) >= 0;
    return this.refusals.build(buf, off, this.room, ch, pkt, flags, external, partial, this.counters)
      ? Verdict.Reply : -NatDrop.NoMapping;
  }

  // ---- NPTv6 ------------------------------------------------------------------------

  private nptOutbound(buf: Uint8Array, off: number, ch: Ipv6Chain, net: number, partial: boolean): number {
    const c = this.cfg;
    if (ch.protocol === Protocol.Icmpv6 && ch.fragmentOffset === 0 && ch.l4Length >= ICMP_HEADER_LEN && buf[ch.l4Offset + ICMP.TYPE] < FIRST_INFORMATIONAL_TYPE) {
      translateNptError(this, buf, ch, net, DIR_OUT);
    }
    if (!nptRewrite(buf, off + IP.SRC, c.nptExternal, c.nptMask, net * 4, c.nptLength[net], c.nptAdjust[net])) {
      return this.drop(NatDrop.NptUntranslatable);
    }
    this.counters[NatCounter.NptOut]++;
    this.countNetwork(net, HostCounter.PacketsOut, HostCounter.BytesOut, ch.payloadEnd - off);
    return this.hairpinIfExternal(buf, off, ch, partial, 0);
  }

  private nptInbound(buf: Uint8Array, off: number, ch: Ipv6Chain, net: number, hairpin: boolean): number {
    const c = this.cfg;
    if (!hairpin && ch.protocol === Protocol.Icmpv6 && ch.fragmentOffset === 0 && ch.l4Length >= ICMP_HEADER_LEN && buf[ch.l4Offset + ICMP.TYPE] < FIRST_INFORMATIONAL_TYPE) {
      translateNptError(this, buf, ch, net, DIR_IN);
    }
    if (!nptRewrite(buf, off + IP.DST, c.nptInside, c.nptMask, net * 4, c.nptLength[net], ~c.nptAdjust[net] & 0xffff)) {
      return this.drop(NatDrop.NptUntranslatable);
    }
    this.counters[NatCounter.NptIn]++;
    this.countNetwork(net, HostCounter.PacketsIn, HostCounter.BytesIn, ch.payloadEnd - off);
    return hairpin ? Verdict.Hairpin : Verdict.Forward;
  }

  // ---- fragments ------------------------------------------------------------------

  private laterFragment(buf: Uint8Array, off: number, ch: Ipv6Chain, dir: number): number {
    const fr = this.fragments;
    const flags = fr.follow(buf, off, dir, this.orig, ch.fragmentId | 0);
    if (flags >= 0) {
      this.counters[NatCounter.FragmentsFollowed]++;
      return flags & FRAG_HAIRPIN ? Verdict.Hairpin : Verdict.Forward;
    }
    if (!fr.holdFragment(buf, off, ch.payloadEnd - off, dir, ch.fragmentId | 0)) {
      return this.drop(NatDrop.FragmentHoldFull);
    }
    this.counters[NatCounter.FragmentsHeld]++;
    return Verdict.Held;
  }

  private rememberFirst(buf: Uint8Array, off: number, ch: Ipv6Chain, dir: number, hairpin: boolean): void {
    const fr = this.fragments;
    fr.remember(dir, this.orig, ch.fragmentId | 0, buf, off, hairpin ? FRAG_HAIRPIN : 0);
    this.counters[NatCounter.FragmentsReleased] += fr.releaseMatching(dir, this.orig, ch.fragmentId | 0);
  }

  // ---- control plane ------------------------------------------------------------------

  /** Copy of the connection table for a restart (allocates; control plane). */
  snapshot(now: number): Uint8Array {
    return snapshotTable(this.table, Math.floor(now / TICK_MS));
  }

  /**
   * Load a snapshot taken by a Nat66 with the same capacity and external
   * addresses. Throws SnapshotError otherwise (the table is untouched).
   * Returns how many sessions were dropped as inconsistent with the current
   * configuration (published ports, inside subnets).
   */
  restore(snapshot: Uint8Array, now: number): number {
    this.setClock(now);
    return restoreTable(this.table, snapshot, this.tick, () => this.published.markAll(), this.keepSession);
  }

  /**
   * Whether a session's inside address is in a masquerading network that may
   * use external address `ext`: its own network's, or for a published port's
   * session any (a port published on another network's address or on the
   * host's own).
   */
  private mayUse(rec: Uint32Array, o: number, ext: number, published: boolean): boolean {
    const cfg = this.cfg;
    const net = networkOf(cfg, rec, o + R.IN_ADDR);
    return net >= 0 && cfg.netMode[net] !== MODE_NPTV6 && (published || cfg.extNet[ext] === net);
  }

  /**
   * Whether a session still holds under the configuration in force, on
   * external address `ext`: its inside address may use that address, and a
   * published port's session has its published port.
   */
  private sessionHolds(rec: Uint32Array, o: number, ext: number): boolean {
    const published = (rec[o + R.META] & Flag.PUBLISHED) !== 0;
    return this.mayUse(rec, o, ext, published) && (!published || this.published.owns(rec, o, ext));
  }

  /**
   * Whether `config` needs another table: a new capacity, host capacity or
   * seed, or more external address indexes than this table has. Such a
   * change builds a new engine (`new Nat66(config, { previous: old.cfg })`)
   * that takes the old one's sessions (migrateFrom); any other change is
   * reconfigure(). Throws ConfigError when the configuration is invalid.
   */
  needsNewTable(config: NatConfig): boolean {
    const next = compileConfig(config, this.cfg);
    return next.extCount > this.table.externalCount ||
      (config.capacity ?? DEFAULT_CAPACITY) !== this.table.capacity ||
      layoutOf({ capacity: this.table.capacity, externalCount: 0, hostCapacity: config.hostCapacity }).hosts !== this.table.hostCapacity ||
      (config.seed !== undefined && config.seed !== this.seed);
  }

  /**
   * Move to a new configuration in place: networks, external addresses,
   * NPTv6 prefixes, published ports, timers, quotas and refusals. External addresses
   * keep their indexes, so the sessions of every network and address still
   * there are not touched; the sessions of what went (a network, an
   * external address, a published port, an inside subnet) are removed, and
   * so are dynamic mappings on a port now published. Validates first
   * (ConfigError, nothing changed); throws Error when needsNewTable(config).
   * Control plane: O(capacity).
   */
  reconfigure(config: NatConfig): Reconfigured {
    const next = compileConfig(config, this.cfg);
    const wanted = publishedEntries(next, config.published ?? []);
    const refusals = new Refusals(config, this.clock);
    if (this.needsNewTable(config)) throw new Error('this configuration needs a new table: build a new engine and migrate the sessions');
    const before = { names: this.cfg.netNames, counters: this.netCounters, drops: this.netDrops };
    Object.assign(this.cfg, next);
    this.carryNetworkCounters(before);
    this.refusals = refusals;
    this.hasNpt = this.cfg.netMode.some((m) => m === MODE_NPTV6);
    this.sessions.configure();
    this.table.fingerprint = this.cfg.fingerprint;
    const { added, removed, ended } = this.published.reconcile(wanted);
    let dropped = ended;
    const t = this.table;
    const rec = t.rec;
    for (let id = 1; id <= t.capacity; id++) {
      const o = id * REC_WORDS;
      if ((rec[o + R.META] & Flag.LIVE) !== 0 && !this.sessionHolds(rec, o, rec[o + R.EXT] & 0xffff)) {
        t.remove(id);
        dropped++;
      }
    }
    return { sessionsDropped: dropped, publishedAdded: added, publishedRemoved: removed };
  }

  /**
   * Take over the live sessions of `old`, the engine this one replaces (see
   * migrate.ts): each external address is found again by its address, so
   * `{ previous: old.cfg }` keeps the indexes but any engine will do.
   * This engine's clock starts at old's. Returns the sessions moved and
   * left behind.
   */
  migrateFrom(old: Nat66): Migration {
    this.setClock(old.clock[0]);
    const extMap = new Int32Array(old.cfg.extCount).fill(-1);
    for (let k = 0; k < old.cfg.extCount; k++) {
      if (old.cfg.extNet[k] >= 0) extMap[k] = externalIndexOf(this.cfg, old.cfg.extWords, k * 4);
    }
    this.carryNetworkCounters({ names: old.cfg.netNames, counters: old.netCounters, drops: old.netDrops });
    return migrateSessions(old.table, this.table, Math.max(old.tick, old.table.lastTick), extMap, (rec, o, ext) => this.sessionHolds(rec, o, ext));
  }

  // The per-network counts of `from`, each under this configuration's
  // network of the same name (new arrays: the networks may have changed).
  private carryNetworkCounters(from: { names: readonly string[]; counters: Float64Array; drops: Float64Array }): void {
    const names = this.cfg.netNames;
    const counters = new Float64Array(names.length * HOST_COUNTER_COUNT);
    const drops = new Float64Array(names.length * DROP_REASON_COUNT);
    from.names.forEach((name, old) => {
      const net = names.indexOf(name);
      if (net < 0) return;
      for (let k = 0; k < HOST_COUNTER_COUNT; k++) counters[net * HOST_COUNTER_COUNT + k] += from.counters[old * HOST_COUNTER_COUNT + k];
      for (let r = 0; r < DROP_REASON_COUNT; r++) drops[net * DROP_REASON_COUNT + r] += from.drops[old * DROP_REASON_COUNT + r];
    });
    this.netCounters = counters;
    this.netDrops = drops;
  }

  /**
   * Whether reconfigure(config) leaves the table as a fresh engine with
   * `config` would lay it out (the same external address indexes and room),
   * so the next start can still restore or adopt it. Not after a removal
   * (a hole) or an address put before another.
   */
  staysRestorable(config: NatConfig): boolean {
    const fresh = compileConfig(config);
    return compileConfig(config, this.cfg).fingerprint === fresh.fingerprint && externalRoom(fresh.extCount) === this.table.externalCount;
  }

  /**
   * Throws SnapshotError unless a state file with this header (its first
   * META_WORDS words) can be adopted now on the boot `bootId` (checkStateHeader).
   */
  checkState(header: Uint32Array, now: number, bootId: Uint32Array): void {
    checkStateHeader(header, this.table, Math.floor(now / TICK_MS), bootId);
  }

  /**
   * Take over the sessions a previous process left in the table's memory (a
   * state file checkState accepted, mapped over it; see adoptTable).
   * Returns how many were dropped as inconsistent.
   */
  adopt(now: number): number {
    this.setClock(now);
    return adoptTable(this.table, this.tick, () => this.published.markAll(), this.keepSession);
  }

  // A restored session survives only if its inside address may still use
  // its external address (networks may have changed meanwhile; the rebuild
  // checks a published port's session against the ports); an expiry further than its state's timeout (a damaged
  // record) is brought back to it.
  private readonly keepSession = (rec: Uint32Array, o: number, meta: number): boolean => {
    if (!this.mayUse(rec, o, rec[o + R.EXT] & 0xffff, (meta & Flag.PUBLISHED) !== 0)) return false;
    const longest = this.tick + this.sessions.timeout((meta >>> 12) & 0xf, (meta >>> 8) & 0xf);
    if (rec[o + R.EXPIRY] > longest) rec[o + R.EXPIRY] = longest;
    return true;
  };

  /** Live sessions as plain objects, for status output (allocates; control plane). */
  listSessions(limit = Infinity): SessionInfo[] {
    return listSessions(this.table, this.cfg.extWords, this.tick, limit);
  }

  /** Per inside address counters, for status output and metrics (allocates; control plane). */
  listHosts(): HostInfo[] {
    return listHosts(this.table);
  }

  // ---- helpers for icmp-error.ts ------------------------------------------------------

  /** Whether the session id has passed its expiry (it may not be reaped yet). */
  expired(id: number): boolean {
    return this.table.rec[id * REC_WORDS + R.EXPIRY] <= this.tick;
  }
}

/** A session's META word says it is live and settled: TCP established, or UDP answered. */
function settledMeta(meta: number): boolean {
  if ((meta & Flag.LIVE) === 0) return false;
  const pc = (meta >>> 12) & 0xf;
  return pc === ProtoClass.Tcp ? ((meta >>> 8) & 0xf) === TcpState.Established : pc === ProtoClass.Udp && (meta & Flag.REPLIED) !== 0;
}

/** Where a port protocol's checksum sits (SCTP's CRC32c has no pseudo-header: -1). */
function portChecksumAt(pc: number, l4: number): number {
  return pc === ProtoClass.Tcp ? l4 + TCP.CHECKSUM : pc === ProtoClass.Udp ? l4 + UDP.CHECKSUM : -1;
}

export type { SessionInfo, HostInfo };
