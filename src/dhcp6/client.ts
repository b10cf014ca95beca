// A DHCPv6 prefix-delegation client (RFC 8415), as a pure engine: it is
// given the clock (`now`, monotonic ms) and randomness, is handed the
// messages that arrive, and says what to send and when to wake it next. The
// socket, the timer and the lease file are the caller's (src/host/dhcpv6-pd.ts).
//
//   (start) ─ Solicit ─ Advertise → Request ─ Reply → bound
//   bound ── T1 → Renew (to its server) ── Reply → bound
//         └─ T2 → Rebind (any server) ──── Reply → bound
//   every prefix's valid lifetime over → the lease is gone, Solicit again
//   release() → Release (on --cleanup)
//
// One IA_PD. Retransmission follows §15 (RT doubles from IRT up to MRT,
// ±10 % jitter; Request gives up after MRC tries, Renew at T2, Rebind when
// the lease ends). The first Advertise with a prefix is taken (§18.2.1 lets
// a client stop waiting; one upstream router is the case here). A Reply
// whose IA_PD says NoBinding to a Renew or Rebind sends a Request (§18.2.10.1);
// prefixes a Reply gives a valid lifetime of 0 are dropped from the lease.
// A lease handed in at start (the one kept from the last run) is used at
// once and confirmed with a Renew, or a Rebind past T2 (§18.2.4, §18.2.5).
import * as dhcp from '../wire/dhcpv6.js';
import { WireError } from '../wire/error.js';
import { formatIpv6, parseIpv6Prefix } from '../wire/address.js';

export interface DelegatedPrefix {
  /** "2001:db8:a00::/56" */
  readonly prefix: string;
  /** Lifetimes in seconds as the server gave them, counted from the lease's `at`. */
  readonly preferred: number;
  readonly valid: number;
}

export interface Lease {
  /** The server's DUID (hex). */
  readonly serverId: string;
  readonly t1: number;
  readonly t2: number;
  readonly prefixes: readonly DelegatedPrefix[];
  /** When the lease was obtained or last extended (the engine's clock, ms). */
  readonly at: number;
}

export type PdState = 'soliciting' | 'requesting' | 'bound' | 'renewing' | 'rebinding' | 'released';

export interface Outgoing {
  readonly bytes: Uint8Array;
  readonly type: 'solicit' | 'request' | 'renew' | 'rebind' | 'release';
}

/** What changed with a message or a wake-up, for the caller's log lines. */
export type PdEvent =
  | { kind: 'bound'; lease: Lease; previous: Lease | undefined }
  | { kind: 'expired'; lease: Lease }
  | { kind: 'refused'; status: number };

interface Timing { readonly irt: number; readonly mrt: number; readonly mrc: number }

// RFC 8415 §7.6, in ms.
const SOLICIT: Timing = { irt: 1000, mrt: 3600_000, mrc: 0 };
const REQUEST: Timing = { irt: 1000, mrt: 30_000, mrc: 10 };
const RENEW: Timing = { irt: 10_000, mrt: 600_000, mrc: 0 };
const REBIND: Timing = { irt: 10_000, mrt: 600_000, mrc: 0 };

const INFINITY = 0xffffffff;

export class PdClient {
  #state: PdState = 'soliciting';
  #lease: Lease | undefined;
  /** The server an Advertise came from (Request goes to it). */
  #offer: { serverId: Uint8Array; prefixes: dhcp.IaPrefix[] } | undefined;
  #txid = 0;
  #exchangeStart = 0;
  #sendAt = 0;
  #rt = 0;
  #tries = 0;
  readonly #buf = new Uint8Array(512);

  constructor(private readonly duid: Uint8Array, private readonly iaid: number, private readonly random: () => number,
    kept: Lease | undefined, now: number) {
    if (kept !== undefined && leaseEnd(kept) > now) {
      this.#lease = kept;
      this.#begin(now >= kept.at + kept.t2 * 1000 ? 'rebinding' : 'renewing', now);
    } else {
      this.#begin('soliciting', now);
    }
  }

  get state(): PdState {
    return this.#state;
  }

  get lease(): Lease | undefined {
    return this.#lease;
  }

  /** The prefixes in force (valid at `now`), the first one current. */
  prefixes(now: number): string[] {
    const l = this.#lease;
    return l === undefined ? [] : l.prefixes.filter((p) => p.valid === INFINITY || l.at + p.valid * 1000 > now).map((p) => p.prefix);
  }

  /** When the caller should call wake() next (ms, the engine's clock). */
  nextWake(): number {
    if (this.#state === 'released') return Infinity;
    let at = this.#sendAt;
    const l = this.#lease;
    if (l !== undefined) {
      if (this.#state === 'bound') at = l.at + l.t1 * 1000;
      else if (this.#state === 'renewing') at = Math.min(at, l.at + l.t2 * 1000);
      at = Math.min(at, leaseEnd(l));
    }
    return at;
  }

  /** Timers: the lease's ends, T1, T2, and retransmissions. Returns what to send (if anything) and what changed. */
  wake(now: number): { send?: Outgoing; event?: PdEvent } {
    const l = this.#lease;
    let event: PdEvent | undefined;
    if (l !== undefined && now >= leaseEnd(l)) {
      this.#lease = undefined;
      event = { kind: 'expired', lease: l };
      this.#begin('soliciting', now);
    } else if (l !== undefined && this.#state === 'bound' && now >= l.at + l.t1 * 1000) {
      this.#begin('renewing', now);
    } else if (l !== undefined && this.#state === 'renewing' && now >= l.at + l.t2 * 1000) {
      this.#begin('rebinding', now);
    } else if (this.#state === 'requesting' && this.#tries >= REQUEST.mrc && now >= this.#sendAt) {
      this.#offer = undefined;
      this.#begin('soliciting', now);
    }
    if (this.#state === 'bound' || this.#state === 'released' || now < this.#sendAt) return event === undefined ? {} : { event };
    const send = this.#transmit(now);
    return event === undefined ? { send } : { send, event };
  }

  /** A message from a server (UDP payload). Returns what changed, if anything, and what to send at once. */
  receive(buf: Uint8Array, now: number): { send?: Outgoing; event?: PdEvent } {
    if (dhcp.check(buf, 0, buf.length) !== WireError.Ok || dhcp.transactionId(buf, 0) !== this.#txid) return {};
    const m = parse(buf);
    if (m.clientId === undefined || !equal(m.clientId, this.duid) || m.serverId === undefined) return {};
    const type = dhcp.msgType(buf, 0);
    if (type === dhcp.MsgType.Advertise && this.#state === 'soliciting') {
      if (m.status !== dhcp.Status.Success || m.ia === undefined || m.ia.status !== dhcp.Status.Success || m.ia.prefixes.length === 0) return {};
      this.#offer = { serverId: m.serverId, prefixes: m.ia.prefixes };
      this.#begin('requesting', now);
      return { send: this.#transmit(now) };
    }
    if (type !== dhcp.MsgType.Reply || this.#state === 'soliciting' || this.#state === 'bound') return {};
    if (this.#state === 'released') return {};
    const status = m.status !== dhcp.Status.Success ? m.status : m.ia?.status ?? dhcp.Status.Success;
    if (status === dhcp.Status.NoBinding && (this.#state === 'renewing' || this.#state === 'rebinding')) {
      this.#offer = { serverId: m.serverId, prefixes: this.#lease === undefined ? [] : this.#lease.prefixes.map(toIaPrefix) };
      this.#begin('requesting', now);
      return { send: this.#transmit(now), event: { kind: 'refused', status } };
    }
    if (status !== dhcp.Status.Success || m.ia === undefined) return { event: { kind: 'refused', status } };
    const prefixes = m.ia.prefixes.filter((p) => p.valid > 0).map((p) => ({ prefix: `${formatIpv6(p.prefix, 0)}/${p.length}`, preferred: p.preferred, valid: p.valid }));
    if (prefixes.length === 0) return { event: { kind: 'refused', status: dhcp.Status.NoPrefixAvail } };
    // T1 and T2 of 0 leave the times to the client (§21.21): half and 0.8 of the shortest preferred lifetime.
    const shortest = Math.min(...prefixes.map((p) => p.preferred));
    const t1 = m.ia.t1 > 0 ? m.ia.t1 : Math.floor(shortest * 0.5);
    const t2 = m.ia.t2 > 0 ? m.ia.t2 : Math.floor(shortest * 0.8);
    const previous = this.#lease;
    this.#lease = { serverId: hex(m.serverId), t1, t2, prefixes, at: now };
    this.#offer = undefined;
    this.#state = 'bound';
    return { event: { kind: 'bound', lease: this.#lease, previous } };
  }

  /** A Release of the lease (on --cleanup); the client does nothing after it. Undefined when there is no lease. */
  release(now: number): Outgoing | undefined {
    const l = this.#lease;
    this.#state = 'released';
    if (l === undefined) return undefined;
    this.#txid = this.#newTxid();
    this.#exchangeStart = now;
    return this.#message('release', dhcp.MsgType.Release, unhex(l.serverId), l.prefixes.map(toIaPrefix), now);
  }

  #begin(state: PdState, now: number): void {
    this.#state = state;
    this.#txid = this.#newTxid();
    this.#exchangeStart = now;
    this.#sendAt = now;
    this.#rt = 0;
    this.#tries = 0;
  }

  #newTxid(): number {
    return Math.floor(this.random() * 0x1000000) & 0xffffff;
  }

  // Sends the exchange's message now and schedules its retransmission (§15).
  #transmit(now: number): Outgoing {
    const timing = this.#state === 'soliciting' ? SOLICIT : this.#state === 'requesting' ? REQUEST : this.#state === 'renewing' ? RENEW : REBIND;
    const jitter = (this.random() * 0.2 - 0.1);
    if (this.#rt === 0) {
      // The first Solicit's RT is strictly above IRT (§18.2.1), so a burst of restarting clients spreads out.
      this.#rt = timing.irt * (1 + (this.#state === 'soliciting' ? Math.abs(jitter) : jitter));
    } else {
      this.#rt = Math.min(2 * this.#rt + jitter * this.#rt, timing.mrt + jitter * timing.mrt);
    }
    this.#tries++;
    this.#sendAt = now + this.#rt;
    const l = this.#lease;
    switch (this.#state) {
      case 'soliciting':
        return this.#message('solicit', dhcp.MsgType.Solicit, undefined, [], now);
      case 'requesting':
        return this.#message('request', dhcp.MsgType.Request, this.#offer!.serverId, this.#offer!.prefixes, now);
      case 'renewing':
        return this.#message('renew', dhcp.MsgType.Renew, unhex(l!.serverId), l!.prefixes.map(toIaPrefix), now);
      default:
        return this.#message('rebind', dhcp.MsgType.Rebind, undefined, l!.prefixes.map(toIaPrefix), now);
    }
  }

  #message(type: Outgoing['type'], code: number, serverId: Uint8Array | undefined, prefixes: readonly dhcp.IaPrefix[], now: number): Outgoing {
    const b = this.#buf;
    let at = dhcp.writeHeader(b, 0, code, this.#txid);
    at = dhcp.writeOption(b, at, dhcp.Option.ClientId, this.duid);
    if (serverId !== undefined) at = dhcp.writeOption(b, at, dhcp.Option.ServerId, serverId);
    at = dhcp.writeElapsed(b, at, (now - this.#exchangeStart) / 10);
    // Lifetimes in a client's IA are hints the server ignores (§18.2): zeros.
    at = dhcp.writeIaPd(b, at, this.iaid, 0, 0, prefixes.map((p) => ({ ...p, preferred: 0, valid: 0 })));
    return { type, bytes: b.slice(0, at) };
  }
}

/** When the last prefix of a lease stops being valid (ms). */
export function leaseEnd(l: Lease): number {
  return Math.max(...l.prefixes.map((p) => (p.valid === INFINITY ? Infinity : l.at + p.valid * 1000)));
}

interface Parsed {
  clientId?: Uint8Array;
  serverId?: Uint8Array;
  status: number;
  ia?: { t1: number; t2: number; status: number; prefixes: dhcp.IaPrefix[] };
}

// The options a client reads of an Advertise or Reply (after check). A missing status code is Success (§21.13).
function parse(buf: Uint8Array): Parsed {
  const out: Parsed = { status: dhcp.Status.Success };
  dhcp.options(buf, dhcp.HEADER_LEN, buf.length, (code, data, len) => {
    if (code === dhcp.Option.ClientId) out.clientId = buf.slice(data, data + len);
    else if (code === dhcp.Option.ServerId) out.serverId = buf.slice(data, data + len);
    else if (code === dhcp.Option.StatusCode) out.status = dhcp.statusCode(buf, data);
    else if (code === dhcp.Option.IaPd && out.ia === undefined) {
      const ia = { t1: dhcp.u32(buf, data + dhcp.IaPdF.T1), t2: dhcp.u32(buf, data + dhcp.IaPdF.T2), status: dhcp.Status.Success as number, prefixes: [] as dhcp.IaPrefix[] };
      dhcp.options(buf, data + dhcp.IaPdF.OPTIONS, data + len, (c, d) => {
        if (c === dhcp.Option.StatusCode) ia.status = dhcp.statusCode(buf, d);
        if (c !== dhcp.Option.IaPrefix) return;
        ia.prefixes.push({
          prefix: buf.slice(d + dhcp.IaPrefixF.PREFIX, d + dhcp.IaPrefixF.PREFIX + 16), length: buf[d + dhcp.IaPrefixF.PREFIX_LENGTH]!,
          preferred: dhcp.u32(buf, d + dhcp.IaPrefixF.PREFERRED), valid: dhcp.u32(buf, d + dhcp.IaPrefixF.VALID),
        });
      });
      out.ia = ia;
    }
  });
  return out;
}

function toIaPrefix(p: DelegatedPrefix): dhcp.IaPrefix {
  const { address, length } = parseIpv6Prefix(p.prefix);
  return { prefix: address, length, preferred: p.preferred, valid: p.valid };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function unhex(s: string): Uint8Array {
  return Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
}
