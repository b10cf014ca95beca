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
import { Kea, Radvd, autoRangeIn, dedicatedIn, waitForPrefix } from '../datapath/renumber-topology.js';
import { request } from '../../src/service/control.js';
import { matchesPrefix, parseIpv6Prefix, tryParseIpv6 } from '../../src/wire/address.js';

const req = requires({
  root: true, tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'ip', 'radvd', 'kea-dhcp6'], files: ['/dev/net/tun'],
});

const OLD = '2001:db8:1::/64';
const NEW = '2001:db8:9::/64';
const INET = '2001:db8:2::2';

/** Whether `address` (or what a failed attempt printed instead) lies in `prefix`. */
function within(address: string, prefix: string): boolean {
  const p = parseIpv6Prefix(prefix);
  const a = tryParseIpv6(address);
  return a !== undefined && matchesPrefix(a, 0, p.address, 0, p.length);
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

describe('sixgate run --dhcpv6-pd (Docker, Kea)', { ...req, timeout: 120_000 }, () => {
  let lab: ServiceLab;
  let kea: Kea;
  const file = (what: string): string => `/tmp/${lab.rt.name}-${what}`;

  before(async () => {
    lab = new ServiceLab();
    await lab.start();
    kea = new Kea(lab.rt);
    await kea.start('2001:db8:a00::', '2001:db8:1::/64');
    // A /64 ULA subnet: only a delegated prefix has room for it (the on-link prefix is a /64 too).
    await lab.docker.docker('network', 'create', '--ipv6', '--subnet', 'fd66:5::/64', '--label', 'sixgate.nptv6=auto', 'api');
    lab.inet.spawn(process.execPath, ['--input-type=module', '-e', tcpServerCode(5001)]);
    await lab.startSixgate(['run', '--uplink', 'up0', '--docker-host', `unix://${lab.docker.socket}`, '--status-file', lab.statusFile,
      '--control-socket', file('control.sock'), '--state-file', file('state.snap'), '--dhcpv6-pd', '--retry-max-ms', '500', '--cleanup']);
    await lab.waitLog(/docker state applied/, 20_000);
  });

  after(async () => {
    kea?.remove();
    await lab?.destroy();
    if (lab) for (const f of ['control.sock', 'state.snap', 'state.snap.dhcpv6-pd.json', 'state.snap.model.json']) rmSync(file(f), { force: true });
  });

  test('the delegated /56 serves the auto network: its container leaves from a /64 of it and is reached there', async () => {
    await lab.waitLog(/DHCPv6-PD: lease obtained/, 10_000);
    const status = await request(file('control.sock'), { op: 'status' }) as { uplinks: Array<{ delegation: { prefixes: Array<{ prefix: string }> } }> };
    const delegated = status.uplinks[0]!.delegation.prefixes[0]!.prefix;
    assert.match(delegated, /^2001:db8:a00:/);
    // The router routes the delegated prefix to the host, as a home router does.
    const [link] = lab.dhost.ipJson<Array<{ addr_info: Array<{ local?: string }> }>>('-6', 'addr', 'show', 'dev', 'up0', 'scope', 'link');
    lab.rt.ip('-6', 'route', 'replace', delegated, 'via', link!.addr_info.find((a) => a.local !== undefined)!.local!, 'dev', 'down0');
    const api = await lab.docker.docker('run', '-d', '--stop-timeout', '1', '--network', 'api', IMAGE, ...HTTPD_CMD);
    let from = 'none';
    const end = Date.now() + 5000;
    while (!within(from, delegated) && Date.now() < end) {
      from = await lab.docker.docker('exec', api, 'nc', '-w', '2', INET, '5001').then((o) => /peer (\S+)/.exec(o)?.[1] ?? 'none', () => 'none');
    }
    assert.ok(within(from, delegated), `left from ${from}, not from ${delegated}\n${lab.text.slice(-2000)}`);
    const back = await lab.inet.node(httpGetCode(`http://[${from}]/cgi-bin/ip`), 10_000);
    assert.equal(back.stdout.trim(), `peer [${INET}]`);
  });
});
