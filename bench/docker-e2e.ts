// `npm run bench -- docker-e2e [--latency N] [--containers N]`: `sixgate run`
// against a real dockerd in a namespace (test/service/topology.ts), as root.
//   latency   N sequential container starts, alternating a global network
//             (NDP proxy) and a ULA network with a published port (NAT66):
//             engine start event → both engines ready (p50/p99);
//   resync    with N containers running (half global, half ULA + port):
//             a cold start of sixgate (first full sync: list, NDP adds, data
//             path start with every published port) and a SIGHUP resync
//             (list, diff, forced data path apply).
import { IMAGE, pool, watchContainerStarts } from '../test/support/docker.js';
import { ServiceLab, A } from '../test/service/topology.js';

function arg(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

export async function run(args: string[]): Promise<void> {
  const latencyN = arg(args, '--latency', 40);
  const containers = arg(args, '--containers', 200);
  const lab = new ServiceLab();
  try {
    await lab.start();
    const d = lab.docker;
    await d.docker('network', 'create', '--ipv6', '--subnet', A.ula, 'ula');
    await d.docker('network', 'create', '--ipv6', '--subnet', A.global, 'glob');
    const sixgateArgs = ['run', '--uplink', 'up0', '--docker-host', `unix://${d.socket}`, '--status-file', lab.statusFile, '--log-level', 'debug'];
    await lab.startSixgate(sixgateArgs);
    await lab.waitLog(/docker state applied/, 20_000);

    // Event → ready.
    const starts = await watchContainerStarts(d.socket);
    const startAt = starts.startAt;
    const from = lab.lines.length;
    const ids: string[] = [];
    for (let i = 0; i < latencyN; i++) {
      const global = i % 2 === 0;
      const created = await d.call('POST', '/containers/create', {
        Image: IMAGE, Cmd: ['sleep', '3600'], StopTimeout: 1, ExposedPorts: global ? {} : { '80/tcp': {} },
        HostConfig: { NetworkMode: global ? 'glob' : 'ula', PortBindings: global ? {} : { '80/tcp': [{ HostPort: String(20_000 + i) }] } },
      }) as { Id: string };
      await d.call('POST', `/containers/${created.Id}/start`);
      ids.push(created.Id);
    }
    const deadline = Date.now() + 30_000;
    const ndp: number[] = [];
    const nat: number[] = [];
    const apply: number[] = [];
    for (;;) {
      const seen = new Map<string, { at: number; ndp: boolean; applyMs: number | undefined }>();
      for (const l of lab.lines.slice(from)) {
        const id = l.docker as string | undefined;
        if (l.msg !== 'change applied' || id === undefined || seen.has(id) || !ids.some((x) => x.startsWith(id))) continue;
        seen.set(id, { at: l.readyAtMs as number, ndp: l.ndpMs !== undefined, applyMs: l.applyMs as number | undefined });
      }
      if ((seen.size >= latencyN && startAt.size >= latencyN) || Date.now() > deadline) {
        for (const [id, r] of seen) {
          if (!startAt.has(id)) continue;
          (r.ndp ? ndp : nat).push(Math.max(0, r.at - startAt.get(id)!));
          if (!r.ndp && r.applyMs !== undefined) apply.push(r.applyMs);
        }
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await starts.stop();
    ndp.sort((a, b) => a - b);
    nat.sort((a, b) => a - b);
    apply.sort((a, b) => a - b);
    process.stdout.write(`start event → ready (${latencyN} sequential starts)\n`);
    process.stdout.write(`  NDP proxy answering (${ndp.length}):  p50 ${ms(quantile(ndp, 0.5))}  p99 ${ms(quantile(ndp, 0.99))}  max ${ms(ndp.at(-1) ?? NaN)}\n`);
    process.stdout.write(`  NAT66 port mapped  (${nat.length}):  p50 ${ms(quantile(nat, 0.5))}  p99 ${ms(quantile(nat, 0.99))}  max ${ms(nat.at(-1) ?? NaN)}\n`);
    process.stdout.write(`    of which batch → data path applied:  p50 ${ms(quantile(apply, 0.5))}  p99 ${ms(quantile(apply, 0.99))}\n`);
    await d.docker('rm', '-f', ...ids);

    // Resync with `containers` running.
    const t0 = Date.now();
    await pool(Array.from({ length: containers }, (_, i) => i), 8, async (i) => {
      const global = i % 2 === 0;
      const created = await d.call('POST', '/containers/create', {
        Image: IMAGE, Cmd: ['sleep', '3600'], StopTimeout: 1, ExposedPorts: global ? {} : { '80/tcp': {} },
        HostConfig: { NetworkMode: global ? 'glob' : 'ula', PortBindings: global ? {} : { '80/tcp': [{ HostPort: String(30_000 + i) }] } },
      }) as { Id: string };
      await d.call('POST', `/containers/${created.Id}/start`);
    });
    process.stdout.write(`${containers} containers started in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    await lab.stopSixgate('SIGTERM');
    const cold = lab.lines.length;
    await lab.startSixgate(sixgateArgs);
    const at = await lab.waitLog(/docker state applied/, 60_000, cold);
    const line = lab.lines[at]!;
    process.stdout.write(`cold start, first full sync of ${containers} containers → both engines ready: ${ms(line.resyncMs as number)} (${String(line.ndpAddresses)} NDP addresses)\n`);
    for (let round = 0; round < 3; round++) {
      const hup = lab.lines.length;
      lab.sixgate!.kill('SIGHUP');
      const done = lab.lines[await lab.waitLog(/resync done/, 30_000, hup)]!;
      process.stdout.write(`SIGHUP resync ${round + 1} (${containers} containers, forced data path apply): ${ms(done.resyncMs as number)}\n`);
    }
  } finally {
    await lab.destroy();
  }
}
