// `npm run bench -- fleet [--rounds N] [--ttl S]`: fleet mode's two times on
// the topology of test/fleet/topology.ts (three etcd members, three hosts
// on one link, a container behind each). host1 and host2 run throughout;
// each round starts host3 (a fresh `node` process: its start-up counts)
// and times
//   start: spawn -> both other hosts route host3's lease and host1's
//          container pings host3's (goal <= 2 s);
//   death: SIGKILL -> both other hosts have withdrawn its route
//          (goal <= TTL + 2 s: etcd expires the lease after the TTL, the
//          watch tells the others).
// host3 gets the same lease back each round (remembered in its state).
// Prints: start: p50 <ms> max <ms>; death: p50 <ms> max <ms> (TTL <s>)
import { FleetLab, peerRoutes, type FleetHost } from '../test/fleet/topology.js';
import { waitFor } from '../test/support/wait.js';

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

function summary(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b);
  return `p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms max ${sorted.at(-1)!.toFixed(0)} ms`;
}

export async function run(args: string[]): Promise<void> {
  const rounds = option(args, '--rounds', 5);
  const ttl = option(args, '--ttl', 3);
  const fl = await FleetLab.create({ hosts: 3, ttl });
  try {
    const [h1, h2, h3] = fl.hosts as [FleetHost, FleetHost, FleetHost];
    await Promise.all([fl.start(h1), fl.start(h2)]);
    const routed = (present: boolean): boolean => {
      const lease = h3.subprefix;
      return lease !== undefined && [h1, h2].every((h) => peerRoutes(h.ns).has(lease) === present);
    };
    const start: number[] = [];
    const death: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      await fl.start(h3);
      await waitFor(() => routed(true), 10_000, 'host3 routed by the others', 2);
      fl.ping(h1, h3);
      start.push(performance.now() - t0);
      const t1 = performance.now();
      await fl.stop(h3, 'SIGKILL');
      await waitFor(() => routed(false), (ttl + 10) * 1000, 'host3 withdrawn', 5);
      death.push(performance.now() - t1);
      process.stdout.write(`round ${r + 1}: start ${start.at(-1)!.toFixed(0)} ms, death ${death.at(-1)!.toFixed(0)} ms\n`);
    }
    process.stdout.write(`start: ${summary(start)} (goal <= 2000 ms)\ndeath: ${summary(death)} (TTL ${ttl} s; goal <= ${ttl * 1000 + 2000} ms)\n`);
  } finally {
    await fl.destroy();
  }
}
