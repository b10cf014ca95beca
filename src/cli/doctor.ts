// `sixgate doctor [--uplink IF] [--tun NAME] [--docker-host URL]`: checks
// this host for what silently breaks sixgate's path (src/service/doctor.ts
// has the list), one finding per line with its fix; exit 1 when there is
// any. Changes nothing.
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { endpointFromEnv, parseDockerHost } from '../docker/endpoint.js';
import { doctor, type DoctorOptions, type Finding } from '../service/doctor.js';
import { detectUplink } from '../service/uplink.js';

interface DoctorCliOptions {
  uplink?: string;
  tun: string;
  dockerHost?: string;
  docker: boolean;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description("check this host for what silently breaks sixgate's path (firewall FORWARD drops, sysctls, other NDP proxies, bridge snooping, Docker's own NAT) or keeps the kernel fast paths off (CAP_BPF, Linux 6.6), each with its fix")
    .option('--uplink <ifname>', 'the uplink (default: the device of the IPv6 default route)', process.env.SIXGATE_UPLINK)
    .option('--tun <name>', 'the TUN of the NAT66 data path', process.env.SIXGATE_TUN ?? 'sixgate0')
    .option('--docker-host <url>', 'Docker Engine API endpoint (default: $DOCKER_HOST, else the local socket)')
    .option('--no-docker', 'skip the Docker check')
    .action(async (opts: DoctorCliOptions) => {
      const uplink = opts.uplink ?? await detectUplink().catch(() => undefined);
      const findings = await doctor({
        uplinks: uplink === undefined ? [] : [uplink],
        tun: opts.tun,
        ...(opts.docker ? { docker: opts.dockerHost === undefined ? endpointFromEnv() : parseDockerHost(opts.dockerHost, process.env) } : {}),
      });
      if (uplink === undefined) findings.unshift({ check: 'sysctl', message: 'no IPv6 default route, so no uplink to check: pass --uplink <ifname>' });
      for (const f of findings) process.stdout.write(`${f.check.padEnd(8)}  ${f.message}\n`);
      if (findings.length === 0) process.stdout.write('no problem found\n');
      process.exitCode = findings.length === 0 ? 0 : 1;
    });
}

/**
 * The daemons' start-up check: one warning per finding, in the background
 * (it never delays forwarding, and a failing check is no finding).
 */
export function logDoctorFindings(options: DoctorOptions, log: Logger): void {
  void doctor(options).then((findings: Finding[]) => {
    for (const f of findings) log.warn({ check: f.check }, `doctor: ${f.message}`);
  }, () => {});
}
