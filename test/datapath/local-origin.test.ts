// Locally originated traffic to a published port on a dedicated external
// address: the Docker host itself and a container of another NAT network
// connect to [dedicated]:8080 and get the container's answer. Real kernels
// in namespaces (topology.ts), `sixgate nat` as a child.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { requires } from '../support/prereq.js';
import { NatLab, A, tcpServerCode, tcpClientCode } from './topology.js';

const req = requires({ root: true, tools: ['ip', 'busybox', 'nsenter'], files: ['/dev/net/tun'] });

const OTHER_DEDICATED = '2001:db8:1::67';

function config(gw: string): string {
  return `uplink: up0
stateFile: /tmp/${gw}-state.snap
capacity: 16384
networks:
  - { name: web, bridge: br0, subnets: [fd66:1::/64], externalAddresses: [${A.dedicated}] }
  - { name: lab, bridge: br1, subnets: [fd66:2::/64], externalAddresses: [${OTHER_DEDICATED}] }
published:
  - { protocol: tcp, hostIp: "::", hostPort: 8080, containerAddress: "${A.c1}", containerPort: 80 }
`;
}

describe('locally originated traffic to a dedicated address', { ...req, timeout: 60_000 }, () => {
  let lab: NatLab;

  before(async () => {
    lab = new NatLab({ withInet2: false });
    await lab.server(lab.c1, tcpServerCode(80, 64 * 1024));
    await lab.startSixgate(config(lab.gw.name));
  });

  after(async () => {
    await lab?.stopSixgate('SIGKILL');
    lab?.destroy();
    if (lab) for (const f of ['state.snap', 'nat.yaml']) rmSync(`/tmp/${lab.gw.name}-${f}`, { force: true });
  });

  test('the Docker host reaches [dedicated]:8080 (its connection leaves from its bridge address and is hairpinned)', async () => {
    assert.match(lab.gw.ip('-6', 'route', 'get', A.dedicated), /dev sixgate0 .*src fd66:1::1/);
    const r = await lab.nodeResult(lab.gw, tcpClientCode(A.dedicated, 8080));
    assert.equal(r.bytes, 64 * 1024, JSON.stringify(r));
    // The container sees the address the connection was translated to, as for a hairpinned container.
    assert.equal(r.peer, A.dedicated);
  });

  test('a container of another NAT network reaches [dedicated]:8080', async () => {
    const r = await lab.nodeResult(lab.c3, tcpClientCode(A.dedicated, 8080));
    assert.equal(r.bytes, 64 * 1024, JSON.stringify(r));
    assert.equal(r.peer, OTHER_DEDICATED);
  });

  test('outside clients are unaffected: the container sees the client', async () => {
    const r = await lab.nodeResult(lab.inet, tcpClientCode(A.dedicated, 8080));
    assert.equal(r.peer, A.inet);
  });
});
