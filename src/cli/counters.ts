// `sixgate counters`: every counter and gauge sixgate reports (SIGUSR1, the
// status file, Prometheus), with its kind, labels and help, and what each
// drop reason means. Printed from the counter registry itself
// (src/service/counters.ts), so the list is never out of date. With --live,
// the running daemon's values, read through its control socket from the
// same registry.
import type { Command } from 'commander';
import { describeMetrics, runMetrics } from '../service/counters.js';
import { addClientOptions, ask, type ClientOptions } from './control-client.js';

export function registerCounters(program: Command): void {
  addClientOptions(program
    .command('counters')
    .description('list every counter sixgate reports (SIGUSR1, status file, Prometheus) and what each drop reason means; --live: the running daemon\'s values')
    .option('--live', 'the running daemon\'s values (through its control socket), one series a line'))
    .action(async (opts: ClientOptions & { live?: boolean }) => {
      if (opts.live !== true) {
        process.stdout.write(describeMetrics(runMetrics(undefined)));
        return;
      }
      const answer = await ask(opts, { op: 'counters' }) as { counters: Record<string, unknown> } | undefined;
      if (answer === undefined) return;
      process.stdout.write(opts.output === 'json' ? `${JSON.stringify(answer.counters, null, 2)}\n` : seriesLines(answer.counters));
    });
}

/** `name{label="value",...} value` per series, the label names from the registry (the nested values carry only the values). */
export function seriesLines(values: Record<string, unknown>): string {
  const labels = new Map(runMetrics(undefined).map((m) => [m.name, m.labels]));
  const out: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    const names = labels.get(name) ?? [];
    const walk = (node: unknown, path: string[]): void => {
      if (typeof node === 'object' && node !== null) {
        for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
        return;
      }
      const text = path.map((v, i) => `${names[i] ?? `label${i}`}="${v}"`).join(',');
      // JSON has no NaN (a quantile before its first sample): null stands for it.
      out.push(`${name}${text === '' ? '' : `{${text}}`} ${node === null ? 'NaN' : String(node)}`);
    };
    walk(value, []);
  }
  return `${out.join('\n')}\n`;
}
