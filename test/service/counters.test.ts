// The counter registry: every entry of the engines' tables is declared with a
// help text and reported, zeros included, by Prometheus, SIGUSR1 and the
// status file alike; the NAT counters carry on across an engine rebuild.
// The end-to-end parts run `sixgate run` and a DatapathService in a namespace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { CLI } from './topology.js';
import { counterValues, describeMetrics, runMetrics, type Metric } from '../../src/service/counters.js';
import { describeCodes } from '../../src/wire/names.js';
import { WIRE_ERROR_HELP, WIRE_ERROR_NAMES } from '../../src/wire/error.js';
import { DROP_REASON_HELP, DROP_REASON_NAMES } from '../../src/nat/drop.js';
import { NAT_COUNTER_HELP, NAT_COUNTER_NAMES } from '../../src/nat/types.js';
import { DROP_HELP, DROP_NAMES, EVENT_HELP, EVENT_NAMES } from '../../src/ndp/counters.js';
import { LOOP_COUNTER_HELP, LOOP_COUNTER_NAMES } from '../../src/datapath/loop.js';
import { serviceGateway } from '../datapath/topology.js';
import { jsonLogs } from '../support/process.js';

const TABLES: Record<string, [readonly string[], readonly string[]]> = {
  wire: [WIRE_ERROR_NAMES, WIRE_ERROR_HELP],
  'nat drops': [DROP_REASON_NAMES, DROP_REASON_HELP],
  'nat counters': [NAT_COUNTER_NAMES, NAT_COUNTER_HELP],
  'ndp drops': [DROP_NAMES, DROP_HELP],
  'ndp events': [EVENT_NAMES, EVENT_HELP],
  'loop counters': [LOOP_COUNTER_NAMES, LOOP_COUNTER_HELP],
};

test('every entry of the engines\' tables has a unique kebab-case name and a one-line help', () => {
  for (const [table, [names, help]] of Object.entries(TABLES)) {
    assert.equal(help.length, names.length, table);
    assert.equal(new Set(names).size, names.length, `${table}: names are unique`);
    names.forEach((n, i) => {
      assert.match(n, /^[a-z0-9]+(-[a-z0-9]+)*$/, `${table}: ${n}`);
      assert.match(help[i]!, /^[A-Z\u0060].{8,}$/, `${table} ${n}: one line of help`);
    });
  }
});

test('describeCodes lays a table out by code and refuses a gap or a code taken twice', () => {
  assert.deepEqual(describeCodes({ B: 11, A: 10 }, { A: ['a', 'A.'], B: ['b', 'B.'] }, 10), { names: ['a', 'b'], help: ['A.', 'B.'] });
  assert.throws(() => describeCodes({ A: 0, B: 2 }, { A: ['a', 'A.'], B: ['b', 'B.'] }), /B: code 2/);
  assert.throws(() => describeCodes({ A: 0, B: 0 }, { A: ['a', 'A.'], B: ['b', 'B.'] }), /taken twice/);
});

test('the registry declares each metric once, from the engines\' tables, and reads zeros while nothing runs', () => {
  const metrics = runMetrics(undefined);
  const names = metrics.map((m) => m.name);
  assert.equal(new Set(names).size, names.length, 'each metric declared once');
  for (const m of metrics) {
    assert.match(m.name, /^sixgate_[a-z0-9_]+$/);
    assert.equal(m.name.endsWith('_total'), m.kind === 'counter', `${m.name}: counters end in _total, gauges do not`);
    assert.ok(m.help.length > 10, m.name);
  }
  // Iterated from the tables: one series per reason (code 0 is "ok"), one metric per counter and event.
  const byName = new Map(metrics.map((m) => [m.name, m]));
  assert.deepEqual([...byName.get('sixgate_nat_drops_total')!.reasons!.keys()], DROP_REASON_NAMES.slice(1));
  assert.deepEqual([...byName.get('sixgate_nat_drops_total')!.reasons!.values()], DROP_REASON_HELP.slice(1));
  assert.deepEqual([...byName.get('sixgate_ndp_drops_total')!.reasons!.keys()], DROP_NAMES.slice(1));
  for (const n of NAT_COUNTER_NAMES) assert.ok(byName.has(`sixgate_nat_${n.replace(/-/g, '_')}_total`), n);
  for (const n of LOOP_COUNTER_NAMES) assert.ok(byName.has(`sixgate_nat_loop_${n.replace(/-/g, '_')}_total`), n);
  for (const n of EVENT_NAMES) assert.ok(byName.has(`sixgate_ndp_${n.replace(/-/g, '_')}_total`), n);

  const values = counterValues(metrics);
  assert.deepEqual(Object.keys(values), names);
  const drops = values.sixgate_nat_drops_total as Record<string, number>;
  assert.deepEqual(Object.keys(drops), DROP_REASON_NAMES.slice(1));
  assert.ok(Object.values(drops).every((v) => v === 0), 'zeros are reported');
  assert.equal(values.sixgate_nat_out_packets_total, 0);

  const text = describeMetrics(metrics);
  assert.match(text, /^sixgate_nat_drops_total\{reason\} counter: /m);
  assert.match(text, new RegExp(`^  reason="no-mapping": ${DROP_REASON_HELP[DROP_REASON_NAMES.indexOf('no-mapping')]!.replace(/[.()]/g, '\\$&')}$`, 'm'));
});

/** Every value of a nested counters object replaced by 0: what two reports must share. */
function shape(v: unknown): unknown {
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return 0;
}

/** The series lines Prometheus must show for `m` on a daemon whose uplink is up0 and whose NAT has not started. */
function expectedSeries(m: Metric): RegExp[] {
  const name = m.name;
  if (m.labels.length === 0) return [new RegExp(`^${name} `, 'm')];
  if (m.reasons !== undefined) {
    const prefix = m.labels.includes('iface') ? 'iface="up0",' : '';
    return [...m.reasons.keys()].map((r) => new RegExp(`^${name}\\{${prefix}reason="${r}"\\} 0$`, 'm'));
  }
  if (m.labels[0] === 'iface') return [new RegExp(`^${name}\\{iface="up0"\\} \\d+$`, 'm')];
  // Per network and per container: none while no NAT network and no container exists.
  if (m.labels[0] === 'network') return [new RegExp(`^# TYPE ${name} `, 'm')];
  return [new RegExp(`^${name}\\{`, 'm')];
}

const req = requires({ root: true, tools: ['ip', 'tc', 'ip6tables-save'], files: ['/dev/net/tun'] });
const SERVICE = fileURLToPath(new URL('../../src/datapath/nat-service.js', import.meta.url));
const COUNTERS = fileURLToPath(new URL('../../src/service/counters.js', import.meta.url));
const LOG = fileURLToPath(new URL('../../src/log.js', import.meta.url));
const METRICS_PORT = 9465;

describe('counters from running daemons', { ...req, timeout: 90_000 }, () => {
  let lab: Lab;
  let gw: Netns;

  before(() => {
    lab = new Lab();
    gw = serviceGateway(lab);
  });
  after(() => lab?.destroy());

  test('sixgate run: Prometheus has every declared series, zeros included; SIGUSR1 and the status file report the same registry', async () => {
    const statusFile = `/tmp/sgt-${process.pid}-counters-status.json`;
    const child = gw.spawn(process.execPath, [CLI, 'run', '--uplink', 'up0', '--docker-host', 'unix:///nonexistent/docker.sock',
      '--status-file', statusFile, '--metrics-listen', `[::1]:${METRICS_PORT}`, '--retry-max-ms', '500'], { env: jsonLogs() });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const lines = (): Record<string, unknown>[] => out.split('\n').flatMap((l) => {
      try { return [JSON.parse(l) as Record<string, unknown>]; } catch { return []; }
    });
    try {
      await waitFor(() => lines().some((l) => l.msg === 'metrics endpoint listening'), 15_000, `metrics listening: ${out}`);
      const scrape = await gw.node(`const res = await fetch('http://[::1]:${METRICS_PORT}/metrics'); console.log(await res.text());`);
      const text = scrape.stdout;
      const metrics = runMetrics(undefined);
      for (const m of metrics) {
        assert.match(text, new RegExp(`^# TYPE ${m.name} ${m.kind}$`, 'm'));
        for (const series of expectedSeries(m)) assert.match(text, series);
      }
      assert.match(text, /^sixgate_nat_out_packets_total 0$/m, 'a NAT that has not started reads zero');
      // No batch yet: NaN (prom-client writes "Nan", which Prometheus parses).
      assert.match(text, /^sixgate_event_ready_seconds\{engine="nat66",quantile="0.99"\} NaN$/im);
      const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
      assert.deepEqual(names, metrics.map((m) => m.name), 'Prometheus has exactly the registry');

      child.kill('SIGUSR1');
      await waitFor(() => lines().some((l) => l.msg === 'counters'), 5_000, `a counters line: ${out}`);
      const logged = lines().find((l) => l.msg === 'counters')!.counters as Record<string, unknown>;
      await waitFor(() => { try { return JSON.parse(readFileSync(statusFile, 'utf8')).counters !== undefined; } catch { return false; } }, 5_000, 'the status file');
      const record = JSON.parse(readFileSync(statusFile, 'utf8')) as { counters: Record<string, unknown> };
      assert.deepEqual(Object.keys(logged), names);
      assert.deepEqual(shape(record.counters), shape(logged), 'the status file and SIGUSR1 report the same series');
      assert.deepEqual(Object.keys((logged.sixgate_ndp_drops_total as Record<string, unknown>).up0 as object), DROP_NAMES.slice(1));
      assert.equal((logged.sixgate_nat_drops_total as Record<string, number>)['no-mapping'], 0);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  test('the NAT counters carry on when a capacity change moves the engine to a new table', async () => {
    const r = await gw.node(`import { DatapathService } from '${SERVICE}';
import { natServiceMetrics, counterValues } from '${COUNTERS}';
import { createLogger } from '${LOG}';
import dgram from 'node:dgram';
const logger = createLogger({ level: 'warn' });
const base = { uplink: 'up0', published: [], networks: [{ name: 'web', bridge: 'br0', subnets: ['fd66:1::/64'], externalAddresses: ['2001:db8:1::66'] }] };
const svc = await DatapathService.start({ model: base, logger, nat: { capacity: 4096 }, kernelNatCheck: false });
const out = {};
try {
  const metrics = natServiceMetrics(svc);
  // Inbound UDP to an external address with no mapping: dropped and counted by the engine.
  const s = dgram.createSocket('udp6');
  for (let i = 0; i < 5; i++) await new Promise((r) => s.send('x', 9999, '2001:db8:1::66', r));
  s.close();
  const dropped = () => svc.engine.drops.reduce((a, b) => a + b, 0);
  for (let i = 0; i < 100 && dropped() < 5; i++) await new Promise((r) => setTimeout(r, 20));
  out.before = counterValues(metrics);
  const engine = svc.engine;
  out.report = await svc.apply({ ...base, networks: [...base.networks, { name: 'lab', bridge: 'br1', subnets: ['fd66:2::/64'], externalAddresses: ['2001:db8:1::67'] }] }, { nat: { capacity: 8192 } });
  out.rebuilt = svc.engine !== engine;
  out.after = counterValues(metrics);
} finally {
  await svc.stop({ cleanup: true });
}
console.log(JSON.stringify(out));`, 30_000);
    let out: { before: Record<string, unknown>; after: Record<string, unknown>; rebuilt: boolean; report: { natRebuilt: boolean } };
    try {
      out = JSON.parse(r.stdout.trim().split('\n').pop()!) as typeof out;
    } catch {
      throw new Error(`script failed (${r.code}): ${r.stdout}\n${r.stderr}`);
    }
    assert.equal(out.report.natRebuilt, true);
    assert.equal(out.rebuilt, true);
    const drops = (v: Record<string, unknown>): Record<string, number> => v.sixgate_nat_drops_total as Record<string, number>;
    assert.equal(drops(out.before)['no-mapping'], 5, JSON.stringify(drops(out.before)));
    for (const [reason, n] of Object.entries(drops(out.before))) assert.ok(drops(out.after)[reason]! >= n, `${reason}: ${n} before the rebuild, ${drops(out.after)[reason]} after`);
    for (const n of NAT_COUNTER_NAMES) {
      const key = `sixgate_nat_${n.replace(/-/g, '_')}_total`;
      assert.ok((out.after[key] as number) >= (out.before[key] as number), key);
    }
    assert.ok((out.before.sixgate_nat_tun_rx_packets_total as number) >= 5);
    const networkDrops = (v: Record<string, unknown>): unknown => (v.sixgate_network_drops_total as Record<string, unknown>).web;
    assert.deepEqual(networkDrops(out.before), { 'no-mapping': 5 }, 'counted on the network of the external address');
    assert.deepEqual(networkDrops(out.after), networkDrops(out.before), "the network's counts carry on");
  });
});
