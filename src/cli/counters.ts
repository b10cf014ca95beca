// `sixgate counters`: every counter and gauge sixgate reports (SIGUSR1, the
// status file, Prometheus), with its kind, labels and help, and what each
// drop reason means. Printed from the counter registry itself
// (src/service/counters.ts), so the list is never out of date.
import type { Command } from 'commander';
import { describeMetrics, runMetrics } from '../service/counters.js';

export function registerCounters(program: Command): void {
  program
    .command('counters')
    .description('list every counter sixgate reports (SIGUSR1, status file, Prometheus) and what each drop reason means')
    .action(() => {
      process.stdout.write(describeMetrics(runMetrics(undefined)));
    });
}
