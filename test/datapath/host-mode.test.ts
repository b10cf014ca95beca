// Host-address mode end to end with three networks: every network NATs
// behind the host's own address (one port allocator), each network's
// published port answers on it (from outside, from the host itself and
// from a container of another network), and the address is the one source
// selection prefers, not a deprecated one nor the last one added. Real kernels in
// namespaces (topology.ts, plus a third bridge), `sixgate nat` as a child.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { NatLab, A, tcpServerCode, tcpClientCode } from './topology.js';
import type { Netns } from '../support/netns.js';

const req = requires({ root: true, tools: ['ip', 'tc', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const C4 = 'fd66:3::2';
/** Added to the uplink after the host's address: the newest one, which sixgate must not take for that. */
const NEWER = '2001:db8:1::99';
/** Deprecated (preferred lifetime 0) and numerically lowest: never the source. */
const DEPRECATED = '2001:db8:0:1::5';

function config(gw: string): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.snap
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], addressMode: host }
  - { name: lab, bridge: br1, subnets: [fd66:2::/64], addressMode: host }
  - { name: db, bridge: br2, subnets: [fd66:3::/64], addressMode: host }
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8081, containerAddress: "${A.c1}", containerPort: 80 }
  - { protocol: tcp, hostIp: "::", hostPort: 8082, containerAddress: "${A.c3}", containerPort: 80 }
  - { protocol: tcp, hostIp: "", hostPort: 8083, containerAddress: "${C4}", containerPort: 80 }
`;
}

describe('host-address mode with three networks', { ...req, timeout: 60_000 }, () => {
  let lab: NatLab;
  let c4: Netns;

  before(async () => {
    lab = new NatLab({ withInet2: false });
    c4 = lab.lab.ns('c4');
    lab.lab.veth(c4, 'eth0', lab.gw, 'vc4');
    lab.lab.bridge(lab.gw, 'br2', ['vc4']);
    lab.lab.addr(lab.gw, 'br2', 'fd66:3::1/64');
    lab.lab.addr(c4, 'eth0', `${C4}/64`);
    c4.ip('-6', 'route', 'add', 'default', 'via', 'fd66:3::1');
    lab.gw.ip('-6', 'addr', 'add', `${DEPRECATED}/64`, 'dev', 'up0', 'nodad', 'preferred_lft', '0');
    lab.lab.addr(lab.gw, 'up0', `${NEWER}/64`);
    await lab.server(lab.inet, tcpServerCode(5001, 64 * 1024));
    for (const ns of [lab.c1, lab.c3, c4]) await lab.server(ns, tcpServerCode(80, 1024));
    await lab.server(lab.gw, tcpServerCode(7000));
    await lab.startSixgate(config(lab.gw.name));
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('each network reaches the outside from the host address; one steering set for all', async () => {
    for (const ns of [lab.c1, lab.c3, c4]) {
      const r = await lab.nodeResult(ns, tcpClientCode(A.inet, 5001));
      assert.equal(r.peer, A.gwUp, `${ns.name}: ${JSON.stringify(r)}`);
      assert.equal(r.bytes, 64 * 1024);
    }
    const tc = lab.gw.exec('tc', ['filter', 'show', 'dev', 'up0', 'ingress']);
    assert.doesNotMatch(tc, /2001:db8:1::99|2001:db8:0:1::5/);
  });

  test('a published port per network answers on the host address with the client\'s address', async () => {
    for (const port of [8081, 8082, 8083]) {
      const r = await lab.nodeResult(lab.inet, tcpClientCode(A.gwUp, port));
      assert.equal(r.peer, A.inet, `port ${port}: ${JSON.stringify(r)}`);
    }
  });

  test('locally originated: the host itself and a container of another network reach a published port at the host address', async () => {
    // Both come in as the host address: the host's own connection leaves from it, the container's is translated to it.
    for (const ns of [lab.gw, lab.c3]) {
      const r = await lab.nodeResult(ns, tcpClientCode(A.gwUp, 8081));
      assert.equal(r.bytes, 1024, `${ns.name}: ${JSON.stringify(r)}`);
      assert.equal(r.peer, A.gwUp);
    }
  });

  test('the host\'s own service on another port is still the host\'s', async () => {
    const r = await lab.nodeResult(lab.inet, tcpClientCode(A.gwUp, 7000));
    assert.equal(r.peer, A.inet);
  });
});
