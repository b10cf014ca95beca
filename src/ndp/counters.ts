// What the NDP engine counts: one slot per drop reason and one per event,
// per interface, in flat Float64Arrays indexed by a numeric const (Snabb
// style), so counting costs an add and exporting them is one loop.
//
// Drop reasons continue the wire layer's numbering (src/wire/error.ts): a
// wire code such as BadChecksum is counted in its own slot unchanged, and the
// NDP-specific reasons start at WIRE_ERROR_COUNT.
import { WIRE_ERROR_COUNT, WIRE_ERROR_NAMES } from '../wire/error.js';

export const NdpDrop = {
  /** Target is a multicast address (RFC 4861 §7.1.1 item 5). A message shorter than its body counts as wire `truncated` (item 4). */
  MulticastTarget: WIRE_ERROR_COUNT,
  /** Unspecified source (DAD) sent to something other than a solicited-node group (item 7). */
  DadDestination: WIRE_ERROR_COUNT + 1,
  /** Unspecified source (DAD) carrying a source link-layer address option (item 8). */
  DadWithSlla: WIRE_ERROR_COUNT + 2,
  /** Source address is multicast: no node sends from one (RFC 4291 §2.7). */
  MulticastSource: WIRE_ERROR_COUNT + 3,
  /** An NA with S=1 sent to a multicast destination (§7.1.2). */
  SolicitedToMulticast: WIRE_ERROR_COUNT + 4,
  /** An NS on an interface that is not a proxy uplink. */
  NotUplink: WIRE_ERROR_COUNT + 5,
  /** The target matches no address, no rule and no session: not ours to answer. */
  NotOurs: WIRE_ERROR_COUNT + 6,
  /** DAD for an address not known to be in use: answering would break the prober's autoconfiguration. */
  DadNotInUse: WIRE_ERROR_COUNT + 7,
  /** The uplink's budget for new sessions is spent (token bucket). */
  UplinkRateLimited: WIRE_ERROR_COUNT + 8,
  /** The rule's (prefix's) budget for targets it has not answered lately is spent (token bucket). */
  PrefixRateLimited: WIRE_ERROR_COUNT + 9,
  /** Every session slot is taken. */
  SessionCap: WIRE_ERROR_COUNT + 10,
  /** The target was probed and nothing answered (an INVALID session: negative cache). */
  TargetUnreachable: WIRE_ERROR_COUNT + 11,
  /** The session already holds as many waiting solicitors as it can. */
  PendingFull: WIRE_ERROR_COUNT + 12,
  /** The output queue was full; the caller drains it too rarely. */
  QueueFull: WIRE_ERROR_COUNT + 13,
  /** An `auto` rule found no route for the target, or its best route leads back out of the uplink. */
  NoRoute: WIRE_ERROR_COUNT + 14,
  /** An NA that no session was waiting for. */
  UnexpectedAdvert: WIRE_ERROR_COUNT + 15,
  /** The inner interface has no link-local address to send a probe from. */
  NoProbeSource: WIRE_ERROR_COUNT + 16,
  /** A target a static prefix answered lately was solicited faster than its own bucket allows. */
  TargetRateLimited: WIRE_ERROR_COUNT + 17,
  /** The kernel dropped the frame: the packet socket's receive buffer was full (PACKET_STATISTICS, read by the wiring). */
  SocketOverflow: WIRE_ERROR_COUNT + 18,
} as const;

export const DROP_COUNT = WIRE_ERROR_COUNT + 19;

const NDP_DROP_NAMES: readonly string[] = [
  'multicast-target',
  'dad-destination',
  'dad-with-slla',
  'multicast-source',
  'solicited-to-multicast',
  'not-uplink',
  'not-ours',
  'dad-not-in-use',
  'uplink-rate-limited',
  'prefix-rate-limited',
  'session-cap',
  'target-unreachable',
  'pending-full',
  'queue-full',
  'no-route',
  'unexpected-advert',
  'no-probe-source',
  'target-rate-limited',
  'socket-overflow',
];

/** Kebab-case names of every drop reason, indexed by code (wire reasons first). */
export const DROP_NAMES: readonly string[] = [...WIRE_ERROR_NAMES, ...NDP_DROP_NAMES];

export const NdpEvent = {
  /** NS received and accepted by validation. */
  SolicitReceived: 0,
  /** NA received on an inner interface and accepted by validation. */
  AdvertReceived: 1,
  /** Solicited NA sent (unicast, S=1). */
  AdvertSent: 2,
  /** NA sent to ff02::1 defending an address against DAD (S=0). */
  DadDefended: 3,
  /** Unsolicited NA sent to ff02::1 for a new address. */
  Announced: 4,
  /** NS sent to an inner interface to verify a target. */
  ProbeSent: 5,
  SessionCreated: 6,
  SessionValid: 7,
  SessionInvalid: 8,
  SessionRemoved: 9,
  RouteAdded: 10,
  RouteRemoved: 11,
  /** A session opened from the reserve kept for verified targets and solicitors, while the rate limits or the cap refused others. */
  SessionFromReserve: 12,
} as const;

export const EVENT_COUNT = 13;

export const EVENT_NAMES: readonly string[] = [
  'solicit-received',
  'advert-received',
  'advert-sent',
  'dad-defended',
  'announced',
  'probe-sent',
  'session-created',
  'session-valid',
  'session-invalid',
  'session-removed',
  'route-added',
  'route-removed',
  'session-from-reserve',
];

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
