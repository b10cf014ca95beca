// Session policy of the NAT66 translator: opening sessions (mapping reuse,
// port allocation, published ports, filtering), their lifetimes per
// protocol and TCP state, and making room when the table is full.
//
// Split from nat66.ts, which owns the packet walk and the rewriting; both
// share the table, the compiled configuration and the counter arrays, and
// the translator sets `tick` before each packet.

import { ConnTable, R, REC_WORDS, Flag, OWNER_PUBLISHED } from './table.js';
import { NatDrop } from './drop.js';
import { ProtoClass, TcpState, NatCounter, Direction } from './types.js';
import { tcpNext, tcpOpening } from './tcp-state.js';
import type { CompiledConfig } from './config.js';
import type { PublishedPorts } from './published.js';

const DIR_OUT = Direction.Out;
const DIR_IN = Direction.In;
/** Sessions the reclaimer looks at before giving up on a full table. */
const RECLAIM_BUDGET = 256;

export class Sessions {
  /** Current tick (1 s), set by the translator per packet. */
  tick = 0;
  private readonly table: ConnTable;
  private readonly cfg: CompiledConfig;
  private readonly published: PublishedPorts;
  private readonly drops: Float64Array;
  private readonly counters: Float64Array;

  constructor(table: ConnTable, cfg: CompiledConfig, published: PublishedPorts, drops: Float64Array, counters: Float64Array) {
    this.table = table;
    this.cfg = cfg;
    this.published = published;
    this.drops = drops;
    this.counters = counters;
  }

  private drop(code: number): number {
    this.drops[code]++;
    return -code;
  }

  /** A session for an outbound packet with none (key: table.key); its id, or -reason. */
  createOutbound(net: number, pc: number, inPort: number, remPort: number, flags: number): number {
    const t = this.table;
    if (t.count >= t.capacity && !this.reclaim()) return this.drop(NatDrop.TableFull);
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
      const count = this.cfg.netExtCount[net];
      extIdx = this.cfg.netExtFirst[net] + (count === 1 ? 0 : (Math.imul(k[0] ^ k[1] ^ k[2] ^ k[3], 0x9e3779b1) >>> 0) % count);
      extPort = this.allocatePort(extIdx, pc, inPort, net);
      if (extPort < 0) return this.drop(NatDrop.PortsExhausted);
    }
    if (t.findOutside(pc, extIdx, extPort, remPort) !== 0) return this.drop(NatDrop.Conflict);
    const host = t.acquireHost();
    if (host === 0) return this.drop(NatDrop.HostTableFull);
    let state: number = TcpState.None;
    if (pc === ProtoClass.Tcp) state = tcpOpening(flags, DIR_OUT);
    const id = t.insert(pc, inPort, remPort, extIdx, extPort, host, 0, state, this.tick + this.timeout(pc, state), anchor);
    if (id === 0) return this.drop(NatDrop.TableFull);
    this.counters[NatCounter.SessionsCreated]++;
    return id;
  }

  // Port preservation when the inside port is in range and free; otherwise a
  // hashed start (RFC 6056 style, per inside address and port) and a scan.
  private allocatePort(extIdx: number, pc: number, preferred: number, net: number): number {
    const t = this.table;
    const lo = pc === ProtoClass.Icmp ? 1 : this.cfg.netPortLo[net];
    const hi = pc === ProtoClass.Icmp ? 65535 : this.cfg.netPortHi[net];
    if (preferred >= lo && preferred <= hi && t.portOwner(extIdx, pc, preferred) === 0) return preferred;
    const range = hi - lo + 1;
    const k = t.key;
    let p = lo + (Math.imul(k[3] ^ Math.imul(k[2], 0x85ebca6b) ^ (preferred << 7), 0x9e3779b1) >>> 0) % range;
    for (let i = 0; i < range; i++) {
      if (t.portOwner(extIdx, pc, p) === 0) return p;
      p = p === hi ? lo : p + 1;
    }
    return -1;
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

  // State and lifetime of an existing session for a packet in direction dir.
  touch(id: number, pc: number, flags: number, dir: number): void {
    const rec = this.table.rec;
    const o = id * REC_WORDS;
    if (pc === ProtoClass.Tcp) {
      const meta = rec[o + R.META];
      const state = (meta >>> 8) & 0xf;
      const next = tcpNext(state, flags, dir);
      if (next !== state) {
        rec[o + R.META] = ((meta & ~0xf00) | (next << 8)) >>> 0;
        this.table.setExpiry(id, this.tick + this.timeout(pc, next));
        return;
      }
      // RFC 6146: closing and reset sessions keep their short timer.
      if (state === TcpState.FinBoth || state === TcpState.Trans) return;
      const expiry = this.tick + this.timeout(pc, state);
      if (expiry > rec[o + R.EXPIRY]) rec[o + R.EXPIRY] = expiry;
      return;
    }
    const expiry = this.tick + this.timeout(pc, 0);
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
    if (t.count >= t.capacity) {
      if (!this.reclaim()) return this.drop(NatDrop.TableFull);
      owner = t.portOwner(extIdx, pc, extPort);
      if (owner === 0) return this.drop(NatDrop.NoMapping);
    }
    const k = t.key;
    const rec = t.rec;
    let inPort: number;
    let sessionFlags: number = Flag.INBOUND;
    let anchor = 0;
    if (owner & OWNER_PUBLISHED) {
      const p = owner & ~OWNER_PUBLISHED;
      this.published.insideWords(p, k);
      inPort = this.published.insidePort(p);
      sessionFlags |= Flag.PUBLISHED;
    } else {
      anchor = owner;
      const ao = anchor * REC_WORDS;
      if (rec[ao + R.EXPIRY] <= this.tick) return this.drop(NatDrop.NoMapping);
      k[0] = rec[ao]; k[1] = rec[ao + 1]; k[2] = rec[ao + 2]; k[3] = rec[ao + 3];
      inPort = rec[ao + R.PORTS] >>> 16;
    }
    if (t.findInside(pc, inPort, remPort) !== 0) return this.drop(NatDrop.Conflict);
    const host = t.acquireHost();
    if (host === 0) return this.drop(NatDrop.HostTableFull);
    let state: number = TcpState.None;
    if (pc === ProtoClass.Tcp) state = tcpOpening(flags, DIR_IN);
    const id = t.insert(pc, inPort, remPort, extIdx, extPort, host, sessionFlags, state, this.tick + this.timeout(pc, state), anchor);
    if (id === 0) return this.drop(NatDrop.TableFull);
    this.counters[NatCounter.SessionsCreated]++;
    return id;
  }
}
