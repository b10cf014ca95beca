// The Grafana dashboard (contrib/grafana/sixgate-dashboard.json) asks only
// for metrics the daemon exports: every metric name in its PromQL is in the
// counter registry, which a running `sixgate run` serves exactly
// (test/service/counters.test.ts; test/service/daemon.test.ts checks the
// dashboard against a real daemon's /metrics too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runMetrics } from '../../src/service/counters.js';
import { dashboardMetricNames, metricNames, variableMetricNames } from '../support/promql.js';

test('metric names come out of PromQL: not functions, labels, strings, ranges or keywords', () => {
  assert.deepEqual(metricNames('sum by (network, reason) (rate(sixgate_network_drops_total{instance=~"$instance",network=~"a|b"}[$__rate_interval])) > 0'),
    ['sixgate_network_drops_total']);
  assert.deepEqual(metricNames('topk(10, sum without (iface) (rate(a_total[5m] offset 1h))) * 8 / on (x) group_left (y) b_info'), ['a_total', 'b_info']);
  assert.deepEqual(metricNames('up == bool 1 and nan'), ['up']);
  assert.deepEqual(variableMetricNames('label_values(sixgate_container_packets_total{instance=~"$instance",network=~"$network"}, container)'), ['sixgate_container_packets_total']);
});

test('every query of the dashboard names a metric the daemon exports, and it shows every per-network and per-container series', () => {
  const used = dashboardMetricNames();
  const exported = new Set(runMetrics(undefined).map((m) => m.name));
  assert.ok(used.size > 20, `${used.size} metrics`);
  for (const name of used) assert.ok(exported.has(name), `${name} is not exported by sixgate run`);
  for (const name of exported) {
    if (/^sixgate_(network|container)_/.test(name)) assert.ok(used.has(name), `${name} has no panel`);
  }
});
