// `npm run bench -- docker [--containers N,N,...]`: the Docker model's cost
// without an engine: a full rebuild from list answers shaped like Docker
// 20.10's (what a resync does after the two API calls), an unchanged resync
// (diff only), and one container event (upsert, emitting its deltas).
// The real-engine figures (API calls included) come from test/docker/feed.test.ts.
import { Bench } from 'tinybench';
import { DockerModel } from '../src/docker/docker-model.js';
import { containerFromSummary, type ContainerInfo } from '../src/docker/containers.js';
import type { ApiContainerSummary, ApiNetwork } from '../src/docker/api-types.js';

const NETWORKS = 8;

function networks(): ApiNetwork[] {
  return Array.from({ length: NETWORKS }, (_, i) => ({
    Id: `${i}`.padStart(64, 'a'), Name: `net${i}`, Driver: 'bridge',
    IPAM: { Config: [{ Subnet: `172.${20 + i}.0.0/16` }, { Subnet: i % 2 === 0 ? `fd00:${i}::/64` : `2001:db8:5:${i}::/64` }] },
    Options: {},
  }));
}

function summary(n: number): ApiContainerSummary {
  const i = n % NETWORKS;
  const j = (n + 1) % NETWORKS;
  const addr = (k: number) => (k % 2 === 0 ? `fd00:${k}::${(n + 2).toString(16)}` : `2001:db8:5:${k}::${(n + 2).toString(16)}`);
  return {
    Id: `${n}`.padStart(64, 'c'), Names: [`/c${n}`], State: 'running',
    Ports: [
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 10_000 + n, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 10_000 + n, Type: 'tcp' },
    ],
    NetworkSettings: { Networks: {
      [`net${i}`]: { NetworkID: `${i}`.padStart(64, 'a'), GlobalIPv6Address: addr(i), GlobalIPv6PrefixLen: 64 },
      [`net${j}`]: { NetworkID: `${j}`.padStart(64, 'a'), GlobalIPv6Address: addr(j), GlobalIPv6PrefixLen: 64 },
    } },
  };
}

export async function run(args: string[]): Promise<void> {
  const at = args.indexOf('--containers');
  const sizes = at >= 0 ? args[at + 1].split(',').map(Number) : [200, 2_000, 10_000];
  const ctx = { uplinks: [{ name: 'eth0', prefixes: ['2001:db8:5::/48'] }], dockerIp6tables: false };
  const nets = networks();
  process.stdout.write(`docker model: ${NETWORKS} networks, each container on 2 of them with one published port\n`);
  for (const n of sizes) {
    const raw = Array.from({ length: n }, (_, k) => summary(k));
    const parsed: ContainerInfo[] = raw.map((r) => containerFromSummary(r)!);
    const live = new DockerModel(ctx);
    live.replaceAll(nets, parsed);
    const moving = parsed[0];
    let flip = false;
    const bench = new Bench({ time: 500, warmupTime: 100 });
    bench
      .add(`rebuild ${n} (parse + model + deltas)`, () => {
        new DockerModel(ctx).replaceAll(nets, raw.map((r) => containerFromSummary(r)!));
      })
      .add(`resync ${n}, unchanged (no deltas)`, () => {
        live.replaceAll(nets, parsed);
      })
      .add(`one event among ${n} (stop/start flip)`, () => {
        flip = !flip;
        live.upsertContainer(flip ? { ...moving, running: false } : moving);
      });
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result;
      const mean = r !== undefined && 'latency' in r ? r.latency.mean : NaN;
      process.stdout.write(`  ${task.name.padEnd(44)} ${mean.toFixed(3).padStart(10)} ms\n`);
    }
  }
}
