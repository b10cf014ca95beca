// The NDP proxy engine: Neighbor Solicitations in, answers and probes out,
// with no I/O and no clock of its own (every entry point takes `now`, in ms).
//
// Per NS received on an uplink, in this order (cheapest and most important
// first, so a flood of random targets costs little and never delays the rest):
//   1. RFC 4861 §7.1.1 validation (wire/ndp.validate), drops counted by reason;
//   2. exact addresses (static /128 rules, the static list, addresses pushed
//      with add()): answered at once, DAD defended;
//   3. live sessions: VALID/RENEWING answer at once, WAITING queues the
//      solicitor, INVALID drops;
//   4. rules in file order: a static prefix answers at once (never DAD); an
//      iface/auto rule opens a session, after the rule's and the uplink's
//      token buckets and the session cap agree, and probes the inner side.
//
// Floods inside a prefix. A static prefix answers a target it answered
// lately from that target's own bucket, and only new targets from the
// rule's: random targets spend the rule's budget, not its members'. (A flood
// that repeats its targets, as one over a /112 must, makes them known too;
// they are then held to their own rate, and a member seen twice before keeps
// its entry: see TargetBuckets.) An iface/auto rule under pressure (buckets
// empty, or all but the reserved eighth of the session slots taken) still
// opens sessions for targets verified lately and for solicitors whose earlier
// targets were: a reserve bucket per uplink and the reserved slots are
// theirs. Verification takes an NA from the inner side, so random targets
// never qualify and the real router's solicitations for a target never seen
// before still get through; a flooder who first asks for a real member does
// qualify, and is then held to the reserve's rate like the router.
// An NA received on an inner interface validates the sessions probing there
// and answers their queued solicitors.
//
// Answers follow RFC 4861 §7.2.4 and §7.2.8: hop limit 255, target copied,
// R from the config, O=0 (a proxy must not override the real owner), S=1
// unicast to the solicitor -- as a whole frame to its SLLA, or the frame's
// Ethernet source, so the kernel need not resolve it first -- and for DAD
// S=0 to ff02::1. The TLLA is always the uplink's MAC. The IPv6 source is the
// target itself by default, as Linux does for its own addresses: ndisc6 and
// other strict clients ignore an NA for a global target from a link-local
// source (the kernel's own proxy_ndp answers fail ndisc6 for that reason),
// and some providers filter link-local sources. `naSource: 'link-local'`
// gives the kernel proxy's behaviour instead.
import { Ipv6Chain, walkChain } from '../wire/ipv6-ext.js';
import { validate, NaFlag, F as ND, NS_LEN } from '../wire/ndp.js';
import { IcmpType } from '../wire/icmpv6.js';
import { F as IP } from '../wire/ipv6.js';
import { OptionType, findOption, linkAddrOffset } from '../wire/ndp-option.js';
import {
  equalAddress, formatIpv6, isMulticast, isSolicitedNodeMulticast, isUnspecified, matchesPrefix,
} from '../wire/address.js';
import { WireError } from '../wire/error.js';
import { NdpActions, ActionKind } from './actions.js';
import { Emitter, type AnswerFrom } from './emit.js';
import { AddressSource, ExactAddresses, type MembershipChange } from './addresses.js';
import { NdpCounters, NdpDrop, NdpEvent, MAX_INTERFACES } from './counters.js';
import { TargetBuckets, TokenBuckets, type BucketSpec } from './rate-limit.js';
import { RouteTable, type RouteSpec } from './routes.js';
import { PendingFlag, PENDING_PER_SESSION, SESSION_STATE_NAMES, SessionState, SessionTable } from './session.js';
import type { ProxyBehaviour, RuleMethod } from './ndppd-conf.js';

export interface InterfaceInfo {
  readonly name: string;
  /** 6 bytes: the TLLA of answers and the Ethernet source of frames. */
  readonly mac: Uint8Array;
  /** 16 bytes, or null when the interface has none (answers then come from the target). */
  readonly linkLocal: Uint8Array | null;
}

export interface RuleSpec {
  readonly prefix: Uint8Array;
  readonly prefixLength: number;
  readonly method: RuleMethod;
  /** Engine id of the inner interface of an `iface` rule; ignored otherwise. */
  readonly iface: number;
  readonly autovia: boolean;
  /** For logs and stats; defaults to the prefix in text form. */
  readonly text?: string;
}

export interface UplinkSpec extends ProxyBehaviour {
  readonly iface: number;
  readonly rules: readonly RuleSpec[];
  /** Exact addresses answered at once besides the rules (the static list). */
  readonly addresses?: readonly Uint8Array[];
  /** Source address of NAs: the target (default) or the uplink's link-local address. */
  readonly naSource?: 'target' | 'link-local';
}

export interface NdpEngineOptions {
  /** Sessions across all uplinks (default 4096): the memory an NS flood can claim. */
  readonly maxSessions?: number;
  /** Exact addresses across all uplinks (default 65536). */
  readonly maxAddresses?: number;
  /** Output queue slots (default 512); drain after every batch. */
  readonly queueCapacity?: number;
  /** New sessions per uplink (default 500/s, burst 200). */
  readonly uplinkSessionRate?: BucketSpec;
  /** New sessions per rule (default 200/s, burst 100). */
  readonly ruleSessionRate?: BucketSpec;
  /** Answers per static prefix rule for targets it has not answered lately (default 5000/s, burst 1000). */
  readonly staticPrefixRate?: BucketSpec;
  /** Answers per target a static prefix answered lately (default 50/s, burst 50). */
  readonly staticTargetRate?: BucketSpec;
  /** Targets remembered per static prefix answers, across all uplinks (default 16384). */
  readonly staticTargets?: number;
  /** New sessions per uplink for verified targets and solicitors once the other buckets are empty (default 100/s, burst 50). */
  readonly reserveSessionRate?: BucketSpec;
  /** How long a target or solicitor stays remembered after it was last seen (default 10 min). */
  readonly targetMemoryMs?: number;
  /** Hash seed (tests); random by default. */
  readonly seed?: number;
}

const METHOD_STATIC = 0;
const METHOD_IFACE = 1;
const METHOD_AUTO = 2;

interface Rule {
  readonly prefix: Uint8Array;
  readonly length: number;
  readonly method: number;
  readonly iface: number;
  readonly autovia: boolean;
  readonly text: string;
  /** Index into the rule buckets. */
  readonly bucket: number;
  answered: number;
  sessions: number;
  limited: number;
}

interface Uplink {
  readonly spec: UplinkSpec;
  readonly iface: number;
  readonly flags: number;
  /** Answer from the uplink's link-local address instead of the target. */
  readonly fromLinkLocal: boolean;
  readonly rules: readonly Rule[];
  readonly allmulti: boolean;
}


export class NdpEngine {
  readonly actions: NdpActions;
  readonly counters = new NdpCounters();
  readonly sessions: SessionTable;
  readonly addresses: ExactAddresses;
  private readonly routes = new RouteTable();
  private readonly ifaces: (InterfaceInfo | undefined)[] = new Array(MAX_INTERFACES);
  private uplinks: (Uplink | undefined)[] = new Array(MAX_INTERFACES);
  private readonly uplinkBuckets = new TokenBuckets(MAX_INTERFACES);
  private ruleSessionBuckets = new TokenBuckets(0);
  private staticBuckets = new TokenBuckets(0);
  private readonly reserveBuckets = new TokenBuckets(MAX_INTERFACES);
  /** Targets static prefixes answered lately, keyed by (uplink, target), each with its own bucket. */
  private readonly staticTargets: TargetBuckets;
  /** Verified targets, keyed by (uplink, target), and their solicitors, keyed by (uplink + MAX_INTERFACES, solicitor). */
  private readonly verified: TargetBuckets;
  /** Sessions beyond this many are only opened for verified targets and solicitors. */
  private readonly openSessionLimit: number;
  private readonly chain = new Ipv6Chain();
  private readonly emit: Emitter;
  // Scratch for addresses copied out of tables before a frame is built.
  private readonly target = new Uint8Array(16);
  private readonly peer = new Uint8Array(16);
  private readonly options: Required<Omit<NdpEngineOptions, 'seed'>>;
  /** Earliest session timer; tick() is a no-op before it. */
  nextDeadline = Number.POSITIVE_INFINITY;

  constructor(options: NdpEngineOptions = {}) {
    this.options = {
      maxSessions: options.maxSessions ?? 4096,
      maxAddresses: options.maxAddresses ?? 65536,
      queueCapacity: options.queueCapacity ?? 512,
      uplinkSessionRate: options.uplinkSessionRate ?? { rate: 500, burst: 200 },
      ruleSessionRate: options.ruleSessionRate ?? { rate: 200, burst: 100 },
      staticPrefixRate: options.staticPrefixRate ?? { rate: 5000, burst: 1000 },
      staticTargetRate: options.staticTargetRate ?? { rate: 50, burst: 50 },
      staticTargets: options.staticTargets ?? 16384,
      reserveSessionRate: options.reserveSessionRate ?? { rate: 100, burst: 50 },
      targetMemoryMs: options.targetMemoryMs ?? 600_000,
    };
    const o = this.options;
    this.staticTargets = new TargetBuckets(o.staticTargets, o.staticTargetRate, o.targetMemoryMs, options.seed);
    this.verified = new TargetBuckets(o.maxSessions, { rate: 0, burst: 0 }, o.targetMemoryMs, options.seed);
    this.openSessionLimit = o.maxSessions - (o.maxSessions >> 3);
    this.actions = new NdpActions(this.options.queueCapacity);
    this.emit = new Emitter(this.actions, this.counters, this.ifaces);
    this.sessions = new SessionTable(this.options.maxSessions, options.seed);
    this.addresses = new ExactAddresses(this.options.maxAddresses, options.seed);
  }

  // ------------------------------------------------------------ control path

  /** Registers interface `id` (0..31): its name, MAC and link-local address. */
  setInterface(id: number, info: InterfaceInfo): void {
    if (!Number.isInteger(id) || id < 0 || id >= MAX_INTERFACES) throw new RangeError(`interface id ${id} is not in 0..${MAX_INTERFACES - 1}`);
    this.ifaces[id] = info;
  }

  interfaceInfo(id: number): InterfaceInfo | undefined {
    return this.ifaces[id];
  }

  /** How uplink `iface` answers (its flags and NA source), or undefined when it is not an uplink. */
  answerFrom(iface: number): AnswerFrom | undefined {
    return this.uplinks[iface];
  }

  /** Replaces the routing-table snapshot `auto` rules consult. */
  setRoutes(routes: readonly RouteSpec[]): void {
    this.routes.replace(routes);
  }

  /**
   * (Re)configures the uplinks. On a reload, sessions whose target still
   * falls under an iface/auto rule of the same uplink are kept with their
   * state (ndppd has no reload at all); the rest end, removing their routes.
   * Exact addresses pushed with add() survive; newly claimed ones are
   * announced. Membership changes go to takeMembershipChanges().
   */
  configure(specs: readonly UplinkSpec[]): void {
    const next: (Uplink | undefined)[] = new Array(MAX_INTERFACES);
    let ruleCount = 0;
    for (const spec of specs) {
      if (this.ifaces[spec.iface] === undefined) throw new RangeError(`uplink interface ${spec.iface} is not registered`);
      if (next[spec.iface] !== undefined) throw new RangeError(`two uplinks on interface ${spec.iface}`);
      const rules = spec.rules.map((r): Rule => ({
        prefix: Uint8Array.from(r.prefix.subarray(0, 16)),
        length: r.prefixLength,
        method: r.method === 'static' ? METHOD_STATIC : r.method === 'iface' ? METHOD_IFACE : METHOD_AUTO,
        iface: r.method === 'iface' ? r.iface : -1,
        autovia: r.autovia,
        text: r.text ?? `${formatIpv6(r.prefix, 0)}/${r.prefixLength}`,
        bucket: ruleCount++,
        answered: 0, sessions: 0, limited: 0,
      }));
      for (const r of rules) {
        if (r.method === METHOD_IFACE && this.ifaces[r.iface] === undefined) throw new RangeError(`rule ${r.text}: inner interface ${r.iface} is not registered`);
      }
      next[spec.iface] = {
        spec, iface: spec.iface, rules,
        flags: spec.router ? NaFlag.Router : 0,
        fromLinkLocal: spec.naSource === 'link-local',
        // Exact targets get their own groups; anything wider needs all multicast.
        allmulti: rules.some((r) => r.length < 128),
      };
    }
    this.ruleSessionBuckets = new TokenBuckets(ruleCount);
    this.staticBuckets = new TokenBuckets(ruleCount);
    for (let b = 0; b < ruleCount; b++) {
      this.ruleSessionBuckets.set(b, this.options.ruleSessionRate);
      this.staticBuckets.set(b, this.options.staticPrefixRate);
    }

    for (let id = 0; id < MAX_INTERFACES; id++) {
      const before = this.uplinks[id];
      const after = next[id];
      if (after !== undefined && before === undefined) {
        this.uplinkBuckets.set(id, this.options.uplinkSessionRate);
        this.reserveBuckets.set(id, this.options.reserveSessionRate);
      }
      // Join new groups before leaving old ones: shared groups never blink.
      if (after !== undefined) {
        for (const r of after.rules) if (r.length === 128 && r.method !== METHOD_STATIC) this.addresses.joinGroup(id, r.prefix, 0);
        this.claimExact(id, after);
      } else if (before !== undefined) {
        for (const e of this.addresses.entriesOf(id)) this.addresses.forget(e);
      }
      if (before !== undefined) {
        for (const r of before.rules) if (r.length === 128 && r.method !== METHOD_STATIC) this.addresses.leaveGroup(id, r.prefix, 0);
      }
      if ((before?.allmulti ?? false) !== (after?.allmulti ?? false)) this.addresses.setAllmulti(id, after?.allmulti ?? false);
    }
    this.uplinks = next;

    for (let i = this.sessions.count - 1; i >= 0; i--) {
      const s = this.sessions.active[i]!;
      const up = next[this.sessions.uplink[s]!];
      const rule = up === undefined ? -1 : this.sessionRuleFor(up, s);
      if (rule < 0) this.endSession(s);
      else this.sessions.rule[s] = rule;
    }
  }

  /** Starts answering `addr` on uplink `iface` at once (and announces it). False if the uplink is unknown or the set is full. */
  add(iface: number, addr: Uint8Array, off = 0): boolean {
    const up = this.uplinks[iface];
    if (up === undefined) return false;
    const e = this.addresses.add(iface, addr, off, AddressSource.Api);
    if (e === -2) return false;
    if (e >= 0) this.emit.announce(up, addr, off);
    return true;
  }

  /** Stops answering `addr` on uplink `iface` unless a rule or the static list also claims it. */
  remove(iface: number, addr: Uint8Array, off = 0): boolean {
    return this.addresses.remove(iface, addr, off, AddressSource.Api);
  }

  /**
   * Every membership interface `iface` needs right now (its groups, and
   * ALLMULTI when on): for the wiring to replay after reopening its sockets.
   */
  membershipsOf(iface: number): MembershipChange[] {
    const out = this.addresses.joinsOf(iface);
    if (this.uplinks[iface]?.allmulti === true) out.push({ kind: 'allmulti', iface, on: true });
    return out;
  }

  /** Multicast membership changes (join/leave a solicited-node group, ALLMULTI) to apply, oldest first. */
  takeMembershipChanges(): readonly MembershipChange[] {
    return this.addresses.takeChanges();
  }

  // --------------------------------------------------------------- data path

  /**
   * One received IPv6 packet (header at ipOff, ipLen bytes) on interface
   * `iface`: an NS on an uplink or an NA on an inner interface. `macOff` is
   * where the frame's Ethernet source MAC sits in `buf` (every packet comes
   * as an Ethernet frame: the solicitor's MAC is always known). Returns 0
   * when the packet was used, else the drop reason it was counted under.
   */
  receive(now: number, iface: number, buf: Uint8Array, ipOff: number, ipLen: number, macOff: number): number {
    let err: number = walkChain(buf, ipOff, ipLen, this.chain);
    if (err === WireError.Ok) err = validate(buf, ipOff, this.chain);
    if (err === WireError.Ok && isMulticast(buf, ipOff + IP.SRC)) err = NdpDrop.MulticastSource;
    if (err !== WireError.Ok) {
      if (err === WireError.BadAddress || err === WireError.BadOption) err = this.refine(buf, ipOff);
      this.counters.drop(iface, err);
      return err;
    }
    const icmp = this.chain.l4Offset;
    const type = buf[icmp]!;
    if (type === IcmpType.NeighborSolicitation) return this.solicit(now, iface, buf, ipOff, icmp, this.chain.l4Length, macOff);
    if (type === IcmpType.NeighborAdvertisement) return this.advert(now, iface, buf, ipOff, icmp);
    this.counters.drop(iface, WireError.BadType);
    return WireError.BadType;
  }

  /** Runs the session timers due at `now`. Cheap to call often: it returns at once before nextDeadline. */
  tick(now: number): void {
    if (now < this.nextDeadline) return;
    const t = this.sessions;
    let next = Number.POSITIVE_INFINITY;
    let i = 0;
    while (i < t.count) {
      const s = t.active[i]!;
      if (t.expires[s]! <= now) {
        this.expire(s, now);
        // expire() may have removed s, moving another session into slot i.
        if (i >= t.count || t.active[i] !== s) continue;
      }
      if (t.expires[s]! < next) next = t.expires[s]!;
      i++;
    }
    this.nextDeadline = next;
  }

  private solicit(now: number, iface: number, buf: Uint8Array, ipOff: number, icmp: number, icmpLen: number, macOff: number): number {
    const up = this.uplinks[iface];
    if (up === undefined) return this.dropped(iface, NdpDrop.NotUplink);
    this.counters.event(iface, NdpEvent.SolicitReceived);
    const tOff = icmp + ND.TARGET;
    const srcOff = ipOff + IP.SRC;
    const dad = isUnspecified(buf, srcOff);
    // The solicitor's MAC: its SLLA, else the frame's source (DAD answers go to all-nodes).
    const slla = dad ? -1 : findOption(buf, icmp + NS_LEN, icmp + icmpLen, OptionType.SourceLinkAddr);
    const mOff = slla >= 0 ? linkAddrOffset(slla) : macOff;

    const e = this.addresses.find(iface, buf, tOff);
    if (e >= 0) {
      if (!this.emit.answer(up, buf, tOff, buf, srcOff, buf, mOff, dad, false)) return NdpDrop.QueueFull;
      if (dad) this.addresses.defended[e]++;
      else this.addresses.answered[e]++;
      this.addresses.lastAnswered[e] = now;
      return 0;
    }

    const t = this.sessions;
    const s = t.find(iface, buf, tOff);
    if (s >= 0) {
      const state = t.state[s];
      if (state === SessionState.Valid || state === SessionState.Renewing) {
        // Once per renewal period, not per NS: the solicitor asked for a verified target.
        if (t.touched[s] === 0 && !dad) this.verified.claim(iface + MAX_INTERFACES, buf, srcOff, now);
        t.touched[s] = 1;
        if (!this.emit.answer(up, buf, tOff, buf, srcOff, buf, mOff, dad, false)) return NdpDrop.QueueFull;
        up.rules[t.rule[s]!]!.answered++;
        return 0;
      }
      if (state === SessionState.Invalid) return this.dropped(iface, NdpDrop.TargetUnreachable);
      t.touched[s] = 1;
      return t.addPending(s, buf, srcOff, buf, mOff, dad) ? 0 : this.dropped(iface, NdpDrop.PendingFull);
    }

    // Any matching static rule answers (as in ndppd, where it makes the session
    // valid at once); otherwise the first matching iface/auto rule opens one.
    let first = -1;
    for (let r = 0; r < up.rules.length; r++) {
      const rule = up.rules[r]!;
      if (!matchesPrefix(buf, tOff, rule.prefix, 0, rule.length)) continue;
      if (rule.method === METHOD_STATIC) return this.answerStatic(now, up, rule, buf, tOff, srcOff, mOff, dad);
      if (first < 0) first = r;
    }
    if (first < 0) return this.dropped(iface, NdpDrop.NotOurs);
    const rule = up.rules[first]!;
    // Buckets before the route lookups: a flood must not buy a routing-table scan per packet.
    let refused = 0;
    if (!this.ruleSessionBuckets.take(rule.bucket, now)) refused = NdpDrop.PrefixRateLimited;
    else if (!this.uplinkBuckets.take(iface, now)) refused = NdpDrop.UplinkRateLimited;
    else if (t.count >= this.openSessionLimit) refused = NdpDrop.SessionCap;
    if (refused !== 0 && (!this.knownGood(now, iface, buf, tOff, srcOff, dad) || !this.reserveBuckets.take(iface, now))) {
      rule.limited++;
      return this.dropped(iface, refused);
    }
    // Every later iface/auto rule that also matches adds its interface (ndppd probes them all).
    let inner = 0;
    for (let r = first; r < up.rules.length; r++) {
      const later = up.rules[r]!;
      if (later.method === METHOD_STATIC || !matchesPrefix(buf, tOff, later.prefix, 0, later.length)) continue;
      const id = later.method === METHOD_IFACE ? later.iface : this.routes.lookup(buf, tOff, iface);
      if (id >= 0) inner |= 1 << id;
    }
    if (inner === 0) return this.dropped(iface, NdpDrop.NoRoute);
    const created = t.create(iface, buf, tOff, first, inner, now + up.spec.timeout);
    if (created < 0) return this.dropped(iface, NdpDrop.SessionCap);
    t.created[created] = now;
    rule.sessions++;
    this.counters.event(iface, NdpEvent.SessionCreated);
    if (refused !== 0) this.counters.event(iface, NdpEvent.SessionFromReserve);
    t.touched[created] = 1;
    t.addPending(created, buf, srcOff, buf, mOff, dad);
    if (now + up.spec.timeout < this.nextDeadline) this.nextDeadline = now + up.spec.timeout;
    this.probe(created);
    return 0;
  }

  // Whether the target was verified lately, or the solicitor asked for verified targets lately.
  private knownGood(now: number, iface: number, buf: Uint8Array, tOff: number, srcOff: number, dad: boolean): boolean {
    return this.verified.find(iface, buf, tOff, now) >= 0 ||
      (!dad && this.verified.find(iface + MAX_INTERFACES, buf, srcOff, now) >= 0);
  }

  // A static prefix answers without checking, so it must never answer DAD:
  // that would make every autoconfiguring host on the link give up its address.
  // A target answered lately spends its own bucket; a new one the rule's.
  private answerStatic(now: number, up: Uplink, rule: Rule, buf: Uint8Array, tOff: number, srcOff: number, mOff: number, dad: boolean): number {
    if (dad) return this.dropped(up.iface, NdpDrop.DadNotInUse);
    const known = this.staticTargets.find(up.iface, buf, tOff, now);
    if (known >= 0) {
      this.staticTargets.touch(known, now);
      if (!this.staticTargets.take(known, now)) {
        rule.limited++;
        return this.dropped(up.iface, NdpDrop.TargetRateLimited);
      }
    } else {
      if (!this.staticBuckets.take(rule.bucket, now)) {
        rule.limited++;
        return this.dropped(up.iface, NdpDrop.PrefixRateLimited);
      }
      const e = this.staticTargets.claim(up.iface, buf, tOff, now);
      if (e >= 0) this.staticTargets.take(e, now);
    }
    if (!this.emit.answer(up, buf, tOff, buf, srcOff, buf, mOff, false, true)) return NdpDrop.QueueFull;
    rule.answered++;
    return 0;
  }

  private advert(now: number, iface: number, buf: Uint8Array, ipOff: number, icmp: number): number {
    this.counters.event(iface, NdpEvent.AdvertReceived);
    const tOff = icmp + ND.TARGET;
    const bit = 1 << iface;
    let used = false;
    for (let id = 0; id < MAX_INTERFACES; id++) {
      if (this.uplinks[id] === undefined) continue;
      const s = this.sessions.find(id, buf, tOff);
      if (s < 0 || (this.sessions.ifaces[s]! & bit) === 0) continue;
      this.validated(s, iface, buf, ipOff + IP.SRC, now);
      used = true;
    }
    return used ? 0 : this.dropped(iface, NdpDrop.UnexpectedAdvert);
  }

  // The inner side answered: the target exists. Install the route first (so
  // traffic the answer attracts can flow), then answer everyone waiting.
  private validated(s: number, inner: number, buf: Uint8Array, naSrcOff: number, now: number): void {
    const t = this.sessions;
    const id = t.uplink[s]!;
    const up = this.uplinks[id]!;
    const rule = up.rules[t.rule[s]!]!;
    t.index.copyAddress(s, this.target, 0);
    // As in ndppd, only iface rules are wired: an auto rule found its interface in the routing table already.
    if (up.spec.autowire && rule.method === METHOD_IFACE && t.wired[s] < 0) {
      // An NA sent from the target itself (Linux does that) gives no next hop worth naming.
      const via = rule.autovia && !equalAddress(buf, naSrcOff, this.target, 0);
      if (via) for (let i = 0; i < 16; i++) t.via[s * 16 + i] = buf[naSrcOff + i]!;
      t.hasVia[s] = via ? 1 : 0;
      if (this.emit.route(ActionKind.RouteReplace, inner, this.target, via ? t.via : null, s * 16)) {
        t.wired[s] = inner;
        this.counters.event(id, NdpEvent.RouteAdded);
      }
    }
    if (t.state[s] !== SessionState.Valid) this.counters.event(id, NdpEvent.SessionValid);
    this.verified.claim(id, this.target, 0, now);
    t.state[s] = SessionState.Valid;
    t.fails[s] = 0;
    t.expires[s] = now + up.spec.ttl;
    if (t.expires[s]! < this.nextDeadline) this.nextDeadline = t.expires[s]!;
    const n = t.pendingCount[s]!;
    for (let p = s * PENDING_PER_SESSION, end = p + n; p < end; p++) {
      const flags = t.pendingFlags[p]!;
      const dad = (flags & PendingFlag.Dad) !== 0;
      if (!dad) this.verified.claim(id + MAX_INTERFACES, t.pendingAddr, p * 16, now);
      if (this.emit.answer(up, this.target, 0, t.pendingAddr, p * 16, t.pendingMac, p * 6, dad, false)) {
        rule.answered++;
      }
    }
    t.pendingCount[s] = 0;
  }

  private expire(s: number, now: number): void {
    const t = this.sessions;
    const id = t.uplink[s]!;
    const spec = this.uplinks[id]!.spec;
    switch (t.state[s]) {
      case SessionState.Waiting:
        if (t.fails[s]! < spec.retries) {
          t.fails[s]++;
          t.expires[s] = now + spec.timeout;
          this.probe(s);
          return;
        }
        t.state[s] = SessionState.Invalid;
        t.expires[s] = now + spec.deadtime;
        for (let p = 0; p < t.pendingCount[s]!; p++) this.counters.drop(id, NdpDrop.TargetUnreachable);
        t.pendingCount[s] = 0;
        this.counters.event(id, NdpEvent.SessionInvalid);
        return;
      case SessionState.Valid:
        if (t.touched[s] === 1 || spec.keepalive) {
          t.state[s] = SessionState.Renewing;
          t.fails[s] = 0;
          t.touched[s] = 0;
          t.expires[s] = now + spec.timeout;
          this.probe(s);
          return;
        }
        this.endSession(s);
        return;
      case SessionState.Renewing:
        if (t.fails[s]! < spec.retries) {
          t.fails[s]++;
          t.expires[s] = now + spec.timeout;
          this.probe(s);
          return;
        }
        this.endSession(s);
        return;
      default:
        this.endSession(s);
    }
  }

  private endSession(s: number): void {
    const t = this.sessions;
    const id = t.uplink[s]!;
    if (t.wired[s]! >= 0) {
      t.index.copyAddress(s, this.target, 0);
      if (this.emit.route(ActionKind.RouteRemove, t.wired[s]!, this.target, t.hasVia[s] === 1 ? t.via : null, s * 16)) {
        this.counters.event(id, NdpEvent.RouteRemoved);
      }
    }
    this.counters.event(id, NdpEvent.SessionRemoved);
    t.remove(s);
  }

  /** Sends an NS for session s's target out of every inner interface it probes. */
  private probe(s: number): void {
    this.sessions.index.copyAddress(s, this.target, 0);
    this.emit.probe(this.sessions.ifaces[s]!, this.target);
  }

  private dropped(iface: number, reason: number): number {
    this.counters.drop(iface, reason);
    return reason;
  }

  /** Splits the wire layer's BadAddress/BadOption into the RFC rule that failed (cold path). */
  private refine(buf: Uint8Array, ipOff: number): number {
    const icmp = this.chain.l4Offset;
    if (isMulticast(buf, icmp + ND.TARGET)) return NdpDrop.MulticastTarget;
    if (buf[icmp] === IcmpType.NeighborAdvertisement) return NdpDrop.SolicitedToMulticast;
    if (buf[icmp] === IcmpType.NeighborSolicitation && isUnspecified(buf, ipOff + IP.SRC)) {
      return isSolicitedNodeMulticast(buf, ipOff + IP.DST) ? NdpDrop.DadWithSlla : NdpDrop.DadDestination;
    }
    return WireError.BadAddress;
  }

  // Adds this configuration's exact addresses (static /128 rules, static
  // list) to uplink id, drops the ones it no longer claims, announces new ones.
  private claimExact(id: number, up: Uplink): void {
    const claimed = AddressSource.Rule | AddressSource.Static;
    const previous = this.addresses.entriesOf(id);
    for (const e of previous) this.addresses.sources[e] &= ~claimed;
    const claim = (addr: Uint8Array, source: number): void => {
      const e = this.addresses.add(id, addr, 0, source);
      if (e >= 0) this.emit.announce(up, addr, 0);
    };
    for (const r of up.rules) if (r.method === METHOD_STATIC && r.length === 128) claim(r.prefix, AddressSource.Rule);
    for (const a of up.spec.addresses ?? []) claim(a, AddressSource.Static);
    for (const e of previous) if (this.addresses.sources[e] === 0) this.addresses.forget(e);
  }

  /** Index of the first iface/auto rule of `up` covering session s's target, or -1. */
  private sessionRuleFor(up: Uplink, s: number): number {
    this.sessions.index.copyAddress(s, this.target, 0);
    for (let r = 0; r < up.rules.length; r++) {
      const rule = up.rules[r]!;
      if (rule.method !== METHOD_STATIC && matchesPrefix(this.target, 0, rule.prefix, 0, rule.length)) return r;
    }
    return -1;
  }

  // ------------------------------------------------------------------ stats

  /** Per-rule counters of uplink `iface` (control path). */
  ruleStats(iface: number): { rule: string; method: string; answered: number; sessions: number; limited: number }[] {
    return (this.uplinks[iface]?.rules ?? []).map((r) => ({
      rule: r.text, method: ['static', 'iface', 'auto'][r.method]!, answered: r.answered, sessions: r.sessions, limited: r.limited,
    }));
  }

  /** Live sessions (control path, for state dumps and tests). */
  sessionList(): { uplink: number; target: string; state: string; rule: string; created: number; expires: number; fails: number; pending: number; wired: number }[] {
    const t = this.sessions;
    const out = [];
    for (let i = 0; i < t.count; i++) {
      const s = t.active[i]!;
      t.index.copyAddress(s, this.peer, 0);
      out.push({
        uplink: t.uplink[s]!, target: formatIpv6(this.peer, 0), state: SESSION_STATE_NAMES[t.state[s]!]!,
        rule: this.uplinks[t.uplink[s]!]?.rules[t.rule[s]!]?.text ?? '',
        created: t.created[s]!, expires: t.expires[s]!, fails: t.fails[s]!, pending: t.pendingCount[s]!, wired: t.wired[s]!,
      });
    }
    return out;
  }
}
