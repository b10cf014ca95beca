// The NAT66 fast path's user-space half: which sessions the kernel finishes
// on its own, and what their packets there count for. The kernel half is
// offload-program.ts (a tc program on the bridges' and the uplink's
// ingress); the map between the two is laid out in offload-layout.ts.
//
// The engine offers a session once it is settled (TCP established, UDP
// answered) and a whole packet of it took the plain masquerade path
// (src/nat/candidates.ts). After each wake-up that left offers, promote()
// writes both of each offered session's entries with one call: outbound,
// (inside, remote) as it arrives on a bridge to (external, remote) out of
// the uplink; inbound, (remote, external) as it arrives on the uplink to
// (remote, inside) out of the bridge of the inside address's network. From
// then on the session's packets without SYN, FIN or RST never reach the TUN.
//
// Once a second, right before the engine expires sessions, sync() reads the
// map (one call) and folds what each entry counted since into its session
// (Nat66.passedFast: the session's timer, packets and bytes, its container's
// and network's counters), then demotes (both entries deleted, the session's
// mark cleared) every session that closed (a FIN or RST took the slow path),
// went or was replaced by another with the same id; after the expiry reap()
// demotes those that expired. Everything is demoted on a reconfiguration, a
// new table, a capture (it must see every packet) and a stop.
//
// Slots: each offloaded session holds one of this worker's slots, which
// bounds its entries (two per slot) to its share of the map, so a write
// never finds the map full; no free slot is a refused promotion, counted,
// and the engine offers nothing more until a demotion frees one.
// An entry's tag (worker << 24 | slot) tells whose it is: with --workers
// every worker promotes and syncs its own sessions in the one map.
//
// OffloadPrograms holds the map and the two loaded programs, and attaches
// them to the devices (tcx links: they end with the process, however it
// ends, so a crash leaves nothing attached).
import { BpfMap, MapType, TcProgram, type TcxLink } from '../io/ebpf.js';
import { ifIndexOrZero } from '../io/netif.js';
import { addressWords, maskWords } from '../nat/engine-config.js';
import type { Nat66 } from '../nat/nat66.js';
import { Flag, R, REC_WORDS } from '../nat/table.js';
import { Direction, ProtoClass } from '../nat/types.js';
import { formatIpv6, parseIpv6Prefix } from '../wire/address.js';
import { writeAddressWords } from '../wire/checksum.js';
import { HEADER_LEN as ETH_HEADER_LEN } from '../wire/ethernet.js';
import { Protocol } from '../wire/ipv6.js';
import { describeCodes } from '../wire/names.js';
import { offloadProgram } from './offload-program.js';
import { Key, KEY_SIZE, Role, Value, VALUE_SIZE } from './offload-layout.js';

/** Map entries: two per offloaded session, shared out among the workers. */
const DEFAULT_OFFLOAD_ENTRIES = 65_536;

/** Indexes of NatOffload.counters; what each counts is its help text below. */
export const OffloadCounter = {
  Promotions: 0,
  DemotedClosed: 1,
  DemotedGone: 2,
  DemotedExpired: 3,
  DemotedReset: 4,
  DemotedCapture: 5,
  MapFull: 6,
  Unroutable: 7,
  OffersMissed: 8,
  OutPackets: 9,
  OutBytes: 10,
  InPackets: 11,
  InBytes: 12,
} as const;
// Each counter's name and one-line help: the one place they are written.
const OFFLOAD_COUNTERS = describeCodes(OffloadCounter, {
  Promotions: ['promotions', 'Sessions handed to the kernel fast path (TCP established, UDP answered).'],
  DemotedClosed: ['demoted-closed', 'Offloaded sessions taken back because a FIN or RST went through the engine.'],
  DemotedGone: ['demoted-gone', 'Offloaded sessions taken back because the engine removed them (evicted, reconfigured) or reused their id.'],
  DemotedExpired: ['demoted-expired', 'Offloaded sessions taken back because they expired (no packet on either path for their timeout).'],
  DemotedReset: ['demoted-reset', 'Offloaded sessions taken back all at once: a reconfiguration, a new table or a stop.'],
  DemotedCapture: ['demoted-capture', 'Offloaded sessions taken back because a capture started (it must see every packet).'],
  MapFull: ['map-full', "Promotions refused: this worker's share of the fast path's map was full (offers stop until a session is demoted)."],
  Unroutable: ['unroutable', "Promotions refused: the inside address's network has no bridge here, or the remote is not reached through the uplink (the slow path keeps them)."],
  OffersMissed: ['offers-missed', 'Offers the engine could not queue between two wake-ups (offered again by their next packet).'],
  OutPackets: ['out-packets', 'Packets the fast path translated outbound (a GSO super-packet counts once).'],
  OutBytes: ['out-bytes', 'Bytes of the IPv6 packets the fast path translated outbound.'],
  InPackets: ['in-packets', 'Packets the fast path translated inbound.'],
  InBytes: ['in-bytes', 'Bytes of the IPv6 packets the fast path translated inbound.'],
});
export const OFFLOAD_COUNTER_NAMES: readonly string[] = OFFLOAD_COUNTERS.names;
export const OFFLOAD_COUNTER_HELP: readonly string[] = OFFLOAD_COUNTERS.help;

const SLOT_BITS = 24;
/** Session words that identify it: inside address, remote address, ports, external side. */
const IDENT_WORDS = R.EXT + 1;

/** An inside subnet and the device its addresses are reached on. */
export interface InsideRoute {
  readonly subnet: string;
  readonly ifindex: number;
}

/** A route of the host's: a prefix, and whether it leaves through the uplink. */
export interface EgressRoute {
  readonly prefix: string;
  readonly uplink: boolean;
}

/**
 * Where offloaded packets leave: the uplink (outbound) and each inside
 * subnet's bridge (inbound). `egress`, the host's routes (its own addresses
 * as /128s not through the uplink): a session whose remote address is not
 * reached through the uplink (another bridge, a tunnel, the host itself) stays
 * on the slow path, where the kernel routes the translated packet.
 */
export interface OffloadRoutes {
  readonly uplink: number;
  readonly inside: readonly InsideRoute[];
  readonly egress: readonly EgressRoute[];
}

/** Prefixes, longest first, each with a value (non-zero): the longest match's value, or 0. */
class PrefixTable {
  private readonly words: Uint32Array;
  private readonly values: Int32Array;

  constructor(entries: ReadonlyArray<{ prefix: string; value: number }>) {
    const parsed = entries.map((e) => ({ ...parseIpv6Prefix(e.prefix), value: e.value })).sort((a, b) => b.length - a.length);
    this.words = new Uint32Array(parsed.length * 8);
    this.values = Int32Array.from(parsed, (e) => e.value);
    parsed.forEach((e, i) => {
      maskWords(e.length, this.words, i * 8 + 4);
      addressWords(e.address, this.words, i * 8);
      for (let k = 0; k < 4; k++) this.words[i * 8 + k] = (this.words[i * 8 + k] & this.words[i * 8 + 4 + k]) >>> 0;
    });
  }

  /** The value of the longest prefix holding the address in w[o..o+3], or 0. */
  lookup(w: Uint32Array, o: number): number {
    const p = this.words;
    for (let i = 0; i < this.values.length; i++) {
      const b = i * 8;
      if (((w[o] & p[b + 4]) >>> 0) === p[b] && ((w[o + 1] & p[b + 5]) >>> 0) === p[b + 1] &&
        ((w[o + 2] & p[b + 6]) >>> 0) === p[b + 2] && ((w[o + 3] & p[b + 7]) >>> 0) === p[b + 3]) return this.values[i];
    }
    return 0;
  }
}

/** PrefixTable values of the egress routes. */
const VIA_UPLINK = 1;
const ELSEWHERE = 2;

/** Debug lines, one per promotion and demotion; undefined when debug is off (nothing is formatted then). */
export type OffloadDebug = ((fields: object, text: string) => void) | undefined;

/** One worker's offloaded sessions, in the map shared by all. */
export class NatOffload {
  readonly counters = new Float64Array(OFFLOAD_COUNTER_NAMES.length);
  readonly map: BpfMap;
  readonly worker: number;
  readonly slots: number;
  private nat: Nat66 | undefined;
  /** Per session id of the bound engine: its slot, or -1. */
  private slotOf = new Int32Array(0);
  private readonly debug: OffloadDebug;
  /** A capture runs: nothing is promoted. */
  private paused = false;
  /** Per slot: the session id (0: free), its identity (IDENT_WORDS record words and its protocol class), its two keys, the counts last read. */
  private readonly slotId: Int32Array;
  private readonly slotIdent: Uint32Array;
  private readonly slotPc: Uint8Array;
  private readonly slotKeys: Uint8Array;
  private readonly slotSeen: Float64Array;
  private readonly free: Int32Array;
  private freeCount: number;
  private used = 0;
  // promote()'s batch: two entries per offer, and each pair's slot.
  private readonly keys: Uint8Array;
  private readonly values: Uint8Array;
  private readonly valueView: DataView;
  private readonly batchSlots: Int32Array;
  // sync()'s copy of the whole map.
  private readonly dumpKeys: Uint8Array;
  private readonly dumpValues: Uint8Array;
  private readonly dumpView: DataView;
  private readonly scratchKey = new Uint8Array(KEY_SIZE);
  private uplink = 0;
  /** Inside subnets → their bridge's ifindex; remote addresses → VIA_UPLINK or ELSEWHERE. */
  private inside = new PrefixTable([]);
  private egress = new PrefixTable([]);

  /** `slots`: this worker's share of the map, in sessions (its entries / 2). */
  constructor(options: { map: BpfMap; worker: number; slots: number; batch: number; debug?: OffloadDebug }) {
    this.map = options.map;
    this.worker = options.worker;
    this.slots = options.slots;
    this.debug = options.debug;
    const n = options.slots;
    this.slotId = new Int32Array(n);
    this.slotIdent = new Uint32Array(n * IDENT_WORDS);
    this.slotPc = new Uint8Array(n);
    this.slotKeys = new Uint8Array(n * 2 * KEY_SIZE);
    this.slotSeen = new Float64Array(n * 4);
    this.free = new Int32Array(n);
    for (let i = 0; i < n; i++) this.free[i] = n - 1 - i;
    this.freeCount = n;
    this.keys = new Uint8Array(options.batch * 2 * KEY_SIZE);
    this.values = new Uint8Array(options.batch * 2 * VALUE_SIZE);
    this.valueView = new DataView(this.values.buffer);
    this.batchSlots = new Int32Array(options.batch);
    this.dumpKeys = new Uint8Array(options.map.maxEntries * KEY_SIZE);
    this.dumpValues = new Uint8Array(options.map.maxEntries * VALUE_SIZE);
    this.dumpView = new DataView(this.dumpValues.buffer);
  }

  /**
   * Deletes the entries of this worker a predecessor left (a worker started
   * anew after a crash: the map outlived it). One read of the map.
   */
  clearStale(): void {
    const count = this.map.dump(this.dumpKeys, this.dumpValues);
    for (let e = 0; e < count; e++) {
      if (this.dumpView.getUint32(e * VALUE_SIZE + Value.TAG, true) >>> SLOT_BITS === this.worker) {
        this.map.delete(this.dumpKeys.subarray(e * KEY_SIZE, (e + 1) * KEY_SIZE));
      }
    }
  }

  /** Sessions offloaded now. */
  get sessions(): number {
    return this.used;
  }

  /**
   * The engine whose sessions are offloaded from now on (a new table after
   * a rebuild: its ids are not the old one's, so everything is demoted first).
   */
  bind(nat: Nat66): void {
    if (nat === this.nat) return;
    if (this.nat !== undefined) {
      this.nat.offload.enabled = false;
      this.demoteAll(OffloadCounter.DemotedReset);
    }
    this.nat = nat;
    this.slotOf = new Int32Array(nat.table.capacity + 1).fill(-1);
    // Marks an adopted table kept from the process before name entries of its map, not this one's.
    nat.unmarkAll();
    nat.offload.enabled = !this.paused;
  }

  /** Where offloaded packets leave. Sessions already offloaded keep their entries: call demoteAll first when the devices changed. */
  setRoutes(routes: OffloadRoutes): void {
    this.uplink = routes.uplink;
    this.inside = new PrefixTable(routes.inside.map((r) => ({ prefix: r.subnet, value: r.ifindex })));
    this.egress = new PrefixTable(routes.egress.map((r) => ({ prefix: r.prefix, value: r.uplink ? VIA_UPLINK : ELSEWHERE })));
  }

  /** A capture started (`sixgate capture` sees every packet): everything back to the slow path, no promotion until resume(). */
  pause(): void {
    this.paused = true;
    if (this.nat !== undefined) this.nat.offload.enabled = false;
    this.demoteAll(OffloadCounter.DemotedCapture);
  }

  resume(): void {
    this.paused = false;
    if (this.nat !== undefined) this.nat.offload.enabled = true;
  }

  /**
   * The sessions the engine offered since the last call: each still settled
   * gets a slot and its two entries, all written with one call. After a
   * wake-up that left offers (Nat66.offload.count > 0). Allocates nothing.
   */
  promote(): void {
    const nat = this.nat;
    if (nat === undefined) return;
    const c = nat.offload;
    const n = c.count;
    c.count = 0;
    if (c.missed !== 0) {
      this.counters[OffloadCounter.OffersMissed] += c.missed;
      c.missed = 0;
    }
    if (this.paused) {
      for (let i = 0; i < n; i++) nat.unmark(c.ids[i]);
      return;
    }
    const rec = nat.table.rec;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      const id = c.ids[i];
      const held = this.slotOf[id];
      if (held >= 0) {
        // Offered twice (removed and made anew in the record within one wake-up): once is enough.
        if (this.holds(nat, held)) continue;
        // The id's former session is gone; its entries go before the new session's are written.
        this.demote(held, OffloadCounter.DemotedGone);
      }
      // Closed (or removed) by a later packet of the same wake-up: offered again if it settles anew.
      if (!nat.settled(id)) {
        nat.unmark(id);
        continue;
      }
      if (this.freeCount === 0) {
        // Full: the engine stops offering until a demotion frees a slot (release).
        this.counters[OffloadCounter.MapFull]++;
        nat.unmark(id);
        c.enabled = false;
        continue;
      }
      const bridge = this.inside.lookup(rec, id * REC_WORDS + R.IN_ADDR);
      // No bridge for its network, or a remote not through the uplink: stays marked (not offered again) until the next reset.
      if (bridge === 0 || this.egress.lookup(rec, id * REC_WORDS + R.REM_ADDR) !== VIA_UPLINK) {
        this.counters[OffloadCounter.Unroutable]++;
        continue;
      }
      const slot = this.free[--this.freeCount];
      this.fill(nat, id, slot, bridge, pairs);
      this.batchSlots[pairs++] = slot;
    }
    if (pairs === 0) return;
    const written = this.map.updateMany(this.keys, this.values, pairs * 2);
    if (written < pairs * 2) this.undoUnwritten(pairs);
    for (let p = 0; p < pairs; p++) {
      const slot = this.batchSlots[p];
      if (this.slotId[slot] === 0) continue;
      this.used++;
      nat.setOffloaded(this.slotId[slot]);
      this.counters[OffloadCounter.Promotions]++;
      this.debug?.(this.describe(slot), 'NAT session offloaded to the kernel fast path');
    }
  }

  // A batch the kernel took only in part (it should not happen: the slots
  // bound the entries): each pair not wholly in the map is taken out again.
  private undoUnwritten(pairs: number): void {
    const probe = new Uint8Array(VALUE_SIZE);
    for (let p = 0; p < pairs; p++) {
      const slot = this.batchSlots[p];
      const keys = this.slotKeys.subarray(slot * 2 * KEY_SIZE, (slot + 1) * 2 * KEY_SIZE);
      const out = keys.subarray(0, KEY_SIZE);
      const back = keys.subarray(KEY_SIZE);
      if (this.map.lookup(out, probe) && this.map.lookup(back, probe)) continue;
      this.map.delete(out);
      this.map.delete(back);
      this.nat!.unmark(this.slotId[slot]);
      this.release(slot);
      this.counters[OffloadCounter.MapFull]++;
    }
  }

  // The entries of session `id` in `slot`, at batch pair `pair` (and kept in the slot).
  private fill(nat: Nat66, id: number, slot: number, bridge: number, pair: number): void {
    const rec = nat.table.rec;
    const o = id * REC_WORDS;
    const meta = rec[o + R.META];
    const pc = (meta >>> 12) & 0xf;
    const next = pc === ProtoClass.Tcp ? Protocol.Tcp : Protocol.Udp;
    const inPort = rec[o + R.PORTS] >>> 16;
    const remPort = rec[o + R.PORTS] & 0xffff;
    const extIdx = rec[o + R.EXT] & 0xffff;
    const extPort = rec[o + R.EXT] >>> 16;
    const ext = nat.cfg.extWords;
    const tag = ((this.worker << SLOT_BITS) | slot) >>> 0;
    const keys = this.keys;
    const kOut = pair * 2 * KEY_SIZE;
    const kIn = kOut + KEY_SIZE;
    keys.fill(0, kOut, kOut + 2 * KEY_SIZE);
    keys[kOut + Key.ROLE] = Role.Inside;
    keys[kIn + Key.ROLE] = Role.Outside;
    keys[kOut + Key.NEXT_HEADER] = next;
    keys[kIn + Key.NEXT_HEADER] = next;
    writeAddressWords(keys, kOut + Key.SRC, rec, o + R.IN_ADDR);
    writeAddressWords(keys, kOut + Key.DST, rec, o + R.REM_ADDR);
    putPort(keys, kOut + Key.SRC_PORT, inPort);
    putPort(keys, kOut + Key.DST_PORT, remPort);
    writeAddressWords(keys, kIn + Key.SRC, rec, o + R.REM_ADDR);
    writeAddressWords(keys, kIn + Key.DST, ext, extIdx * 4);
    putPort(keys, kIn + Key.SRC_PORT, remPort);
    putPort(keys, kIn + Key.DST_PORT, extPort);
    const values = this.values;
    const v = this.valueView;
    const vOut = pair * 2 * VALUE_SIZE;
    const vIn = vOut + VALUE_SIZE;
    values.fill(0, vOut, vOut + 2 * VALUE_SIZE);
    writeAddressWords(values, vOut + Value.SRC, ext, extIdx * 4);
    writeAddressWords(values, vOut + Value.DST, rec, o + R.REM_ADDR);
    putPort(values, vOut + Value.SRC_PORT, extPort);
    putPort(values, vOut + Value.DST_PORT, remPort);
    writeAddressWords(values, vIn + Value.SRC, rec, o + R.REM_ADDR);
    writeAddressWords(values, vIn + Value.DST, rec, o + R.IN_ADDR);
    putPort(values, vIn + Value.SRC_PORT, remPort);
    putPort(values, vIn + Value.DST_PORT, inPort);
    // Host order (little-endian on every Linux this runs on).
    v.setUint32(vOut + Value.OUT_IFINDEX, this.uplink, true);
    v.setUint32(vIn + Value.OUT_IFINDEX, bridge, true);
    v.setUint32(vOut + Value.TAG, tag, true);
    v.setUint32(vIn + Value.TAG, tag, true);
    v.setUint32(vOut + Value.IN_IFINDEX, bridge, true);
    v.setUint32(vIn + Value.IN_IFINDEX, this.uplink, true);
    for (let k = 0; k < 2 * KEY_SIZE; k++) this.slotKeys[slot * 2 * KEY_SIZE + k] = keys[kOut + k];
    this.slotId[slot] = id;
    this.slotOf[id] = slot;
    this.slotPc[slot] = pc;
    for (let k = 0; k < IDENT_WORDS; k++) this.slotIdent[slot * IDENT_WORDS + k] = rec[o + k];
    this.slotSeen.fill(0, slot * 4, slot * 4 + 4);
  }

  /**
   * Once a second, right before the engine's expiry: what the fast path
   * forwarded since the last call is counted into the sessions (and
   * refreshes their timers), then the sessions that closed, went or were
   * replaced are demoted.
   */
  sync(now: number): void {
    const nat = this.nat;
    if (nat === undefined || this.used === 0) return;
    this.fold(nat, now);
    for (let slot = 0; slot < this.slots; slot++) {
      const id = this.slotId[slot];
      if (id === 0) continue;
      if (!this.holds(nat, slot)) this.demote(slot, OffloadCounter.DemotedGone);
      else if (!nat.settled(id)) this.demote(slot, OffloadCounter.DemotedClosed);
    }
  }

  /** Right after the engine's expiry: the sessions it removed are demoted. */
  reap(): void {
    const nat = this.nat;
    if (nat === undefined || this.used === 0) return;
    for (let slot = 0; slot < this.slots; slot++) {
      if (this.slotId[slot] !== 0 && !this.holds(nat, slot)) this.demote(slot, OffloadCounter.DemotedExpired);
    }
  }

  // One read of the whole map; this worker's entries that counted more since the last read count into their sessions.
  private fold(nat: Nat66, now: number): void {
    const count = this.map.dump(this.dumpKeys, this.dumpValues);
    const v = this.dumpView;
    const keys = this.dumpKeys;
    for (let e = 0; e < count; e++) {
      const at = e * VALUE_SIZE;
      const tag = v.getUint32(at + Value.TAG, true);
      if (tag >>> SLOT_BITS !== this.worker) continue;
      const slot = tag & ((1 << SLOT_BITS) - 1);
      if (slot >= this.slots || this.slotId[slot] === 0) continue;
      const inbound = keys[e * KEY_SIZE + Key.ROLE] === Role.Outside;
      if (!this.sameKey(slot, inbound, e)) continue;
      const packets = v.getUint32(at + Value.PACKETS, true) + v.getUint32(at + Value.PACKETS + 4, true) * 0x100000000;
      const bytes = v.getUint32(at + Value.BYTES, true) + v.getUint32(at + Value.BYTES + 4, true) * 0x100000000;
      const seen = slot * 4 + (inbound ? 2 : 0);
      const dp = packets - this.slotSeen[seen];
      // The program counts skb->len, Ethernet header included; the engine counts IPv6 packets.
      const db = bytes - this.slotSeen[seen + 1] - ETH_HEADER_LEN * dp;
      this.slotSeen[seen] = packets;
      this.slotSeen[seen + 1] = bytes;
      if (dp <= 0 || !this.holds(nat, slot)) continue;
      nat.passedFast(this.slotId[slot], inbound ? Direction.In : Direction.Out, dp, db, now);
      this.counters[inbound ? OffloadCounter.InPackets : OffloadCounter.OutPackets] += dp;
      this.counters[inbound ? OffloadCounter.InBytes : OffloadCounter.OutBytes] += db;
    }
  }

  private sameKey(slot: number, inbound: boolean, entry: number): boolean {
    const mine = slot * 2 * KEY_SIZE + (inbound ? KEY_SIZE : 0);
    const keys = this.dumpKeys;
    const at = entry * KEY_SIZE;
    for (let k = 0; k < KEY_SIZE; k++) if (keys[at + k] !== this.slotKeys[mine + k]) return false;
    return true;
  }

  // The session in `slot` is still the one promoted: live, same addresses, ports, external side and protocol.
  private holds(nat: Nat66, slot: number): boolean {
    const rec = nat.table.rec;
    const o = this.slotId[slot] * REC_WORDS;
    const meta = rec[o + R.META];
    if ((meta & Flag.LIVE) === 0 || ((meta >>> 12) & 0xf) !== this.slotPc[slot]) return false;
    const s = slot * IDENT_WORDS;
    for (let k = 0; k < IDENT_WORDS; k++) if (rec[o + k] !== this.slotIdent[s + k]) return false;
    return true;
  }

  private demote(slot: number, reason: number): void {
    this.map.delete(this.slotKey(slot, false));
    this.map.delete(this.slotKey(slot, true));
    this.counters[reason]++;
    this.used--;
    this.debug?.({ ...this.describe(slot), reason: OFFLOAD_COUNTER_NAMES[reason] }, 'NAT session back on the slow path');
    // The mark is the session's: one that took the id since has its own.
    if (this.nat !== undefined && this.holds(this.nat, slot)) this.nat.unmark(this.slotId[slot]);
    this.release(slot);
  }

  /** A copy of `slot`'s outbound or inbound key in the one scratch key (no view made per demotion). */
  private slotKey(slot: number, inbound: boolean): Uint8Array {
    const at = slot * 2 * KEY_SIZE + (inbound ? KEY_SIZE : 0);
    for (let k = 0; k < KEY_SIZE; k++) this.scratchKey[k] = this.slotKeys[at + k];
    return this.scratchKey;
  }

  private release(slot: number): void {
    if (this.slotOf[this.slotId[slot]] === slot) this.slotOf[this.slotId[slot]] = -1;
    this.slotId[slot] = 0;
    this.free[this.freeCount++] = slot;
    if (this.nat !== undefined && !this.paused) this.nat.offload.enabled = true;
  }

  /**
   * Every session back to the slow path, and the engine's marks cleared (a
   * reconfiguration, a capture, a stop). What the fast path counted since
   * the last sync is folded in first, when `now` is given.
   */
  demoteAll(reason: number = OffloadCounter.DemotedReset, now?: number): void {
    const nat = this.nat;
    if (nat !== undefined && now !== undefined && this.used > 0) this.fold(nat, now);
    for (let slot = 0; slot < this.slots; slot++) if (this.slotId[slot] !== 0) this.demote(slot, reason);
    // Offered and not promoted (no bridge, a remote elsewhere, still in the ring): offered anew from now on.
    nat?.unmarkAll();
  }

  /** The session in `slot`, for a debug line. */
  private describe(slot: number): object {
    const keys = this.slotKeys;
    const at = slot * 2 * KEY_SIZE;
    const text = (o: number): string => formatIpv6(keys, o);
    const port = (o: number): number => (keys[o]! << 8) | keys[o + 1]!;
    return {
      worker: this.worker, session: this.slotId[slot], proto: keys[at + Key.NEXT_HEADER] === Protocol.Tcp ? 'tcp' : 'udp',
      inside: `[${text(at + Key.SRC)}]:${port(at + Key.SRC_PORT)}`, remote: `[${text(at + Key.DST)}]:${port(at + Key.DST_PORT)}`,
      external: `[${text(at + KEY_SIZE + Key.DST)}]:${port(at + KEY_SIZE + Key.DST_PORT)}`,
    };
  }
}

function putPort(out: Uint8Array, at: number, port: number): void {
  out[at] = port >> 8;
  out[at + 1] = port;
}

/**
 * The fast path's map and its two programs, loaded once per process, and
 * their links on the devices (kept per ifindex, so a bridge made anew under
 * the same name gets a new link). Closing the links or the process ending
 * detaches the programs.
 */
export class OffloadPrograms {
  readonly map: BpfMap;
  private readonly inside: TcProgram;
  private readonly outside: TcProgram;
  private readonly links = new Map<number, { role: Role; link: TcxLink }>();

  private constructor(map: BpfMap, inside: TcProgram, outside: TcProgram) {
    this.map = map;
    this.inside = inside;
    this.outside = outside;
  }

  /** Creates the map (`entries` entries, two per session) and loads both programs; throws when the kernel refuses. */
  static load(entries = DEFAULT_OFFLOAD_ENTRIES): OffloadPrograms {
    const map = BpfMap.create(MapType.HASH, KEY_SIZE, VALUE_SIZE, entries, 'NAT66 fast path');
    try {
      const inside = TcProgram.load(offloadProgram(Role.Inside, map), 'NAT66 fast path (inside)');
      try {
        return new OffloadPrograms(map, inside, TcProgram.load(offloadProgram(Role.Outside, map), 'NAT66 fast path (uplink)'));
      } catch (err) {
        inside.close();
        throw err;
      }
    } catch (err) {
      map.close();
      throw err;
    }
  }

  /**
   * The outside program on `uplink`'s ingress, the inside one on each of
   * `inside`'s: links to devices no longer named (or gone) are closed, new
   * ones made. Devices that do not exist (yet) are skipped. Throws when the
   * kernel refuses an attachment (the links made so far stay).
   */
  attach(uplink: string, inside: readonly string[]): void {
    const wanted = new Map<number, Role>();
    const add = (name: string, role: Role): void => {
      const index = ifIndexOrZero(name);
      if (index !== 0 && !wanted.has(index)) wanted.set(index, role);
    };
    add(uplink, Role.Outside);
    for (const dev of inside) add(dev, Role.Inside);
    for (const [index, { role, link }] of this.links) {
      if (wanted.get(index) === role) continue;
      link.close();
      this.links.delete(index);
    }
    for (const [index, role] of wanted) {
      if (this.links.has(index)) continue;
      const link = (role === Role.Outside ? this.outside : this.inside).attach(index, 'ingress');
      this.links.set(index, { role, link });
    }
  }

  /** The devices the programs are attached to (ifindexes). */
  get attached(): number[] {
    return [...this.links.keys()];
  }

  /** Detaches everything and frees the programs and the map. */
  close(): void {
    for (const { link } of this.links.values()) link.close();
    this.links.clear();
    this.inside.close();
    this.outside.close();
    this.map.close();
  }
}
