// The optional Prometheus endpoint (--metrics-listen [addr]:port). Nothing
// here runs unless it is asked for: prom-client is imported only then, and
// every metric of the counter registry (src/service/counters.ts) is read from
// the engines' own counters in a collect callback at scrape time, so the
// packet path never touches a metric object.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import type { Metric } from './counters.js';

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

export async function startMetrics(listen: string, metrics: readonly Metric[], log: Logger): Promise<MetricsEndpoint> {
  const { host, port } = parseListen(listen);
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  // Each metric is filled from the counter registry when scraped: reset, then set to the current values.
  for (const m of metrics) {
    const labelNames = [...m.labels];
    const labelsOf = (values: readonly string[]): Record<string, string> => Object.fromEntries(labelNames.map((l, i) => [l, values[i]!]));
    if (m.kind === 'gauge') {
      registry.registerMetric(new prom.Gauge({
        name: m.name, help: m.help, labelNames, registers: [],
        collect() {
          this.reset();
          m.collect((values, v) => this.set(labelsOf(values), v));
        },
      }));
    } else {
      registry.registerMetric(new prom.Counter({
        name: m.name, help: m.help, labelNames, registers: [],
        collect() {
          this.reset();
          m.collect((values, v) => this.inc(labelsOf(values), v));
        },
      }));
    }
  }

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
