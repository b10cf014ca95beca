// The DHCPv6 prefix-delegation client against a real server: Kea
// (kea-dhcp6, run by hand in the router's namespace, short lifetimes: T1 2 s,
// T2 3 s, valid 6 s) delegating /56s, `sixgate nat` with `dhcpv6Pd: true` and
// an NPTv6 network with `externalPrefix: auto`. The router routes the
// delegated prefix to the host, as a home router does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { tcpServerCode, tcpClientCode } from '../datapath/topology.js';
import { RenumberLab, lineEchoCode, lineClientCode, R } from '../datapath/renumber-topology.js';
import { request } from '../../src/service/control.js';
import type { DelegationStatus } from '../../src/host/dhcpv6-pd.js';
import { matchesPrefix, parseIpv6, parseIpv6Prefix } from '../../src/wire/address.js';

const req = requires({ root: true, tools: ['ip', 'radvd', 'kea-dhcp6', 'nsenter'], files: ['/dev/net/tun'] });

const ONLINK = '2001:db8:1::/64';
const POOL_A = '2001:db8:a00::';
const POOL_B = '2001:db8:b00::';

function within(address: string, prefix: string): boolean {
  const p = parseIpv6Prefix(prefix);
  return matchesPrefix(parseIpv6(address), 0, p.address, 0, p.length);
}

describe('DHCPv6 prefix delegation (Kea)', { ...req, timeout: 120_000 }, () => {
  let lab: RenumberLab;
  const file = (what: string): string => `/tmp/${lab.gw.name}-${what}`;
  const socket = (): string => file('control.sock');

  const startKea = (pool: string): Promise<void> => lab.startKea(pool, ONLINK);

  async function delegation(): Promise<DelegationStatus> {
    const status = await request(socket(), { op: 'status' }) as { uplinks: Array<{ delegation: DelegationStatus }> };
    return status.uplinks[0]!.delegation;
  }

  /** Routes the delegated prefix to gw (what a router does for the prefixes it delegates). */
  function routeDelegated(prefix: string): void {
    const [link] = lab.gw.ipJson<Array<{ addr_info: Array<{ local?: string }> }>>('-6', 'addr', 'show', 'dev', 'up0', 'scope', 'link');
    const ll = link!.addr_info.find((a) => a.local !== undefined)!.local!;
    lab.rt.ip('-6', 'route', 'replace', prefix, 'via', ll, 'dev', 'down0');
  }

  /** c2 leaves from `prefix` and an outside host reaches it at that address. */
  async function reachable(prefix: string): Promise<void> {
    routeDelegated(prefix);
    const out = await lab.nodeResult<{ peer?: string }>(lab.c2, lineClientCode(R.inet, 5001));
    assert.ok(out.peer !== undefined && within(out.peer, prefix), `c2 left from ${out.peer}, not from ${prefix}\n${lab.log.slice(-1500)}`);
    const back = await lab.nodeResult(lab.inet, tcpClientCode(out.peer!, 80));
    assert.equal(back.bytes, 1000);
  }

  async function startSixgate(extra: readonly string[] = []): Promise<void> {
    await lab.startSixgate(`uplink: up0
stateFile: ${file('state.snap')}
dhcpv6Pd: true
networks:
  - { name: lab, bridge: br1, subnets: [fd66:7::/80], mode: nptv6, externalPrefix: auto }
`, ['--control-socket', socket(), ...extra]);
    const end = Date.now() + 5000;
    while (await request(socket(), { op: 'status' }).then(() => false, () => Date.now() < end)) await new Promise((r) => setTimeout(r, 20));
  }

  before(async () => {
    lab = new RenumberLab([ONLINK]);
    await lab.announce([{ prefix: ONLINK, valid: 60, preferred: 60 }]);
    await lab.waitForPrefix(ONLINK);
    await startKea(POOL_A);
    await lab.server(lab.inet, lineEchoCode(5001));
    await lab.server(lab.c2, tcpServerCode(80, 1000));
    await startSixgate();
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'state.snap.dhcpv6-pd.json', 'nat.yaml', 'control.sock']) rmSync(file(f), { force: true });
  });

  test('a /56 is delegated; the auto network maps to a /64 of it, both ways', async () => {
    const d = await delegation();
    assert.equal(d.state, 'bound');
    assert.match(d.prefixes[0]!.prefix, /^2001:db8:a00:[0-9a-f:]*\/56$/);
    const status = await request(socket(), { op: 'status' }) as { networks: Array<{ externalPrefix: string; prefixFrom: string }> };
    assert.equal(status.networks[0]!.prefixFrom, 'delegated');
    assert.ok(within(status.networks[0]!.externalPrefix.split('/')[0]!, d.prefixes[0]!.prefix));
    await reachable(d.prefixes[0]!.prefix);
    // The rest of the delegated prefix is dropped here, never routed back upstream (RFC 7084 WPD-5).
    assert.match(lab.gw.ip('-6', 'route', 'show', 'table', 'main', 'proto', '166'), new RegExp(`unreachable ${d.prefixes[0]!.prefix.replace('/', '\\/')}`));
    // The DUID and the lease are kept beside the state file.
    const saved = JSON.parse(readFileSync(file('state.snap.dhcpv6-pd.json'), 'utf8')) as { duid: string; lease: { prefixes: unknown[] } };
    assert.match(saved.duid, /^0004[0-9a-f]{32}$/);
    assert.equal(saved.lease.prefixes.length, 1);
  });

  test('a restart reuses the lease: the same prefix at once, confirmed with a Renew, no Solicit', async () => {
    const before = (await delegation()).prefixes[0]!.prefix;
    await lab.stopSixgate('SIGTERM');
    const seen = lab.keaLog.length;
    lab.log = '';
    await startSixgate();
    assert.match(lab.log, /lease kept from the last run/);
    assert.equal((await delegation()).prefixes[0]!.prefix, before);
    await waitFor(() => lab.keaLog.slice(seen).includes('DHCP6_PD_LEASE_RENEW'), 4000, `a Renew at Kea:\n${lab.keaLog.slice(-2000)}`, 50);
    assert.doesNotMatch(lab.keaLog.slice(seen), /DHCP6_PD_LEASE_ADVERT/, 'no Solicit was answered');
    await reachable(before);
  });

  test('the server delegates another prefix at a renewal: the network follows, nothing re-created', async () => {
    await startKea(POOL_B);
    await waitFor(() => /delegated prefix changed/.test(lab.log), 8000, `a new prefix at renewal:\n${lab.log.slice(-2000)}\n${lab.keaLog.slice(-2000)}`, 50);
    const now = (await delegation()).prefixes[0]!.prefix;
    assert.ok(now.startsWith('2001:db8:b00:'), now);
    await reachable(now);
  });

  test('a stop with --cleanup releases the lease at the server and forgets it', async () => {
    await lab.stopSixgate('SIGTERM');
    lab.log = '';
    await startSixgate(['--cleanup']);
    await waitFor(() => /DHCPv6-PD: lease kept/.test(lab.log), 3000, 'the kept lease');
    const seen = lab.keaLog.length;
    await lab.stopSixgate('SIGTERM');
    await waitFor(() => lab.keaLog.slice(seen).includes('RELEASE_PD'), 3000, `a Release at Kea:\n${lab.keaLog.slice(-1500)}`, 20);
    const saved = JSON.parse(readFileSync(file('state.snap.dhcpv6-pd.json'), 'utf8')) as { duid: string; lease?: unknown };
    assert.equal(saved.lease, undefined);
    // Started again: a new lease (Solicit).
    lab.log = '';
    await startSixgate();
    await waitFor(() => /lease obtained/.test(lab.log), 5000, 'a new lease');
  });

  test('the server stops: the lease is kept until its valid lifetime ends, then dropped and logged', async () => {
    lab.stopKea();
    const stopped = Date.now();
    await waitFor(() => /lease ended/.test(lab.log), 10_000, `the lease to end:\n${lab.log.slice(-2000)}`, 50);
    const tookMs = Date.now() - stopped;
    assert.ok(tookMs > 2000, `the lease ended after ${tookMs} ms: before its valid lifetime`);
    assert.deepEqual((await delegation()).prefixes, []);
    // Without a delegated prefix the /80 network falls back to a range of the on-link prefix.
    await waitFor(() => /"lab fd66|lab 2001:db8:1:/.test(lab.log.split('lease ended')[1] ?? ''), 3000, 'the network to move to the on-link prefix');
  });
});
