// Session storage for targets that must be verified on an inner interface
// before they are answered (ndppd's `iface` and `auto` rules): one session
// per (uplink, target), in parallel typed arrays sized once, so a flood can
// fill the table to its cap but never grow memory. The state machine that
// drives these fields lives in engine.ts.
//
// States and timers follow ndppd 0.2.x (session.cc):
//   WAITING  --NA-->  VALID  --ttl, touched or keepalive-->  RENEWING --NA--> VALID
//   WAITING  --timeout x (retries+1)-->  INVALID  --deadtime-->  removed
//   VALID    --ttl, untouched, no keepalive-->  removed
//   RENEWING --timeout x (retries+1)-->  removed
// VALID and RENEWING answer at once; WAITING queues the solicitor; INVALID is
// a negative cache: its solicitors are dropped until deadtime ends it.
import { AddressTable } from './address-table.js';
import { equalAddress } from '../wire/address.js';

export const SessionState = {
  Waiting: 0,
  Valid: 1,
  Renewing: 2,
  Invalid: 3,
} as const;

export const SESSION_STATE_NAMES: readonly string[] = ['waiting', 'valid', 'renewing', 'invalid'];

/** Solicitors a WAITING session remembers; later ones are dropped (counted) until it resolves. */
export const PENDING_PER_SESSION = 4;

/** pendingFlags bits */
export const PendingFlag = {
  /** The solicitation was DAD: answer to ff02::1 with S=0 (pendingMac is unused). */
  Dad: 1,
} as const;

export class SessionTable {
  readonly capacity: number;
  /** Keyed by (uplink interface id, target). */
  readonly index: AddressTable;
  readonly state: Uint8Array;
  readonly uplink: Uint8Array;
  /** Index of the rule (within its uplink) that created the session. */
  readonly rule: Int16Array;
  /** When the current timer runs out (ms, the caller's clock). */
  readonly expires: Float64Array;
  /** When the session was created (ms, the caller's clock; set by the engine). */
  readonly created: Float64Array;
  readonly fails: Uint8Array;
  /** An outside NS arrived since the last renewal. */
  readonly touched: Uint8Array;
  /** Bit i set: inner interface i is probed. */
  readonly ifaces: Uint32Array;
  /** Inner interface a route was installed through (autowire), or -1. */
  readonly wired: Int8Array;
  readonly hasVia: Uint8Array;
  /** 16 bytes per session: the next hop of an autovia route. */
  readonly via: Uint8Array;
  readonly pendingCount: Uint8Array;
  /** 16 bytes per pending solicitor. */
  readonly pendingAddr: Uint8Array;
  /** 6 bytes per pending solicitor. */
  readonly pendingMac: Uint8Array;
  readonly pendingFlags: Uint8Array;
  /** Dense list of live sessions (for timer scans), and each one's position in it. */
  readonly active: Int32Array;
  private readonly position: Int32Array;
  count = 0;

  constructor(capacity: number, seed?: number) {
    this.capacity = capacity;
    this.index = new AddressTable(capacity, seed);
    this.state = new Uint8Array(capacity);
    this.uplink = new Uint8Array(capacity);
    this.rule = new Int16Array(capacity);
    this.expires = new Float64Array(capacity);
    this.created = new Float64Array(capacity);
    this.fails = new Uint8Array(capacity);
    this.touched = new Uint8Array(capacity);
    this.ifaces = new Uint32Array(capacity);
    this.wired = new Int8Array(capacity).fill(-1);
    this.hasVia = new Uint8Array(capacity);
    this.via = new Uint8Array(capacity * 16);
    this.pendingCount = new Uint8Array(capacity);
    this.pendingAddr = new Uint8Array(capacity * PENDING_PER_SESSION * 16);
    this.pendingMac = new Uint8Array(capacity * PENDING_PER_SESSION * 6);
    this.pendingFlags = new Uint8Array(capacity * PENDING_PER_SESSION);
    this.active = new Int32Array(capacity);
    this.position = new Int32Array(capacity).fill(-1);
  }

  find(uplink: number, buf: Uint8Array, targetOff: number): number {
    return this.index.find(uplink, buf, targetOff);
  }

  /** A new WAITING session, or -1 when the table is full. */
  create(uplink: number, buf: Uint8Array, targetOff: number, rule: number, ifaces: number, expires: number): number {
    const s = this.index.insert(uplink, buf, targetOff);
    if (s < 0) return -1;
    this.state[s] = SessionState.Waiting;
    this.uplink[s] = uplink;
    this.rule[s] = rule;
    this.expires[s] = expires;
    this.fails[s] = 0;
    this.touched[s] = 0;
    this.ifaces[s] = ifaces;
    this.wired[s] = -1;
    this.hasVia[s] = 0;
    this.pendingCount[s] = 0;
    this.position[s] = this.count;
    this.active[this.count++] = s;
    return s;
  }

  remove(s: number): void {
    const at = this.position[s]!;
    if (at < 0) return;
    const last = this.active[--this.count]!;
    this.active[at] = last;
    this.position[last] = at;
    this.position[s] = -1;
    this.index.remove(s);
  }

  /**
   * Remembers a solicitor (address at buf[srcOff], MAC at mac[macOff], which
   * DAD does without). A solicitor already waiting is not added twice. Returns
   * false when the session's list is full.
   */
  addPending(s: number, buf: Uint8Array, srcOff: number, mac: Uint8Array, macOff: number, dad: boolean): boolean {
    const n = this.pendingCount[s]!;
    const base = s * PENDING_PER_SESSION;
    for (let p = 0; p < n; p++) {
      if ((this.pendingFlags[base + p]! & PendingFlag.Dad) !== 0) {
        if (dad) return true;
        continue;
      }
      if (!dad && equalAddress(this.pendingAddr, (base + p) * 16, buf, srcOff)) return true;
    }
    if (n >= PENDING_PER_SESSION) return false;
    const p = base + n;
    for (let i = 0; i < 16; i++) this.pendingAddr[p * 16 + i] = buf[srcOff + i]!;
    if (!dad) for (let i = 0; i < 6; i++) this.pendingMac[p * 6 + i] = mac[macOff + i]!;
    this.pendingFlags[p] = dad ? PendingFlag.Dad : 0;
    this.pendingCount[s] = n + 1;
    return true;
  }
}
