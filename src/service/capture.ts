// The control socket's `capture` op, for `sixgate capture`: starts the
// capture taps of the daemon's data paths (the NAT66 loop's, the NDP
// proxy's: src/io/capture.ts), drains them every CAPTURE_POLL_MS and streams
// the packets, each with its interface, link type and a comment saying what
// became of it (the drop reason and its one-line help). The taps stop when
// the client goes, when it has its count, or when the daemon stops.
// Control path: allocates freely.
import { setTimeout as sleep } from 'node:timers/promises';
import { ANY_REASON, NO_REASON, NOT_DROPPED, type CaptureControl } from '../io/capture.js';
import { monotonicMs } from '../io/ring.js';
import { CAPTURE_INBOUND } from '../datapath/loop.js';
import { DROP_REASON_HELP, DROP_REASON_NAMES } from '../nat/drop.js';
import { Verdict } from '../nat/types.js';
import { DROP_HELP as NDP_DROP_HELP, DROP_NAMES as NDP_DROP_NAMES } from '../ndp/counters.js';
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW } from '../pcap/linktype.js';
import { linuxCooked } from '../pcap/pcapng-writer.js';
import { ControlError } from '../errors.js';
import type { ControlRequest } from './control.js';

/** How often a running capture drains its taps: the latency of `sixgate capture -w -`. */
export const CAPTURE_POLL_MS = 100;

export type CaptureComponent = 'nat66' | 'ndp';

/** A data path a capture can tap. */
export interface CaptureSource {
  readonly component: CaptureComponent;
  readonly tap: CaptureControl;
  /** The name of interface `id` of the tap's records (the TUN, an NDP link). */
  readonly interfaceName: (id: number) => string;
}

/** One packet as the control socket sends it. */
export interface CapturedView {
  component: CaptureComponent;
  interface: string;
  linktype: number;
  /** Wall-clock capture time, microseconds since the epoch. */
  timeUs: number;
  /** The drop reason's name; null for a packet that was not dropped. */
  reason: string | null;
  /** What sixgate did with it, in words: the pcapng comment. */
  comment: string;
  /** The packet, base64. */
  data: string;
}

/** Packets a tap could not keep (the client read too slowly), reported as they are noticed. */
export interface CaptureLoss {
  component: CaptureComponent;
  lost: number;
}

const LINKTYPES: Readonly<Record<CaptureComponent, number>> = { nat66: LINKTYPE_RAW, ndp: LINKTYPE_ETHERNET };
const REASONS: Readonly<Record<CaptureComponent, { names: readonly string[]; help: readonly string[] }>> = {
  nat66: { names: DROP_REASON_NAMES, help: DROP_REASON_HELP },
  ndp: { names: NDP_DROP_NAMES, help: NDP_DROP_HELP },
};

/** Every drop reason name a capture may ask for. */
const ALL_REASONS: readonly string[] = [...new Set([...DROP_REASON_NAMES, ...NDP_DROP_NAMES])].sort();

export interface CaptureRequest {
  readonly drops: boolean;
  readonly reason?: string;
  readonly count?: number;
  /** Only this component's packets. */
  readonly component?: CaptureComponent;
}

const COMPONENTS: readonly CaptureComponent[] = ['nat66', 'ndp'];

/** The request's options, checked (a bad one is a bad-request answer). */
export function captureRequest(request: ControlRequest): CaptureRequest {
  const { drops, reason, count, component } = request;
  if (drops !== undefined && typeof drops !== 'boolean') throw new ControlError('bad-request', 'drops must be true or false');
  if (reason !== undefined && (typeof reason !== 'string' || !ALL_REASONS.includes(reason))) {
    throw new ControlError('bad-request', `reason must be a drop reason (sixgate counters lists them): ${ALL_REASONS.join(', ')}`);
  }
  if (count !== undefined && (typeof count !== 'number' || !Number.isInteger(count) || count < 1)) {
    throw new ControlError('bad-request', 'count must be a positive integer');
  }
  if (component !== undefined && !COMPONENTS.includes(component as CaptureComponent)) {
    throw new ControlError('bad-request', `component must be one of ${COMPONENTS.join(', ')}`);
  }
  return {
    drops: drops === true || reason !== undefined, ...(reason === undefined ? {} : { reason }), ...(count === undefined ? {} : { count }),
    ...(component === undefined ? {} : { component: component as CaptureComponent }),
  };
}

function comment(component: CaptureComponent, reason: number, note: number): string {
  if (reason !== NOT_DROPPED) {
    const { names, help } = REASONS[component];
    return `sixgate ${component} drop: ${names[reason] ?? `reason ${reason}`} (${help[reason] ?? 'unknown reason'})`;
  }
  if (component === 'ndp') return 'sixgate ndp: used (answered, forwarded or matched)';
  const direction = (note & CAPTURE_INBOUND) !== 0 ? 'inbound' : 'outbound';
  const verdict = note & 0xff;
  const what = verdict === Verdict.Held ? 'held until its first fragment comes'
    : verdict === Verdict.Hairpin ? 'translated and hairpinned'
      : verdict === Verdict.Reply ? 'refused: answered with a TCP RST or ICMPv6 error (counted as no-mapping)' : 'translated and forwarded';
  return `sixgate nat66 ${direction}: ${what}`;
}

/**
 * The packets the daemon's data paths drop (or all they see), part by part
 * every CAPTURE_POLL_MS (an empty part when there were none: a heartbeat).
 * `sources` is asked again at every drain: a data path that starts later
 * (or is replaced) is tapped from then on. Throws ControlError('busy') at
 * once when another client is capturing already.
 */
export function captureStream(daemonSources: () => readonly CaptureSource[], kinds: readonly CaptureComponent[],
  options: CaptureRequest): AsyncIterable<(CapturedView | CaptureLoss)[]> {
  const sources = (): CaptureSource[] => daemonSources().filter((s) => options.component === undefined || s.component === options.component);
  if (sources().some((s) => s.tap.active)) throw new ControlError('busy', 'another sixgate capture is running on this daemon; one at a time');
  // libpcap reads one link type per file: packets of both components are all written Linux cooked, as tcpdump -i any does.
  const cooked = options.component === undefined && kinds.length > 1;
  return drainTaps(sources, options, cooked);
}

async function* drainTaps(sources: () => readonly CaptureSource[], options: CaptureRequest, cooked: boolean): AsyncIterable<(CapturedView | CaptureLoss)[]> {
  const started = new Map<CaptureControl, number>(); // tap -> losses reported so far
  // Taps not started yet; one another client holds is left to it.
  const startNew = (): void => {
    for (const s of sources()) {
      if (started.has(s.tap) || s.tap.active) continue;
      const code = options.reason === undefined ? ANY_REASON : REASONS[s.component].names.indexOf(options.reason);
      s.tap.start({ dropsOnly: options.drops, want: options.reason !== undefined && code < 0 ? NO_REASON : code });
      started.set(s.tap, 0);
    }
  };
  let left = options.count ?? Number.POSITIVE_INFINITY;
  try {
    startNew();
    while (left > 0) {
      await sleep(CAPTURE_POLL_MS);
      const part: (CapturedView | CaptureLoss)[] = [];
      const packets: { view: CapturedView; stamp: number }[] = [];
      const nowMs = monotonicMs();
      const wallMs = Date.now();
      for (const s of sources()) {
        const lostBefore = started.get(s.tap);
        if (lostBefore === undefined) continue;
        for (const p of s.tap.drain()) {
          packets.push({
            stamp: p.stamp,
            view: {
              component: s.component, interface: s.interfaceName(p.iface), linktype: cooked ? LINKTYPE_LINUX_SLL : LINKTYPES[s.component],
              timeUs: Math.round((wallMs - (nowMs - p.stamp)) * 1000),
              reason: p.reason === NOT_DROPPED ? null : REASONS[s.component].names[p.reason] ?? String(p.reason),
              comment: comment(s.component, p.reason, p.note),
              data: Buffer.from((cooked ? linuxCooked(LINKTYPES[s.component], p.data) : undefined) ?? p.data).toString('base64'),
            },
          });
        }
        if (s.tap.lost > lostBefore) {
          part.push({ component: s.component, lost: s.tap.lost - lostBefore });
          started.set(s.tap, s.tap.lost);
        }
      }
      packets.sort((a, b) => a.stamp - b.stamp);
      for (const p of packets.slice(0, left)) part.push(p.view);
      left -= Math.min(left, packets.length);
      startNew();
      yield part;
    }
  } finally {
    for (const tap of started.keys()) tap.stop();
  }
}
