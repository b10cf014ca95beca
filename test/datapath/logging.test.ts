// What `sixgate nat -v` tells as it happens: each network's external address
// when it appears (at start and when a SIGHUP adds a network), each NAT
// session as it opens and each NDP answer as it leaves, one line each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { NatLab, A } from './topology.js';

const req = requires({ root: true, tools: ['ip', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const LAB_ADDRESS = '2001:db8:1::67';
const WEB = `{ name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }`;
const LAB = `{ name: lab, bridge: br1, subnets: [fd66:2::/64], externalAddresses: [${LAB_ADDRESS}] }`;
const config = (networks: string[]): string => `uplink: up0\nnetworks:\n${networks.map((n) => `  - ${n}`).join('\n')}\n`;

type Line = Record<string, unknown> & { msg: string };

describe('sixgate nat -v: mappings, answers and external addresses as they happen', { ...req, timeout: 60_000 }, () => {
  let lab: NatLab;
  const lines = (): Line[] => lab.log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

  before(async () => {
    lab = new NatLab({ withInet2: false });
    await lab.startSixgate(config([WEB]), ['-v']);
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) rmSync(`/tmp/${lab.gw.name}-nat.yaml`, { force: true });
  });

  test('a ping out: the router asks for the external address (answered, logged) and the session is logged as it opens', async () => {
    const ping = await lab.c1.run('busybox', ['ping6', '-c', '1', '-W', '2', A.inet], 5000);
    assert.match(ping.stdout, /1 packets received/, lab.log.slice(-2000));
    await waitFor(() => lines().some((l) => l.msg === 'NAT session opened'), 5000, `a session line:\n${lab.log.slice(-2000)}`);
    const opened = lines().filter((l) => l.msg === 'NAT session opened');
    assert.equal(opened.length, 1, lab.log.slice(-2000));
    const [session] = opened;
    assert.equal(session!.proto, 'icmpv6');
    assert.match(String(session!.inside), new RegExp(`^\\[${A.c1}\\]:\\d+$`));
    assert.match(String(session!.outside), new RegExp(`^\\[${A.dedicated}\\]:\\d+$`));
    assert.equal(session!.remote, `[${A.inet}]:0`);
    const answers = lines().filter((l) => l.msg === 'NDP answer sent');
    // To the router, which solicits from its link-local address.
    assert.ok(answers.some((l) => l.target === A.dedicated && /^fe80:/.test(String(l.to)) && l.iface === 'up0'), JSON.stringify(answers));
  });

  test('a network added by SIGHUP: its external address is logged as it appears, the unchanged one is not logged again', async () => {
    const mark = lines().length;
    writeFileSync(`/tmp/${lab.gw.name}-nat.yaml`, config([WEB, LAB]));
    lab.sixgate!.kill('SIGHUP');
    await waitFor(() => lines().slice(mark).some((l) => l.msg === 'model applied'), 8000, `the apply:\n${lab.log.slice(-2000)}`);
    const externals = lines().filter((l) => /^network \S+: external address/.test(l.msg)).map((l) => l.msg);
    assert.deepEqual(externals, [`network web: external address ${A.dedicated}`, `network lab: external address ${LAB_ADDRESS}`]);
  });
});
