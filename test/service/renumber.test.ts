// `sixgate run` with a real Docker engine on a host whose router renumbers
// it (radvd, SLAAC on the uplink): a ULA network's containers leave from
// the new prefix and a `sixgate.nptv6=auto` network's container is reached
// under it, nothing re-created (test/datapath/renumber.test.ts has the
// details with `sixgate nat`); a global network of the old prefix is
// reported once the prefix is gone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { IMAGE } from '../support/docker.js';
import { ServiceLab, HTTPD_CMD, httpGetCode } from './topology.js';
import { tcpServerCode } from '../datapath/topology.js';
import { Radvd, autoRangeIn, dedicatedIn, waitForPrefix } from '../datapath/renumber-topology.js';
import { request } from '../../src/service/control.js';
import { matchesPrefix, parseIpv6, parseIpv6Prefix } from '../../src/wire/address.js';

const req = requires({
  root: true, tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'ip', 'radvd'], files: ['/dev/net/tun'],
});

const OLD = '2001:db8:1::/64';
const NEW = '2001:db8:9::/64';
const INET = '2001:db8:2::2';

function within(address: string, prefix: string): boolean {
  const p = parseIpv6Prefix(prefix);
  return matchesPrefix(parseIpv6(address), 0, p.address, 0, p.length);
}

describe('sixgate run follows a renumbered uplink (Docker, radvd)', { ...req, timeout: 120_000 }, () => {
  let lab: ServiceLab;
  let radvd: Radvd;
  let client: string;
  let api: string;
  const socket = (): string => `/tmp/${lab.rt.name}-control.sock`;

  /** The address the internet sees a container's TCP connection from. */
  const seenFrom = async (id: string): Promise<string> => {
    try {
      return /peer (\S+)/.exec(await lab.docker.docker('exec', id, 'nc', '-w', '2', INET, '5001'))?.[1] ?? 'none';
    } catch {
      return 'none';
    }
  };

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    // The uplink by SLAAC instead of the static address: the router announces its prefixes.
    lab.dhost.ip('-6', 'addr', 'flush', 'dev', 'up0', 'scope', 'global');
    lab.dhost.ip('-6', 'route', 'del', 'default');
    lab.dhost.sysctl('net.ipv6.conf.up0.accept_ra', '2');
    lab.lab.addr(lab.rt, 'down0', '2001:db8:9::1/64');
    radvd = new Radvd(lab.rt);
    // The old prefix's valid lifetime is short (refreshed by every RA until it is no longer announced).
    radvd.announce([{ prefix: OLD, valid: 8, preferred: 8 }]);
    await waitForPrefix(lab.dhost, 'up0', OLD);
    const d = lab.docker;
    await d.docker('network', 'create', '--ipv6', '--subnet', 'fd66:1::/64', 'ula');
    await d.docker('network', 'create', '--ipv6', '--subnet', 'fd66:7::/80', '--label', 'sixgate.nptv6=auto', 'lab');
    await d.docker('network', 'create', '--ipv6', '--subnet', '2001:db8:1:0:d0c::/80', 'glob');
    client = await d.docker('run', '-d', '--stop-timeout', '1', '--network', 'ula', IMAGE, 'sleep', '3600');
    api = await d.docker('run', '-d', '--stop-timeout', '1', '--network', 'lab', IMAGE, ...HTTPD_CMD);
    lab.inet.spawn(process.execPath, ['--input-type=module', '-e', tcpServerCode(5001)]);
    await lab.startSixgate(['run', '--uplink', 'up0', '--docker-host', `unix://${lab.docker.socket}`, '--status-file', lab.statusFile,
      '--control-socket', socket(), '--retry-max-ms', '500', '--cleanup']);
    await lab.waitLog(/docker state applied/, 20_000);
  });

  after(async () => {
    radvd?.stop();
    await lab?.destroy();
    if (lab) rmSync(socket(), { force: true });
  });

  /** Both containers leave from `prefix` (the ULA one from its dedicated address) and the internet reaches the auto one. */
  async function servedUnder(prefix: string, withinMs: number): Promise<void> {
    const want = dedicatedIn(prefix, 'ula');
    const range = autoRangeIn(lab.dhost, 'up0', prefix, 'lab/nptv6:fd66:7::/80', 'fd66:7::/80');
    const end = Date.now() + withinMs;
    let c = await seenFrom(client);
    while (c !== want && Date.now() < end) c = await seenFrom(client);
    assert.equal(c, want, lab.text.slice(-2000));
    const a = await seenFrom(api);
    assert.ok(within(a, range), `the auto network's container left from ${a}, not from ${range}`);
    const back = await lab.inet.node(httpGetCode(`http://[${a}]/cgi-bin/ip`), 10_000);
    assert.equal(back.stdout.trim(), `peer [${INET}]`);
  }

  test('before: the ULA network leaves from its dedicated address, the auto one from a range of the prefix', async () => {
    await servedUnder(OLD, 5000);
  });

  test('the router deprecates the prefix and announces another: within 5 s both are served under the new one', async () => {
    radvd.announce([{ prefix: OLD, valid: 8, preferred: 0 }, { prefix: NEW, valid: 60, preferred: 60 }]);
    await servedUnder(NEW, 5000);
    await lab.waitLog(/uplink prefixes changed: new connections/, 1000);
  });

  test('the old prefix removed: the global network of it is reported (log, status, metric) with what to do', async () => {
    radvd.announce([{ prefix: NEW, valid: 60, preferred: 60 }]);
    await lab.waitLog(/network glob \(2001:db8:1:0:d0c::\/80\) is outside the upstream prefixes.*re-create it/, 12_000);
    const status = await request(socket(), { op: 'status' }) as { networks: Array<{ name: string; notes: string[] }> };
    assert.match(status.networks.find((n) => n.name === 'glob')!.notes.join(), /outside the upstream prefixes/);
    const { counters } = await request(socket(), { op: 'counters' }) as { counters: Record<string, number> };
    assert.equal(counters.sixgate_networks_outside_prefix, 1);
    await servedUnder(NEW, 1000);
  });
});
