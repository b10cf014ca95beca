// The counter registry: every counter and gauge sixgate reports, each
// declared once here (name, help, kind, labels) with how to read it, and read
// from here by all three outputs: SIGUSR1's log line, the status file and
// Prometheus (src/service/metrics.ts). `sixgate counters` lists it.
//
// The engines keep their own typed-array counters and name tables (the
// per-packet path only adds to a Float64Array slot); this module describes
// and reads them at report time. A table's entries are iterated, never
// listed: a drop reason, event or counter added to an engine's table
// (src/wire/names.ts) is reported everywhere with its help, with no edit here.
//
// Every declared series is always reported, zeros included, so a series
// never comes and goes: a part that is not running (yet) reads as zeros, and
// the engines' counters carry on across a rebuild (src/datapath/nat-service.ts).
// Drop reasons are one metric with a `reason` label (summing over reasons is
// meaningful); other tables give one metric per entry (they count different
// things). The per-network and per-container series (workload-metrics.ts)
// come and go with their networks and containers.
import type { DatapathService } from '../datapath/nat-service.js';
import { LOOP_COUNTER_HELP, LOOP_COUNTER_NAMES } from '../datapath/loop.js';
import { OFFLOAD_COUNTER_HELP, OFFLOAD_COUNTER_NAMES } from '../datapath/offload.js';
import type { DockerFeed } from '../docker/feed.js';
import { Counter } from '../io/ring.js';
import { DROP_REASON_HELP, DROP_REASON_NAMES } from '../nat/drop.js';
import { NAT_COUNTER_HELP, NAT_COUNTER_NAMES } from '../nat/types.js';
import { DROP_COUNT, DROP_HELP, DROP_NAMES, EVENT_HELP, EVENT_NAMES, type NdpCounters } from '../ndp/counters.js';
import type { NdpService } from '../proxy/ndp-service.js';
import type { SixgateDaemon } from './daemon.js';
import { containerMetrics, networkMetrics } from './workload-metrics.js';

export type MetricKind = 'counter' | 'gauge';

export interface Metric {
  /** Prometheus name; also the key in SIGUSR1's line and the status file. */
  readonly name: string;
  readonly help: string;
  readonly kind: MetricKind;
  readonly labels: readonly string[];
  /** When the last label names a drop reason: each reason's one-line help. */
  readonly reasons?: ReadonlyMap<string, string>;
  /** Every series, zeros included: its label values (in `labels` order) and its value. */
  collect(emit: (labelValues: readonly string[], value: number) => void): void;
}

/** The first code of a drop table that is a reason (code 0 is WireError.Ok, never counted). */
const FIRST_REASON = 1;

function reasonHelp(names: readonly string[], help: readonly string[]): ReadonlyMap<string, string> {
  return new Map(names.slice(FIRST_REASON).map((n, i) => [n, help[i + FIRST_REASON]!]));
}

/** "out-bytes" → "sixgate_nat_out_bytes_total". */
function counterName(group: string, entry: string): string {
  return `sixgate_${group}_${entry.replace(/-/g, '_')}_total`;
}

function single(name: string, help: string, kind: MetricKind, read: () => number): Metric {
  return { name, help, kind, labels: [], collect: (emit) => emit([], read()) };
}

/** One counter per entry of an engine's name table, read from its Float64Array (zeros while there is none). */
function tableCounters(group: string, names: readonly string[], help: readonly string[], values: () => Float64Array | undefined): Metric[] {
  return names.map((entry, i) => single(counterName(group, entry), help[i]!, 'counter', () => values()?.[i] ?? 0));
}

// ------------------------------------------------------------ sixgate run

const FEED_COUNTERS: { readonly [K in keyof DockerFeed['counters']]: readonly [name: string, help: string] } = {
  resyncs: ['resyncs', 'Full resyncs with the Docker engine (start, reconnect, SIGHUP).'],
  events: ['events', 'Docker events received.'],
  sessions: ['sessions', 'Event streams opened (the first connection and each reconnect).'],
  failedAttempts: ['failed-attempts', 'Connection attempts to the Docker engine that failed.'],
};

const SERVICE_COUNTERS: { readonly [K in Exclude<keyof SixgateDaemon['counters'], 'lastResyncMs'>]: readonly [name: string, help: string] } = {
  batches: ['batches', 'Batches of Docker deltas received from the feed.'],
  applies: ['applies', 'NAT66 model applies run (a batch or a resync that changed the model).'],
  applyFailures: ['apply-failures', 'NAT66 model applies that failed (retried later).'],
  ndpAdded: ['ndp-added', 'Container addresses given to the NDP proxy.'],
  ndpRemoved: ['ndp-removed', 'Container addresses taken from the NDP proxy.'],
};

const QUANTILES = [0.5, 0.9, 0.99] as const;

function daemonMetrics(daemon: SixgateDaemon | undefined): Metric[] {
  const d = daemon;
  return [
    {
      // The parts are fixed for the daemon's life (turning one on or off needs a restart).
      name: 'sixgate_part_up', help: '1 while a part of the daemon (docker, ndp, nat66) works, 0 while it is down or repairing.',
      kind: 'gauge', labels: ['part'],
      collect: (emit) => {
        for (const [part, c] of Object.entries(d?.status().components ?? {})) emit([part], c.ok ? 1 : 0);
      },
    },
    single('sixgate_docker_connected', '1 while the Docker event stream is live.', 'gauge', () => (d?.feed.state === 'live' ? 1 : 0)),
    single('sixgate_networks_outside_prefix', 'Global Docker networks that were inside an upstream prefix and are no longer (re-create them, or use sixgate.nptv6=auto).', 'gauge',
      () => d?.outsidePrefix.size ?? 0),
    single('sixgate_dhcpv6_pd_valid_seconds', 'Seconds the delegated prefix (DHCPv6-PD) stays valid; 0 without a lease.', 'gauge',
      () => d?.delegation?.status().prefixes[0]?.validSeconds ?? 0),
    ...(Object.entries(FEED_COUNTERS) as [keyof DockerFeed['counters'], readonly [string, string]][]).map(([key, [entry, help]]) =>
      single(counterName('docker', entry), help, 'counter', () => d?.feed.counters[key] ?? 0)),
    ...(Object.entries(SERVICE_COUNTERS) as [keyof typeof SERVICE_COUNTERS, readonly [string, string]][]).map(([key, [entry, help]]) =>
      single(counterName('service', entry), help, 'counter', () => d?.counters[key] ?? 0)),
    single('sixgate_last_resync_seconds', 'Duration of the last full resync, to both engines ready.', 'gauge', () => (d?.counters.lastResyncMs ?? 0) / 1000),
    single('sixgate_ndp_container_addresses', 'Container addresses the NDP proxy answers for.', 'gauge', () => d?.ndpAddressCount ?? 0),
    single('sixgate_shims', 'Host shims of macvlan/ipvlan networks in place.', 'gauge', () => d?.shims.status.filter((s) => s.problem === '').length ?? 0),
    single('sixgate_address_conflicts', 'Container addresses of macvlan/ipvlan networks another host on the link already holds (not routed).', 'gauge', () => d?.shims.conflicts.length ?? 0),
    {
      name: 'sixgate_event_ready_seconds', help: 'First Docker event of a batch to both engines ready, quantiles over the last 4096 batches (NaN before the first).',
      kind: 'gauge', labels: ['engine', 'quantile'],
      collect: (emit) => {
        for (const engine of ['ndp', 'nat66'] as const) {
          const ring = engine === 'ndp' ? d?.ndpLatency : d?.natLatency;
          for (const q of QUANTILES) emit([engine, String(q)], (ring?.quantile(q) ?? Number.NaN) / 1000);
        }
      },
    },
  ];
}

// ------------------------------------------------------- NAT66 data path

/** The TUN's counters (src/io/ring.ts Counter, kept by the C side); the others there are not counts. */
const TUN_COUNTERS: readonly (readonly [index: number, name: string, help: string])[] = [
  [Counter.RxPackets, 'rx-packets', 'Packets read from the TUN.'],
  [Counter.RxBytes, 'rx-bytes', 'Bytes read from the TUN.'],
  [Counter.RxOversize, 'rx-oversize', 'Packets longer than a ring slot: dropped whole, never delivered cut.'],
  [Counter.TxPackets, 'tx-packets', 'Packets written to the TUN.'],
  [Counter.TxBytes, 'tx-bytes', 'Bytes written to the TUN.'],
  [Counter.TxRejected, 'tx-rejected', 'Packets the kernel refused one by one (bad vnet header, no route...); the batch went on.'],
  [Counter.TxDown, 'tx-down', 'Packets dropped because the TUN or its link was down.'],
];

function natMetrics(datapath: () => DatapathService | undefined): Metric[] {
  return [
    single('sixgate_nat_sessions', 'NAT66 sessions in the connection table.', 'gauge', () => datapath()?.sessionCount ?? 0),
    ...tableCounters('nat', NAT_COUNTER_NAMES, NAT_COUNTER_HELP, () => datapath()?.natCounters),
    {
      name: 'sixgate_nat_drops_total', help: 'Packets the NAT66 engine dropped, by reason (sixgate counters says what each reason means).',
      kind: 'counter', labels: ['reason'], reasons: reasonHelp(DROP_REASON_NAMES, DROP_REASON_HELP),
      collect: (emit) => {
        const drops = datapath()?.natDrops;
        for (let r = FIRST_REASON; r < DROP_REASON_NAMES.length; r++) emit([DROP_REASON_NAMES[r]!], drops?.[r] ?? 0);
      },
    },
    ...tableCounters('nat_loop', LOOP_COUNTER_NAMES, LOOP_COUNTER_HELP, () => datapath()?.loopCounters),
    single('sixgate_nat_offloaded_sessions', 'NAT66 sessions the kernel fast path translates now (0 while it is off: see the start-up line).', 'gauge',
      () => datapath()?.offloadedSessions ?? 0),
    ...tableCounters('nat_offload', OFFLOAD_COUNTER_NAMES, OFFLOAD_COUNTER_HELP, () => datapath()?.offloadCounters),
    ...TUN_COUNTERS.map(([index, entry, help]) =>
      single(counterName('nat_tun', entry), help, 'counter', () => datapath()?.tunCounters[index] ?? 0)),
    single('sixgate_nat_failures_total', 'Times the data path went down (TUN failed or its routes removed).', 'counter', () => datapath()?.supervision.failures ?? 0),
    single('sixgate_nat_repairs_total', 'Times the data path was repaired and forwarded again.', 'counter', () => datapath()?.supervision.repairs ?? 0),
    single('sixgate_uplink_prefix_changes_total', 'Uplink address changes (a prefix added, deprecated or removed) that moved an external address or prefix.', 'counter',
      () => datapath()?.uplink.changes ?? 0),
    single('sixgate_uplink_sessions_ended_total', 'NAT66 sessions ended because the uplink prefix of their external address was removed.', 'counter',
      () => datapath()?.uplink.sessionsEnded ?? 0),
    single('sixgate_nat_draining_addresses', 'External addresses of deprecated uplink prefixes, kept for the connections on them.', 'gauge',
      () => datapath()?.model.networks.reduce((n, net) => n + (net.drainingAddresses?.length ?? 0), 0) ?? 0),
  ];
}

// -------------------------------------------------------------- NDP proxy

/**
 * The proxy's counters per interface it uses. `always` names interfaces
 * reported (as zeros) even while the proxy is not running.
 */
function ndpMetrics(proxy: () => NdpService | undefined, always: readonly string[] = []): Metric[] {
  const each = (read: (c: NdpCounters | undefined, id: number, iface: string) => void): void => {
    const p = proxy();
    p?.refreshCounters();
    const ids = p?.interfaceIds ?? new Map<string, number>();
    for (const [iface, id] of ids) read(p!.engine.counters, id, iface);
    for (const iface of always) if (!ids.has(iface)) read(undefined, 0, iface);
  };
  return [
    {
      name: 'sixgate_ndp_drops_total', help: 'Messages the NDP proxy dropped, per interface and reason (sixgate counters says what each reason means).',
      kind: 'counter', labels: ['iface', 'reason'], reasons: reasonHelp(DROP_NAMES, DROP_HELP),
      collect: (emit) => each((c, id, iface) => {
        for (let r = FIRST_REASON; r < DROP_COUNT; r++) emit([iface, DROP_NAMES[r]!], c?.dropCount(id, r) ?? 0);
      }),
    },
    ...EVENT_NAMES.map((entry, e): Metric => ({
      name: counterName('ndp', entry), help: EVENT_HELP[e]!, kind: 'counter', labels: ['iface'],
      collect: (emit) => each((c, id, iface) => emit([iface], c?.eventCount(id, e) ?? 0)),
    })),
  ];
}

// -------------------------------------------------------------- commands

/** `sixgate run`: the daemon's own counters, its NAT66 data path and its NDP proxy (for the uplink at least), per network and per container. */
export function runMetrics(daemon: SixgateDaemon | undefined): Metric[] {
  return [
    ...daemonMetrics(daemon),
    ...ndpMetrics(() => daemon?.ndp, daemon === undefined ? [] : [daemon.uplink]),
    ...natMetrics(() => daemon?.datapath),
    ...networkMetrics(() => daemon?.datapath?.workloadCounts, () => daemon?.ndp),
    ...containerMetrics(() => daemon?.feed.snapshot().addresses ?? [], () => daemon?.datapath?.workloadCounts, () => daemon?.ndp),
  ];
}

/** `sixgate nat`: the data path (also per network) and the NDP proxy it runs for its external addresses. */
export function natServiceMetrics(service: DatapathService): Metric[] {
  return [...natMetrics(() => service), ...networkMetrics(() => service.workloadCounts, () => service.ndpProxy), ...ndpMetrics(() => service.ndpProxy)];
}

/** `sixgate ndp`: the proxy. */
export function ndpServiceMetrics(service: NdpService): Metric[] {
  return ndpMetrics(() => service);
}

/**
 * Every series by metric name, nested by label values, zeros included
 * (SIGUSR1's line and the status file):
 *   { sixgate_nat_sessions: 3, sixgate_ndp_drops_total: { eth0: { 'not-ours': 12, ... } }, ... }
 */
export function counterValues(metrics: readonly Metric[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of metrics) {
    if (m.labels.length === 0) {
      m.collect((_, v) => { out[m.name] = v; });
      continue;
    }
    const root: Record<string, unknown> = {};
    m.collect((values, v) => {
      let node = root;
      for (const value of values.slice(0, -1)) node = (node[value] ??= {}) as Record<string, unknown>;
      node[values[values.length - 1]!] = v;
    });
    out[m.name] = root;
  }
  return out;
}

/** The registry as text, one metric a line and one line per drop reason (`sixgate counters`). */
export function describeMetrics(metrics: readonly Metric[]): string {
  const lines: string[] = [];
  for (const m of metrics) {
    const labels = m.labels.length > 0 ? `{${m.labels.join(',')}}` : '';
    lines.push(`${m.name}${labels} ${m.kind}: ${m.help}`);
    for (const [reason, help] of m.reasons ?? []) lines.push(`  ${m.labels[m.labels.length - 1]}="${reason}": ${help}`);
  }
  return `${lines.join('\n')}\n`;
}
