// `sixgate run` end to end against a real Docker engine (Debian's dockerd in
// a namespace, test/support/docker.ts), with a router and an internet
// namespace upstream (topology.ts). One engine and one topology for the
// file; the tests run in order and build on each other's containers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { IMAGE } from '../support/docker.js';
import { tcpServerCode, udpEchoCode, udpClientCode } from '../datapath/topology.js';
import { ServiceLab, A, HTTPD_CMD, httpGetCode } from './topology.js';

const req = requires({
  root: true,
  tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip', 'ndisc6'],
  files: ['/dev/net/tun'],
});

interface Inspect {
  Id: string;
  NetworkSettings: { Networks: Record<string, { GlobalIPv6Address: string }>; Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> };
}

async function until(what: string, pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sixgate run against a real Docker engine', { ...req, timeout: 240_000 }, () => {
  let lab: ServiceLab;
  let ext: string;
  const args = (): string[] => ['run', '--uplink', 'up0', '--docker-host', `unix://${lab.docker.socket}`, '--status-file', lab.statusFile,
    '--log-level', 'debug', '--retry-max-ms', '500', '--cleanup'];

  const inspect = async (id: string): Promise<Inspect> => await lab.docker.call('GET', `/containers/${id}/json`) as Inspect;
  const addressOn = async (id: string, network: string): Promise<string> => (await inspect(id)).NetworkSettings.Networks[network]!.GlobalIPv6Address;
  const exec = async (id: string, ...cmd: string[]): Promise<string> => lab.docker.docker('exec', id, ...cmd);
  /** Runs node code inside a container's network namespace (busybox has no UDP client). */
  const nodeIn = async (id: string, code: string): Promise<string> => {
    const pid = (await lab.docker.call('GET', `/containers/${id}/json`) as { State: { Pid: number } }).State.Pid;
    return execFileSync('nsenter', [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000 });
  };
  const run = async (...argv: string[]): Promise<string> => lab.docker.docker('run', '-d', '--stop-timeout', '1', ...argv);

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    const d = lab.docker;
    await d.docker('network', 'create', '--ipv6', '--subnet', A.ula, 'ula');
    await d.docker('network', 'create', '--ipv6', '--subnet', A.global, 'glob');
    await d.docker('network', 'create', '--ipv6', '--internal', '--subnet', A.internal, 'internal');
    await d.docker('network', 'create', '--ipv6', '--subnet', A.noMasq, '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', 'nomasq');
    ext = lab.external('ula');
    await lab.inet.spawn(process.execPath, ['--input-type=module', '-e', tcpServerCode(5001)]);
    await lab.inet.spawn(process.execPath, ['--input-type=module', '-e', udpEchoCode(5002)]);
    await lab.startSixgate(args());
    await lab.waitLog(/docker state applied/, 20_000);
  });

  after(async () => {
    await lab?.destroy();
  });

  test('ULA network: TCP, UDP and ping reach the internet from the dedicated external address', async () => {
    const c = await run('--network', 'ula', '--name', 'out1', IMAGE, 'sleep', '3600');
    await until('TCP through the NAT', async () => {
      try {
        return (await exec(c, 'nc', '-w', '3', A.inet, '5001')).includes(`peer ${ext}`);
      } catch {
        return false;
      }
    });
    const udp = await nodeIn(c, udpClientCode(A.inet, 5002));
    assert.match(udp, new RegExp(`peer ${ext}`));
    const ping = await exec(c, 'busybox', 'ping', '-c', '1', '-W', '3', A.inet);
    assert.match(ping, /1 packets received/);
  });

  test('global network on the uplink prefix: the router resolves a container address; stopping withdraws it', async () => {
    const c = await run('--network', 'glob', '--name', 'g1', IMAGE, 'sleep', '3600');
    const addr = await addressOn(c, 'glob');
    assert.ok(addr.startsWith('2001:db8:1:0:d0c:'), addr);
    await until(`NDP answer for ${addr}`, () => lab.ndpAnswers(addr));
    const ping = await lab.rt.run('busybox', ['ping', '-c', '1', '-W', '3', addr]);
    assert.match(ping.stdout, /1 packets received/);
    await lab.docker.docker('kill', c);
    await until(`no NDP answer for ${addr}`, async () => !(await lab.ndpAnswers(addr)));
  });
});
