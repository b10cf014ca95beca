// The uplink renumbered by its router (radvd in a namespace, short
// lifetimes): `sixgate nat` follows the address events on the uplink. New
// connections leave from the new prefix within a second; a connection
// opened before goes on while the old prefix is deprecated but valid, and
// ends when the prefix is removed; the NDP proxy announces the new address
// at once and stops answering for the withdrawn one. An NPTv6 network with
// `externalPrefix: auto` moves to a range of the new prefix: its containers
// leave from it and are reached under it, nothing re-created.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { requires } from '../support/prereq.js';
import { request } from '../../src/service/control.js';
import type { NetworkView } from '../../src/service/inspect.js';
import type { UpstreamPrefix } from '../../src/service/uplink.js';
import { matchesPrefix, parseIpv6, parseIpv6Prefix } from '../../src/wire/address.js';
import { waitFor } from '../support/wait.js';
import { tcpServerCode, tcpClientCode } from './topology.js';
import { RenumberLab, LongConnection, lineEchoCode, lineClientCode, R } from './renumber-topology.js';

const req = requires({ root: true, tools: ['ip', 'radvd', 'tcpdump', 'ndisc6', 'nsenter'], files: ['/dev/net/tun'] });

function inRange(address: string, range: string): boolean {
  const p = parseIpv6Prefix(range);
  return matchesPrefix(parseIpv6(address), 0, p.address, 0, p.length);
}

const OLD = '2001:db8:1::/64';
const NEW = '2001:db8:9::/64';

describe('the uplink renumbered by its router (radvd)', { ...req, timeout: 90_000 }, () => {
  let lab: RenumberLab;
  let long: LongConnection | undefined;
  let capture: ChildProcess | undefined;
  let seen = '';
  let config = '';
  const oldAddress = (): string => lab.dedicated(OLD, 'web');
  const newAddress = (): string => lab.dedicated(NEW, 'web');
  const socket = (): string => `/tmp/${lab.gw.name}-control.sock`;

  before(async () => {
    lab = new RenumberLab([OLD, NEW]);
    await lab.announce([{ prefix: OLD, valid: 8, preferred: 8 }]);
    await lab.waitForPrefix(OLD);
    await lab.server(lab.inet, lineEchoCode(5001));
    await lab.server(lab.c1, tcpServerCode(80, 1000));
    await lab.server(lab.c2, tcpServerCode(80, 1000));
    config = `uplink: up0
stateFile: /tmp/${lab.gw.name}-state.snap
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64] }
  - { name: lab, bridge: br1, subnets: [fd66:7::/80], mode: nptv6, externalPrefix: auto }
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "${R.c1}", containerPort: 80 }
`;
    await lab.startSixgate(config, ['--control-socket', socket()]);
    capture = lab.rt.spawn('tcpdump', ['-l', '-n', '-i', 'down0', 'icmp6 and ip6[40] == 136']);
    capture.stdout!.setEncoding('utf8').on('data', (d: string) => { seen += d; });
    await sleep(300);
  });

  after(async () => {
    long?.close();
    capture?.kill();
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['nat.yaml', 'control.sock', 'state.snap']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('before the change: outbound leaves from the dedicated address of the prefix the router announces', async () => {
    const r = await lab.nodeResult(lab.c1, lineClientCode(R.inet, 5001));
    assert.equal(r.peer, oldAddress());
    long = await LongConnection.open(lab.c1, R.inet, 5001);
    assert.equal(await long.ask(), oldAddress());
    await npt(lab.autoRange(OLD, 'lab'));
  });

  /** c2 (NPTv6 auto) leaves from `range` and an outside host reaches it at the address it left from. */
  async function npt(range: string): Promise<void> {
    const out = await lab.nodeResult<{ peer?: string }>(lab.c2, lineClientCode(R.inet, 5001));
    assert.ok(out.peer !== undefined && inRange(out.peer, range), `c2 left from ${out.peer}, not from ${range}`);
    const back = await lab.nodeResult(lab.inet, tcpClientCode(out.peer!, 80));
    assert.equal(back.peer, R.inet);
    assert.equal(back.bytes, 1000);
  }

  test('old prefix deprecated, new one announced: new connections leave from the new prefix within a second', async () => {
    const changed = Date.now();
    await lab.announce([{ prefix: OLD, valid: 8, preferred: 0 }, { prefix: NEW, valid: 60, preferred: 60 }]);
    let peer: string | undefined;
    while (Date.now() - changed < 5000) {
      peer = (await lab.nodeResult<{ peer?: string }>(lab.c1, lineClientCode(R.inet, 5001, 500))).peer;
      if (peer === newAddress()) break;
    }
    const tookMs = Date.now() - changed;
    assert.equal(peer, newAddress(), `still ${peer} after ${tookMs} ms\n${lab.log.slice(-2000)}`);
    assert.ok(tookMs < 1500, `took ${tookMs} ms (a node start per attempt included)`);
    assert.match(lab.log, /uplink prefixes changed/);
    await npt(lab.autoRange(NEW, 'lab'));
    // The proxy announced the new address with an unsolicited NA to all nodes.
    await waitFor(() => new RegExp(`ff02::1: .*tgt is ${newAddress()}`).test(seen), 2000, `an unsolicited NA for ${newAddress()}:\n${seen}`);
  });

  test('the connection opened before carries on from the deprecated prefix; published ports answer on the new address', async () => {
    assert.equal(await long!.ask(), oldAddress());
    const r = await lab.nodeResult(lab.inet, tcpClientCode(newAddress(), 8080));
    assert.equal(r.peer, R.inet);
    assert.equal(r.bytes, 1000);
  });

  test('status shows the upstream prefixes with their state and lifetimes, and each network\'s mapping', async () => {
    const status = await request(socket(), { op: 'status' }) as { uplinks: Array<{ upstream: UpstreamPrefix[] }>; networks: NetworkView[] };
    const upstream = status.uplinks[0]!.upstream;
    assert.deepEqual(upstream.map((p) => [p.prefix, p.state]), [[NEW, 'preferred'], [OLD, 'deprecated']]);
    assert.ok(upstream[1]!.validSeconds! <= 8 && upstream[1]!.preferredSeconds === 0);
    const web = status.networks.find((n) => n.name === 'web')!;
    assert.deepEqual([web.externalAddresses, web.drainingAddresses], [[newAddress()], [oldAddress()]]);
    const npt = status.networks.find((n) => n.name === 'lab')!;
    assert.deepEqual([npt.externalPrefix, npt.prefixFrom], [lab.autoRange(NEW, 'lab'), 'on-link']);
    const { counters } = (await request(socket(), { op: 'counters' }) as { counters: Record<string, number> });
    assert.equal(counters.sixgate_nat_draining_addresses, 1);
    assert.ok(counters.sixgate_uplink_prefix_changes_total! >= 1);
  });

  test('old prefix removed: its sessions end (counted, logged) and its address is no longer answered', async () => {
    await lab.announce([{ prefix: NEW, valid: 60, preferred: 60 }]);
    // The kernel drops the old address when its valid lifetime (8 s, refreshed until now) runs out.
    await waitFor(() => /"sessionsEnded":[1-9]/.test(lab.log), 12_000, `the old prefix's sessions to end:\n${lab.log.slice(-2000)}`, 50);
    assert.notEqual(await long!.ask(), oldAddress());
    const ndp = await lab.rt.run('ndisc6', ['-1', '-r', '2', '-w', '300', oldAddress(), 'down0'], 5000);
    assert.doesNotMatch(ndp.stdout, /Target link-layer address/, 'the withdrawn address is not answered');
    const { counters } = (await request(socket(), { op: 'counters' }) as { counters: Record<string, number> });
    assert.ok(counters.sixgate_uplink_sessions_ended_total! >= 1);
    assert.equal(counters.sixgate_nat_draining_addresses, 0);
    const fresh = await lab.nodeResult(lab.c1, lineClientCode(R.inet, 5001));
    assert.equal(fresh.peer, newAddress());
    await npt(lab.autoRange(NEW, 'lab'));
  });

  test('a restart after the renumbering adopts the connection table (changed in place, then moved to a fresh layout)', async () => {
    const before = await LongConnection.open(lab.c1, R.inet, 5001);
    assert.equal(await before.ask(), newAddress());
    await lab.stopSixgate('SIGTERM');
    lab.log = '';
    await lab.startSixgate(config, ['--control-socket', socket()]);
    assert.match(lab.log, /connection table restored/);
    assert.doesNotMatch(lab.log, /state file discarded/);
    assert.equal(await before.ask(), newAddress(), 'the connection carries on');
    before.close();
  });
});
