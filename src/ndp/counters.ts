// What the NDP engine counts: one slot per drop reason and one per event,
// per interface, in flat Float64Arrays indexed by a numeric const (Snabb
// style), so counting costs an add and exporting them is one loop.
//
// Drop reasons continue the wire layer's numbering (src/wire/error.ts): a
// wire code such as BadChecksum is counted in its own slot unchanged, and the
// NDP-specific reasons start at WIRE_ERROR_COUNT.
import { WIRE_ERROR_COUNT, WIRE_ERROR_HELP, WIRE_ERROR_NAMES } from '../wire/error.js';
import { describeCodes } from '../wire/names.js';

/** What each code means is its help text in NDP_DROPS below. */
export const NdpDrop = {
  MulticastTarget: WIRE_ERROR_COUNT,
  DadDestination: WIRE_ERROR_COUNT + 1,
  DadWithSlla: WIRE_ERROR_COUNT + 2,
  MulticastSource: WIRE_ERROR_COUNT + 3,
  SolicitedToMulticast: WIRE_ERROR_COUNT + 4,
  NotUplink: WIRE_ERROR_COUNT + 5,
  NotOurs: WIRE_ERROR_COUNT + 6,
  DadNotInUse: WIRE_ERROR_COUNT + 7,
  UplinkRateLimited: WIRE_ERROR_COUNT + 8,
  PrefixRateLimited: WIRE_ERROR_COUNT + 9,
  SessionCap: WIRE_ERROR_COUNT + 10,
  TargetUnreachable: WIRE_ERROR_COUNT + 11,
  PendingFull: WIRE_ERROR_COUNT + 12,
  QueueFull: WIRE_ERROR_COUNT + 13,
  NoRoute: WIRE_ERROR_COUNT + 14,
  UnexpectedAdvert: WIRE_ERROR_COUNT + 15,
  NoProbeSource: WIRE_ERROR_COUNT + 16,
  TargetRateLimited: WIRE_ERROR_COUNT + 17,
  SocketOverflow: WIRE_ERROR_COUNT + 18,
} as const;

// Each reason's and each event's counter name and one-line help: the one place they are written.
const NDP_DROPS = describeCodes(NdpDrop, {
  MulticastTarget: ['multicast-target', 'Target is a multicast address (RFC 4861 §7.1.1 item 5). A message shorter than its body counts as wire `truncated` (item 4).'],
  DadDestination: ['dad-destination', 'Unspecified source (DAD) sent to something other than a solicited-node group (item 7).'],
  DadWithSlla: ['dad-with-slla', 'Unspecified source (DAD) carrying a source link-layer address option (item 8).'],
  MulticastSource: ['multicast-source', 'Source address is multicast: no node sends from one (RFC 4291 §2.7).'],
  SolicitedToMulticast: ['solicited-to-multicast', 'An NA with S=1 sent to a multicast destination (§7.1.2).'],
  NotUplink: ['not-uplink', 'An NS on an interface that is not a proxy uplink.'],
  NotOurs: ['not-ours', 'The target matches no address, no rule and no session: not ours to answer.'],
  DadNotInUse: ['dad-not-in-use', "DAD for an address not known to be in use: answering would break the prober's autoconfiguration."],
  UplinkRateLimited: ['uplink-rate-limited', "The uplink's budget for new sessions is spent (token bucket)."],
  PrefixRateLimited: ['prefix-rate-limited', "The rule's (prefix's) budget for targets it has not answered lately is spent (token bucket)."],
  SessionCap: ['session-cap', 'Every session slot is taken.'],
  TargetUnreachable: ['target-unreachable', 'The target was probed and nothing answered (an INVALID session: negative cache).'],
  PendingFull: ['pending-full', 'The session already holds as many waiting solicitors as it can.'],
  QueueFull: ['queue-full', 'The output queue was full; the caller drains it too rarely.'],
  NoRoute: ['no-route', 'An `auto` rule found no route for the target, or its best route leads back out of the uplink.'],
  UnexpectedAdvert: ['unexpected-advert', 'An NA that no session was waiting for.'],
  NoProbeSource: ['no-probe-source', 'The inner interface has no link-local address to send a probe from.'],
  TargetRateLimited: ['target-rate-limited', 'A target a static prefix answered lately was solicited faster than its own bucket allows.'],
  SocketOverflow: ['socket-overflow', "The kernel dropped the frame: the packet socket's receive buffer was full (PACKET_STATISTICS, read by the wiring)."],
}, WIRE_ERROR_COUNT);

export const DROP_COUNT = WIRE_ERROR_COUNT + NDP_DROPS.names.length;

/** Kebab-case names of every drop reason, indexed by code (wire reasons first). */
export const DROP_NAMES: readonly string[] = [...WIRE_ERROR_NAMES, ...NDP_DROPS.names];
/** Every drop reason's one-line help, indexed by code. */
export const DROP_HELP: readonly string[] = [...WIRE_ERROR_HELP, ...NDP_DROPS.help];

/** What each event means is its help text in EVENTS below. */
export const NdpEvent = {
  SolicitReceived: 0,
  AdvertReceived: 1,
  AdvertSent: 2,
  DadDefended: 3,
  Announced: 4,
  ProbeSent: 5,
  SessionCreated: 6,
  SessionValid: 7,
  SessionInvalid: 8,
  SessionRemoved: 9,
  RouteAdded: 10,
  RouteRemoved: 11,
  SessionFromReserve: 12,
  AnsweredInKernel: 13,
} as const;

const EVENTS = describeCodes(NdpEvent, {
  SolicitReceived: ['solicit-received', 'NS received and accepted by validation.'],
  AdvertReceived: ['advert-received', 'NA received on an inner interface and accepted by validation.'],
  AdvertSent: ['advert-sent', 'Solicited NA sent (unicast, S=1).'],
  DadDefended: ['dad-defended', 'NA sent to ff02::1 defending an address against DAD (S=0).'],
  Announced: ['announced', 'Unsolicited NA sent to ff02::1 for a new address.'],
  ProbeSent: ['probe-sent', 'NS sent to an inner interface to verify a target.'],
  SessionCreated: ['session-created', 'Proxy session opened for a target behind an iface or auto rule.'],
  SessionValid: ['session-valid', 'Session verified: the inner side answered the probe.'],
  SessionInvalid: ['session-invalid', 'Session marked invalid: the probes went unanswered.'],
  SessionRemoved: ['session-removed', 'Session expired or removed.'],
  RouteAdded: ['route-added', 'Route to a verified target added (autowire).'],
  RouteRemoved: ['route-removed', 'Route to a target removed (autowire).'],
  SessionFromReserve: ['session-from-reserve', 'A session opened from the reserve kept for verified targets and solicitors, while the rate limits or the cap refused others.'],
  AnsweredInKernel: ['answered-in-kernel', 'NS for an exact address answered by the tc program on the uplink (counted in solicit-received and advert-sent too).'],
});

export const EVENT_COUNT = EVENTS.names.length;
export const EVENT_NAMES: readonly string[] = EVENTS.names;
export const EVENT_HELP: readonly string[] = EVENTS.help;

/** Interface ids index the counters; the engine handles at most this many. */
export const MAX_INTERFACES = 32;

export class NdpCounters {
  /** drops[iface * DROP_COUNT + reason] */
  readonly drops = new Float64Array(MAX_INTERFACES * DROP_COUNT);
  /** events[iface * EVENT_COUNT + event] */
  readonly events = new Float64Array(MAX_INTERFACES * EVENT_COUNT);

  drop(iface: number, reason: number): void {
    this.drops[iface * DROP_COUNT + reason]++;
  }

  /** `n` drops at once: counts the kernel reports in bulk. */
  dropMany(iface: number, reason: number, n: number): void {
    this.drops[iface * DROP_COUNT + reason] += n;
  }

  event(iface: number, event: number): void {
    this.events[iface * EVENT_COUNT + event]++;
  }

  /** `n` events at once: counts the kernel reports in bulk. */
  eventMany(iface: number, event: number, n: number): void {
    this.events[iface * EVENT_COUNT + event] += n;
  }

  dropCount(iface: number, reason: number): number {
    return this.drops[iface * DROP_COUNT + reason];
  }

  eventCount(iface: number, event: number): number {
    return this.events[iface * EVENT_COUNT + event];
  }

  /** Non-zero counters of one interface by name (control plane: builds an object). */
  snapshot(iface: number): { drops: Record<string, number>; events: Record<string, number> } {
    const drops: Record<string, number> = {};
    const events: Record<string, number> = {};
    for (let r = 0; r < DROP_COUNT; r++) {
      const n = this.drops[iface * DROP_COUNT + r];
      if (n !== 0) drops[DROP_NAMES[r]!] = n;
    }
    for (let e = 0; e < EVENT_COUNT; e++) {
      const n = this.events[iface * EVENT_COUNT + e];
      if (n !== 0) events[EVENT_NAMES[e]!] = n;
    }
    return { drops, events };
  }
}
