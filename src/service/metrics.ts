// The optional Prometheus endpoint (--metrics-listen [addr]:port). Nothing
// here runs unless it is asked for: prom-client is imported only then, and
// every metric is read from the engines' own counters in a collect callback
// at scrape time, so the packet path never touches a metric object.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import type { SixgateDaemon } from './daemon.js';

export interface MetricsEndpoint {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** "[::1]:9101", "127.0.0.1:9101", ":9101" (every address) → host and port. */
export function parseListen(text: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new ConfigError(`metricsListen ${JSON.stringify(text)}: expected [addr]:port, addr:port or :port`);
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  return { host, port };
}

type Numbers = Record<string, number>;
type Labels = Record<string, string>;

export async function startMetrics(listen: string, daemon: SixgateDaemon, log: Logger): Promise<MetricsEndpoint> {
  const { host, port } = parseListen(listen);
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  // Each metric is filled from the engines' counters when scraped: reset, then set to the current values.
  const gauge = (name: string, help: string, labelNames: string[], collect: (set: (labels: Labels, v: number) => void) => void): void => {
    registry.registerMetric(new prom.Gauge({
      name, help, labelNames, registers: [],
      collect() {
        this.reset();
        collect((labels, v) => this.set(labels, v));
      },
    }));
  };
  const counter = (name: string, help: string, labelNames: string[], collect: (set: (labels: Labels, v: number) => void) => void): void => {
    registry.registerMetric(new prom.Counter({
      name, help, labelNames, registers: [],
      collect() {
        this.reset();
        collect((labels, v) => this.inc(labels, v));
      },
    }));
  };
  gauge('sixgate_part_up', '1 while a part of the daemon (docker, ndp, nat66) works, 0 while it is down or repairing', ['part'], (set) => {
    for (const [part, c] of Object.entries(daemon.status().components ?? {})) set({ part }, c.ok ? 1 : 0);
  });
  gauge('sixgate_docker_connected', '1 while the Docker event stream is live', [], (set) => set({}, daemon.feed.state === 'live' ? 1 : 0));
  counter('sixgate_docker_total', 'Docker feed: events, resyncs, sessions, failedAttempts', ['counter'], (set) => {
    for (const [k, v] of Object.entries(daemon.feed.counters as Numbers)) set({ counter: k }, v);
  });
  counter('sixgate_service_total', 'service: batches, applies, applyFailures, ndpAdded, ndpRemoved', ['counter'], (set) => {
    for (const [k, v] of Object.entries(daemon.counters as Numbers)) if (k !== 'lastResyncMs') set({ counter: k }, v);
  });
  gauge('sixgate_last_resync_seconds', 'duration of the last full resync, to both engines ready', [], (set) => set({}, daemon.counters.lastResyncMs / 1000));
  gauge('sixgate_ndp_container_addresses', 'container addresses the NDP proxy answers for', [], (set) => set({}, daemon.ndpAddressCount));
  gauge('sixgate_event_ready_seconds', 'first Docker event of a batch to both engines ready, quantiles over the last 4096 batches', ['engine', 'quantile'], (set) => {
    for (const [engine, ring] of [['ndp', daemon.ndpLatency], ['nat66', daemon.natLatency]] as const) {
      if (ring.count === 0) continue;
      for (const q of [0.5, 0.9, 0.99]) set({ engine, quantile: String(q) }, ring.quantile(q) / 1000);
    }
  });
  gauge('sixgate_nat_sessions', 'NAT66 sessions in the connection table', [], (set) => set({}, daemon.datapath?.engine.table.count ?? 0));
  counter('sixgate_nat_total', 'NAT66 data path counters by group (loop, nat, drops, tun) and name', ['group', 'counter'], (set) => {
    const stats = daemon.datapath?.stats();
    if (stats === undefined) return;
    for (const [group, values] of Object.entries(stats)) {
      if (values === null || typeof values !== 'object') continue;
      for (const [k, v] of Object.entries(values as Numbers)) if (typeof v === 'number') set({ group, counter: k }, v);
    }
  });
  counter('sixgate_ndp_total', 'NDP proxy counters per interface: drops and events by reason', ['iface', 'kind', 'counter'], (set) => {
    const stats = daemon.ndp?.stats() as { interfaces?: Record<string, { drops?: Numbers; events?: Numbers }> } | undefined;
    for (const [iface, c] of Object.entries(stats?.interfaces ?? {})) {
      for (const kind of ['drops', 'events'] as const) {
        for (const [k, v] of Object.entries(c[kind] ?? {})) set({ iface, kind, counter: k }, v);
      }
    }
  });

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text);
    }, (err: unknown) => {
      log.warn({ err }, 'metrics collection failed');
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  server.unref();
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr : { address: host ?? '::', port };
  log.info({ address: bound.address, port: bound.port }, 'metrics endpoint listening');
  return {
    address: bound.address, port: bound.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
