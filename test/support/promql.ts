// The metric names a PromQL expression reads, for checking that a dashboard
// asks only for series the daemon exports (test/contrib). Not a parser: it
// drops what cannot hold a metric name (strings, label matchers, ranges,
// grouping label lists), then keeps every identifier that is not a
// function, an aggregation or a keyword.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** The Grafana dashboard shipped in the repository. */
export const GRAFANA_DASHBOARD = join(repoRoot, 'contrib', 'grafana', 'sixgate-dashboard.json');

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'inf', 'nan', 'atan2']);

export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w$:.])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    if (m[2] === undefined && !KEYWORDS.has(m[1]!.toLowerCase())) names.add(m[1]!);
  }
  return [...names];
}

/** A Grafana variable query's metric: label_values(metric{...}, label), or none. */
export function variableMetricNames(query: string): string[] {
  const m = /^\s*label_values\((.*),\s*\w+\s*\)\s*$/.exec(query);
  return m === null ? [] : metricNames(m[1]!);
}

interface Panel { targets?: { expr?: string }[]; panels?: Panel[] }

/** Every metric name a Grafana dashboard's panels (rows included) and variables query (by default, the repository's). */
export function dashboardMetricNames(file = GRAFANA_DASHBOARD): Set<string> {
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels?: Panel[]; templating?: { list?: { type: string; query?: unknown }[] } };
  const names = new Set<string>();
  const walk = (panels: Panel[] = []): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) for (const n of metricNames(t.expr ?? '')) names.add(n);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type === 'query' && typeof v.query === 'string') for (const n of variableMetricNames(v.query)) names.add(n);
  }
  return names;
}
