// Session policy of the NAT66 translator: opening sessions (mapping reuse,
// port allocation, published ports, filtering), their lifetimes per
// protocol and TCP state, and making room when the table is full.
//
// Split from nat66.ts, which owns the packet walk and the rewriting; both
// share the table, the compiled configuration and the counter arrays, and
// the translator sets `tick` before each packet.
//
// Fairness. An unreplied session (a lone SYN, one-way UDP: nothing came
// back yet) costs a flooder nothing, so unreplied sessions are what goes
// first, from the table's least-recently-used list of them:
//  - table full: the stalest unreplied session of all (conntrack's
//    early_drop, but by age, not a random bucket), or, when the requester
//    is a heavy user (heavyAt), its own stalest first (the table keeps a
//    ring of them per inside address);
//  - an inside address at its quota: its own stalest unreplied session,
//    or the packet is dropped (counted; the service logs it);
//  - a network at its quota: the same choice within the network;
//  - a port pool (one external address's ports of one protocol class) full:
//    the same choice among single-session mappings of that pool, then a
//    bounded scan of the pool for a mapping whose sessions are all
//    unreplied or idle;
//  - over 3/4 full, unreplied sessions live at most `unrepliedUnderPressure`.
// Preferring the requester's own sessions means a flooder recycles its own
// ports and sessions instead of pushing out another container's, whose
// fresh sessions sit at the recent end of the list anyway.

import { ConnTable, R, REC_WORDS, Flag, OWNER_PUBLISHED } from './table.js';
import { NatDrop } from './drop.js';
import { ProtoClass, TcpState, NatCounter, Direction } from './types.js';
import { tcpNext, tcpOpening } from './tcp-state.js';
import { networkExternal, type CompiledConfig } from './engine-config.js';
import type { PublishedPorts } from './published.js';

const DIR_OUT = Direction.Out;
const DIR_IN = Direction.In;
/** Sessions the idle reclaimer looks at before giving up on a full table. */
const RECLAIM_BUDGET = 256;
/** Unreplied sessions looked at, stalest first, for one of the requester's own. */
const EVICT_BUDGET = 64;
/** Ports probed from the hashed start before a pool counts as exhausted and is reclaimed from. */
const PORT_SCAN_BUDGET = 256;
/** Mappings of an exhausted pool checked for unreplied or idle ones, and sessions per mapping. */
const POOL_SCAN_BUDGET = 64;
const POOL_RING_BUDGET = 16;

/** What evictUnreplied may take. */
const Scope = { Table: 0, Address: 1, Network: 2, Pool: 3 } as const;

/** Sessions opened between two reads by the service that -v logs one by one. */
const CREATED_RING = 256;

export class Sessions {
  /** Current tick (1 s), set by the translator per packet. */
  tick = 0;
  /** Sessions one inside address / one network may hold. */
  addressQuota = 0;
  networkQuota = 0;
  /** From this many sessions on the table is under pressure (3/4 of capacity). */
  pressureAt = 0;
  /**
   * A host with this many unreplied sessions (1/16 of its quota, at least
   * 64) pays for a new session with its own stalest unreplied one before
   * anyone else's: a flooder recycles its own. A host with fewer takes the
   * stalest of all, so it never evicts its own pending connection (nor is
   * pushed out: its sessions are the fresh ones).
   */
  heavyAt = 0;
  /**
   * The last quota hit, for the service's log line: the inside address
   * (four words), its network, and which quota (NatDrop.AddressQuota or
   * NatDrop.NetworkQuota). Hits are counted in AddressQuotaHits / NetworkQuotaHits.
   */
  readonly quotaAddress = new Uint32Array(4);
  quotaNetwork = -1;
  quotaKind = 0;
  /**
   * -v: ids of the sessions opened since the service last read them (it logs
   * each and sets createdCount back to 0); beyond the ring's room they are
   * only counted in createdMissed. Off (noteCreated false), opening a
   * session costs one test more, and nothing is written.
   */
  noteCreated = false;
  readonly created = new Int32Array(CREATED_RING);
  createdCount = 0;
  createdMissed = 0;
  private readonly table: ConnTable;
  private readonly cfg: CompiledConfig;
  private readonly published: PublishedPorts;
  private readonly drops: Float64Array;
  private readonly counters: Float64Array;
  // evictUnreplied's scope arguments (fields, so the call passes no extra numbers).
  private scopeHost = 0;
  private scopeNet = 0;
  private scopeExt = 0;
  private scopePc = 0;

  constructor(table: ConnTable, cfg: CompiledConfig, published: PublishedPorts, drops: Float64Array, counters: Float64Array) {
    this.table = table;
    this.cfg = cfg;
    this.published = published;
    this.drops = drops;
    this.counters = counters;
    this.configure();
  }

  /** Derive the quotas from the configuration (again after a reconfiguration: the networks may have changed). */
  configure(): void {
    const cfg = this.cfg;
    const capacity = this.table.capacity;
    // A quarter of the table per inside address: four flooders fill it, one
    // cannot; never under 1,024 (a busy container needs that many, and
    // tables that small are tests). A network's quota only matters beside
    // another network: with two masquerading networks or more, each keeps
    // at most 3/4, so the others always find a quarter free. (A network with
    // no inside subnet, the host's addresses for published ports, is not
    // one more: its sessions are its containers' networks' traffic.)
    this.addressQuota = cfg.addressQuota || Math.max(Math.floor(capacity / 4), Math.min(capacity, 1024));
    let masquerading = 0;
    for (let n = 0; n < cfg.netCount; n++) if (cfg.netExtCount[n] > 0 && cfg.subnetNet.includes(n)) masquerading++;
    this.networkQuota = cfg.networkQuota || (masquerading >= 2 ? Math.floor(capacity * 3 / 4) : capacity);
    this.pressureAt = Math.floor(capacity * 3 / 4);
    this.heavyAt = Math.max(64, Math.floor(this.addressQuota / 16));
  }

  private note(id: number): void {
    if (this.createdCount < this.created.length) this.created[this.createdCount++] = id;
    else this.createdMissed++;
  }

  private drop(code: number): number {
    this.drops[code]++;
    return -code;
  }

  /** A session for an outbound packet with none (key: table.key); its id, or -reason. */
  createOutbound(net: number, pc: number, inPort: number, remPort: number, flags: number): number {
    const t = this.table;
    const host = t.acquireHost();
    if (host === 0) return this.drop(NatDrop.HostTableFull);
    if (t.count >= t.capacity && !this.makeRoom(host)) return this.drop(NatDrop.TableFull);
    const refused = this.admit(host, net);
    if (refused !== 0) return this.drop(refused);
    const rec = t.rec;
    let anchor = t.findMapping(pc, inPort);
    while (anchor !== 0 && rec[anchor * REC_WORDS + R.EXPIRY] <= this.tick) {
      t.remove(anchor);
      anchor = t.findMapping(pc, inPort);
    }
    let extIdx: number;
    let extPort: number;
    if (anchor !== 0) {
      extIdx = rec[anchor * REC_WORDS + R.EXT] & 0xffff;
      extPort = rec[anchor * REC_WORDS + R.EXT] >>> 16;
    } else {
      const k = t.key;
      // Only among the addresses new mappings are made on (not the draining ones).
      const count = this.cfg.netExtNew[net];
      extIdx = networkExternal(this.cfg, net, count === 1 ? 0 : (Math.imul(k[0] ^ k[1] ^ k[2] ^ k[3], 0x9e3779b1) >>> 0) % count);
      extPort = this.allocatePort(extIdx, pc, inPort, net, host);
      if (extPort < 0) return this.drop(NatDrop.PortsExhausted);
    }
    if (t.findOutside(pc, extIdx, extPort, remPort) !== 0) return this.drop(NatDrop.Conflict);
    let state: number = TcpState.None;
    if (pc === ProtoClass.Tcp) state = tcpOpening(flags, DIR_OUT);
    const id = t.insert(pc, inPort, remPort, extIdx, extPort, host, 0, state, this.openingExpiry(pc, state), anchor);
    if (id === 0) return this.drop(NatDrop.TableFull);
    this.counters[NatCounter.SessionsCreated]++;
    if (this.noteCreated) this.note(id);
    return id;
  }

  // Port preservation when the inside port is in range and free; otherwise a
  // hashed start (RFC 6056 style, per inside address and port) and a scan.
  // A pool that looks full after PORT_SCAN_BUDGET probes is reclaimed from
  // before the rest is scanned, so a flood at a full pool costs a bounded
  // amount per packet whenever something can be reclaimed.
  private allocatePort(extIdx: number, pc: number, preferred: number, net: number, host: number): number {
    const t = this.table;
    const lo = pc === ProtoClass.Icmp ? this.cfg.icmpIdLo : this.cfg.netPortLo[net];
    const hi = pc === ProtoClass.Icmp ? this.cfg.icmpIdHi : this.cfg.netPortHi[net];
    if (preferred >= lo && preferred <= hi && t.portOwner(extIdx, pc, preferred) === 0) return preferred;
    const range = hi - lo + 1;
    const k = t.key;
    let p = lo + (Math.imul(k[3] ^ Math.imul(k[2], 0x85ebca6b) ^ (preferred << 7), 0x9e3779b1) >>> 0) % range;
    const probes = range < PORT_SCAN_BUDGET ? range : PORT_SCAN_BUDGET;
    for (let i = 0; i < probes; i++) {
      if (t.portOwner(extIdx, pc, p) === 0) return p;
      p = p === hi ? lo : p + 1;
    }
    const reclaimed = this.reclaimPort(extIdx, pc, host, p, lo, hi);
    if (reclaimed >= 0) return reclaimed;
    for (let i = probes; i < range; i++) {
      if (t.portOwner(extIdx, pc, p) === 0) return p;
      p = p === hi ? lo : p + 1;
    }
    return -1;
  }

  // A full pool: a single-session unreplied mapping of it (the requester's
  // own first), else a mapping found from `start` whose sessions are all
  // unreplied or idle. Returns the freed port, or -1.
  private reclaimPort(extIdx: number, pc: number, host: number, start: number, lo: number, hi: number): number {
    const t = this.table;
    this.scopeExt = extIdx;
    this.scopePc = pc;
    const victim = this.findUnreplied(host, Scope.Pool);
    if (victim !== 0) {
      const port = t.rec[victim * REC_WORDS + R.EXT] >>> 16;
      t.remove(victim);
      this.counters[NatCounter.EarlyDrops]++;
      this.counters[NatCounter.PortsReclaimed]++;
      if (port >= lo && port <= hi) return port;
    }
    const heavy = t.unrepliedCountOf(host) >= this.heavyAt;
    let p = start;
    for (let i = 0; i < POOL_SCAN_BUDGET; i++) {
      const owner = t.portOwner(extIdx, pc, p);
      if (owner === 0) return p;
      // The scan does not go by age: a light requester's own mappings there are its fresh pending flows.
      if (owner > 0 && (t.rec[owner * REC_WORDS + R.META] >>> 16 !== host || heavy) && this.mappingReclaimable(owner)) {
        for (let id = owner; id > 0; id = t.portOwner(extIdx, pc, p)) t.remove(id);
        this.counters[NatCounter.PortsReclaimed]++;
        return p;
      }
      p = p === hi ? lo : p + 1;
    }
    return -1;
  }

  // Every session of the mapping (at most POOL_RING_BUDGET) is unreplied or reclaimable.
  private mappingReclaimable(anchor: number): boolean {
    const t = this.table;
    let id = anchor;
    for (let n = 0; n < POOL_RING_BUDGET; n++) {
      if ((t.rec[id * REC_WORDS + R.META] & Flag.REPLIED) !== 0 && !this.acceptVictim(id)) return false;
      id = t.mappingNext(id);
      if (id === anchor) return true;
    }
    return false;
  }

  /**
   * The stalest unreplied session in scope (Pool: this.scopeExt/scopePc,
   * a mapping of one session; Network: this.scopeNet): a heavy `host`'s
   * own first (its ring), then the stalest of anyone's (for Scope.Address
   * only its own), looking at up to EVICT_BUDGET of each. 0 when none.
   */
  private findUnreplied(host: number, scope: number): number {
    const t = this.table;
    const own = scope === Scope.Address || t.unrepliedCountOf(host) >= this.heavyAt ? t.oldestUnrepliedOf(host) : 0;
    if (scope === Scope.Address || (scope === Scope.Table && own !== 0)) return own;
    // A host's sessions may map into other networks (a published port's explicit external address): look.
    if (own !== 0) {
      let id = own;
      for (let n = 0; n < EVICT_BUDGET; n++) {
        if (this.inScope(id, scope)) return id;
        id = t.nextUnrepliedOfHost(id);
        if (id === own) break;
      }
    }
    let id = t.oldestUnreplied;
    for (let n = 0; n < EVICT_BUDGET && id !== 0; n++, id = t.nextUnreplied(id)) {
      if (scope === Scope.Table || this.inScope(id, scope)) return id;
    }
    return 0;
  }

  // Whether session id counts against the network (Scope.Network) or the pool (Scope.Pool) in scope.
  private inScope(id: number, scope: number): boolean {
    return scope === Scope.Network ? this.cfg.extNet[this.table.rec[id * REC_WORDS + R.EXT] & 0xffff] === this.scopeNet : this.inPool(id);
  }

  // A single-session dynamic mapping of the pool in scopeExt/scopePc: removing it frees the port.
  private inPool(id: number): boolean {
    const t = this.table;
    const o = id * REC_WORDS;
    const meta = t.rec[o + R.META];
    return (t.rec[o + R.EXT] & 0xffff) === this.scopeExt && ((meta >>> 12) & 0xf) === this.scopePc &&
      (meta & Flag.PUBLISHED) === 0 && t.mappingNext(id) === id;
  }

  // The table is full: an unreplied session, else an idle one.
  private makeRoom(host: number): boolean {
    const victim = this.findUnreplied(host, Scope.Table);
    if (victim !== 0) {
      this.table.remove(victim);
      this.counters[NatCounter.EarlyDrops]++;
      return true;
    }
    return this.reclaim();
  }

  /** 0 when `host` (whose address is in key[0..3]) and network `net` are under their quotas (perhaps after evicting one of their own unreplied sessions); else the drop reason. */
  private admit(host: number, net: number): number {
    const t = this.table;
    if (t.hosts.sessions(host) >= this.addressQuota) {
      this.counters[NatCounter.AddressQuotaHits]++;
      this.noteQuota(net, NatDrop.AddressQuota);
      const victim = this.findUnreplied(host, Scope.Address);
      if (victim === 0) return NatDrop.AddressQuota;
      t.remove(victim);
      this.counters[NatCounter.EarlyDrops]++;
    }
    const count = this.cfg.netExtCount[net];
    let sessions = 0;
    for (let i = 0; i < count; i++) sessions += t.extSessions[networkExternal(this.cfg, net, i)];
    if (sessions >= this.networkQuota) {
      this.counters[NatCounter.NetworkQuotaHits]++;
      this.noteQuota(net, NatDrop.NetworkQuota);
      this.scopeNet = net;
      const victim = this.findUnreplied(host, Scope.Network);
      if (victim === 0) return NatDrop.NetworkQuota;
      t.remove(victim);
      this.counters[NatCounter.EarlyDrops]++;
    }
    return 0;
  }

  private noteQuota(net: number, kind: number): void {
    const k = this.table.key;
    const q = this.quotaAddress;
    q[0] = k[0]; q[1] = k[1]; q[2] = k[2]; q[3] = k[3];
    this.quotaNetwork = net;
    this.quotaKind = kind;
  }

  /** Idle timeout in ticks for a protocol class and TCP state. */
  timeout(pc: number, state: number): number {
    const c = this.cfg;
    if (pc === ProtoClass.Tcp) {
      if (state === TcpState.Established || state === TcpState.FinOut || state === TcpState.FinIn) return c.ticksTcpEstablished;
      if (state === TcpState.SynIn) return c.ticksTcpIncomingSyn;
      return c.ticksTcpTransitory;
    }
    if (pc === ProtoClass.Udp) return c.ticksUdp;
    if (pc === ProtoClass.Icmp) return c.ticksIcmp;
    return c.ticksSctp;
  }

  // A new session is unreplied: under pressure it gets the short timer.
  private openingExpiry(pc: number, state: number): number {
    const ticks = this.timeout(pc, state);
    const cap = this.cfg.ticksUnrepliedPressure;
    return this.tick + (this.table.count >= this.pressureAt && cap < ticks ? cap : ticks);
  }

  // State and lifetime of an existing session for a packet in direction dir.
  touch(id: number, pc: number, flags: number, dir: number): void {
    const t = this.table;
    const rec = t.rec;
    const o = id * REC_WORDS;
    // Unreplied: the first packet the other way ends that for good; one
    // more the same way makes it the most recently used (and, under
    // pressure, caps its timer).
    let cap = 0x7fffffff;
    const first = rec[o + R.META];
    if ((first & Flag.REPLIED) === 0) {
      if (dir === ((first & Flag.INBOUND) !== 0 ? DIR_OUT : DIR_IN)) {
        t.markReplied(id);
      } else {
        t.refreshUnreplied(id);
        if (t.count >= this.pressureAt) cap = this.cfg.ticksUnrepliedPressure;
      }
    }
    if (pc === ProtoClass.Tcp) {
      const meta = rec[o + R.META];
      const state = (meta >>> 8) & 0xf;
      const next = tcpNext(state, flags, dir);
      if (next !== state) {
        rec[o + R.META] = ((meta & ~0xf00) | (next << 8)) >>> 0;
        const ticks = this.timeout(pc, next);
        this.table.setExpiry(id, this.tick + (ticks < cap ? ticks : cap));
        return;
      }
      // RFC 6146: closing and reset sessions keep their short timer.
      if (state === TcpState.FinBoth || state === TcpState.Trans) return;
      const ticks = this.timeout(pc, state);
      const expiry = this.tick + (ticks < cap ? ticks : cap);
      if (expiry > rec[o + R.EXPIRY]) rec[o + R.EXPIRY] = expiry;
      return;
    }
    const ticks = this.timeout(pc, 0);
    const expiry = this.tick + (ticks < cap ? ticks : cap);
    if (expiry > rec[o + R.EXPIRY]) rec[o + R.EXPIRY] = expiry;
  }

  // Under pressure, make room: a session past its expiry, an idle UDP/ICMP
  // one, or a closed TCP one, among the sessions due soonest.
  private readonly acceptVictim = (id: number): boolean => {
    const rec = this.table.rec;
    const o = id * REC_WORDS;
    const expiry = rec[o + R.EXPIRY];
    if (expiry <= this.tick) return true;
    const meta = rec[o + R.META];
    const pc = (meta >>> 12) & 0xf;
    const state = (meta >>> 8) & 0xf;
    if (pc === ProtoClass.Udp || pc === ProtoClass.Icmp) {
      return this.timeout(pc, 0) - (expiry - this.tick) >= this.cfg.ticksReclaimIdle;
    }
    return pc === ProtoClass.Tcp && (state === TcpState.FinBoth || state === TcpState.Trans);
  };

  private reclaim(): boolean {
    const victim = this.table.findVictim(this.tick, RECLAIM_BUDGET, this.acceptVictim);
    if (victim === 0) return false;
    this.table.remove(victim);
    this.counters[NatCounter.SessionsReclaimed]++;
    return true;
  }

  /**
   * A packet from outside with no session: a published port, or (with
   * endpoint-independent filtering) a dynamic mapping, opens one. Its id, or -reason.
   */
  createInbound(pc: number, extIdx: number, extPort: number, remPort: number, flags: number, mayCreate: boolean): number {
    const t = this.table;
    let owner = t.portOwner(extIdx, pc, extPort);
    if (owner === 0) return this.drop(NatDrop.NoMapping);
    if ((owner & OWNER_PUBLISHED) === 0 && this.cfg.netEif[this.cfg.extNet[extIdx]] === 0) return this.drop(NatDrop.Filtered);
    if (!mayCreate) return this.drop(NatDrop.NoSession);
    const k = t.key;
    const rec = t.rec;
    if (owner & OWNER_PUBLISHED) {
      this.published.insideWords(owner & ~OWNER_PUBLISHED, k);
    } else {
      const ao = owner * REC_WORDS;
      if (rec[ao + R.EXPIRY] <= this.tick) return this.drop(NatDrop.NoMapping);
      k[0] = rec[ao]; k[1] = rec[ao + 1]; k[2] = rec[ao + 2]; k[3] = rec[ao + 3];
    }
    const host = t.acquireHost();
    if (host === 0) return this.drop(NatDrop.HostTableFull);
    if (t.count >= t.capacity && !this.makeRoom(host)) return this.drop(NatDrop.TableFull);
    const refused = this.admit(host, this.cfg.extNet[extIdx]);
    if (refused !== 0) return this.drop(refused);
    // Making room may have taken the mapping's anchor (or all of it).
    owner = t.portOwner(extIdx, pc, extPort);
    if (owner === 0) return this.drop(NatDrop.NoMapping);
    let inPort: number;
    let sessionFlags: number = Flag.INBOUND;
    let anchor = 0;
    if (owner & OWNER_PUBLISHED) {
      inPort = this.published.insidePort(owner & ~OWNER_PUBLISHED);
      sessionFlags |= Flag.PUBLISHED;
    } else {
      anchor = owner;
      inPort = rec[anchor * REC_WORDS + R.PORTS] >>> 16;
    }
    if (t.findInside(pc, inPort, remPort) !== 0) return this.drop(NatDrop.Conflict);
    let state: number = TcpState.None;
    if (pc === ProtoClass.Tcp) state = tcpOpening(flags, DIR_IN);
    const id = t.insert(pc, inPort, remPort, extIdx, extPort, host, sessionFlags, state, this.openingExpiry(pc, state), anchor);
    if (id === 0) return this.drop(NatDrop.TableFull);
    this.counters[NatCounter.SessionsCreated]++;
    if (this.noteCreated) this.note(id);
    return id;
  }
}
