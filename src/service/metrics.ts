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

function flatten(prefix: string, value: unknown, out: Array<[string, number]>): void {
  if (typeof value === 'number') out.push([prefix, value]);
  else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(prefix === '' ? k : `${prefix}_${k}`, v, out);
  }
}

export async function startMetrics(listen: string, daemon: SixgateDaemon, log: Logger): Promise<MetricsEndpoint> {
  const { host, port } = parseListen(listen);
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: InstanceType<typeof prom.Gauge>) => void): void => {
    registry.registerMetric(new prom.Gauge({
      name, help, labelNames, registers: [],
      collect() {
        this.reset();
        collect(this);
      },
    }));
  };
  gauge('sixgate_docker_connected', '1 while the Docker event stream is live', [], (g) => g.set(daemon.feed.state === 'live' ? 1 : 0));
  gauge('sixgate_docker_feed_total', 'Docker feed counters (events, resyncs, sessions, failedAttempts)', ['counter'], (g) => {
    for (const [k, v] of Object.entries(daemon.feed.counters as Numbers)) g.set({ counter: k }, v);
  });
  gauge('sixgate_service_total', 'service counters (batches, applies, applyFailures, ndpAdded, ndpRemoved)', ['counter'], (g) => {
    for (const [k, v] of Object.entries(daemon.counters as Numbers)) if (k !== 'lastResyncMs') g.set({ counter: k }, v);
  });
  gauge('sixgate_ndp_container_addresses', 'container addresses the NDP proxy answers for', [], (g) => g.set(daemon.ndpAddressCount));
  gauge('sixgate_event_ready_seconds', 'Docker event to engines ready, quantiles over the last 4096 events', ['engine', 'quantile'], (g) => {
    for (const [engine, ring] of [['ndp', daemon.ndpLatency], ['nat66', daemon.natLatency]] as const) {
      if (ring.count === 0) continue;
      for (const q of [0.5, 0.9, 0.99]) g.set({ engine, quantile: String(q) }, ring.quantile(q) / 1000);
    }
  });
  gauge('sixgate_nat_counter', 'NAT66 data path counters (loop, nat, drops, tun), by name', ['counter'], (g) => {
    const stats = daemon.datapath?.stats();
    if (stats === undefined) return;
    const out: Array<[string, number]> = [];
    flatten('', stats, out);
    for (const [k, v] of out) if (k !== 'sessions') g.set({ counter: k }, v);
  });
  gauge('sixgate_nat_sessions', 'NAT66 sessions in the connection table', [], (g) => g.set(daemon.datapath?.engine.table.count ?? 0));
  gauge('sixgate_ndp_counter', 'NDP proxy counters per interface, by name', ['iface', 'counter'], (g) => {
    const stats = daemon.ndp?.stats() as { interfaces?: Record<string, unknown> } | undefined;
    for (const [iface, c] of Object.entries(stats?.interfaces ?? {})) {
      const out: Array<[string, number]> = [];
      flatten('', c, out);
      for (const [k, v] of out) g.set({ iface, counter: k }, v);
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
