// The adapters from feed deltas to the NDP proxy and the NAT66 configuration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { containerFromSummary, type ContainerInfo } from '../../src/docker/containers.js';
import { applyNdpDeltas, touchesNat } from '../../src/docker/consumers.js';
import type { ApiNetwork } from '../../src/docker/api-types.js';
import { C1, NA, NG, model, networks, summary } from './fixtures.js';

const url = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

test('consumers: NDP follows ndp address deltas; NAT-relevant batches are recognised', () => {
  const { m } = model();
  const nets: ApiNetwork[] = [...networks, { Id: 'e'.repeat(64), Name: 'npt', Driver: 'bridge', IPAM: { Config: [{ Subnet: 'fd00:e::/64' }] },
    Labels: { 'sixgate.nptv6': '2001:db8:7::/64' }, Options: { 'com.docker.network.host_ipv6': '2001:db8:5::99' } }];
  const c: ContainerInfo = containerFromSummary(summary(C1, { alpha: [NA, 'fd00:a::2'], glob: [NG, '2001:db8:5:0:1::2'] },
    [{ IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { IP: '2001:db8:5::7', PrivatePort: 53, PublicPort: 53, Type: 'udp' }]))!;
  const deltas = m.replaceAll(nets, [c]);
  const calls: string[] = [];
  assert.equal(applyNdpDeltas(deltas, { add: (u, a) => calls.push(`+${u} ${a}`), remove: (u, a) => calls.push(`-${u} ${a}`) }), 1);
  assert.deepEqual(calls, ['+eth0 2001:db8:5:0:1::2']);
  assert.ok(touchesNat(deltas));
  assert.ok(!touchesNat(deltas.filter((d) => d.kind === 'address-added')));
});

// ipvlan l3 containers answer no NDP themselves: the host's proxy answers for
// them on the parent. This kernel has no ipvlan, so the model is fed the
// recorded-shape network and a container by hand; the NDP side is the real
// service, in a namespace whose `eth0` is the parent, asked by a router.
describe('ipvlan l3: the model\'s container addresses answered on the parent', { ...requires({ root: true, tools: ['ip', 'ndisc6'] }), timeout: 60_000 }, () => {
  let lab: Lab;
  let host: Netns;
  let router: Netns;
  before(async () => {
    lab = new Lab();
    host = lab.ns('host');
    router = lab.ns('router');
    lab.veth(host, 'eth0', router, 'r0');
    lab.addr(host, 'eth0', '2001:db8:1::2/64');
    lab.addr(router, 'r0', '2001:db8:1::1/64');
    await waitFor(() => /fe80/.test(host.ip('-6', 'addr', 'show', 'dev', 'eth0')), 5000, 'a link-local address');
  });
  after(() => lab?.destroy());

  test('answered while the container runs, with the parent\'s MAC; withdrawn when it stops', async () => {
    const r = await host.node(`import { DockerModel } from '${url('../../src/docker/docker-model.js')}';
import { applyNdpDeltas } from '${url('../../src/docker/consumers.js')}';
import { containerFromInspect } from '${url('../../src/docker/containers.js')}';
import { ipvlanL3OnLink, linkCtx } from '${url('./link-fixtures.js')}';
import { NdpService } from '${url('../../src/proxy/ndp-service.js')}';
import { uplinkConfig } from '${url('../../src/proxy/sources.js')}';
import { createLogger } from '${url('../../src/log.js')}';
import { monotonicMs } from '${url('../../src/io/ring.js')}';
import { parseIpv6 } from '${url('../../src/wire/address.js')}';
import { execFile, execFileSync } from 'node:child_process';
const logger = createLogger({ level: 'warn', destination: { write: () => true } });
const svc = await NdpService.start({ config: uplinkConfig('eth0', [], 'sixgate run'), logger, now: monotonicMs });
const sink = { add: (u, a) => svc.add(u, parseIpv6(a), 'docker'), remove: (u, a) => svc.remove(u, parseIpv6(a), 'docker') };
const asked = (addr) => new Promise((resolve) => {
  execFileSync('ip', ['netns', 'exec', '${router.name}', 'ip', '-6', 'neigh', 'flush', 'dev', 'r0']);
  execFile('ip', ['netns', 'exec', '${router.name}', 'ndisc6', '-q', '-r', '2', '-w', '300', addr, 'r0'], (err, stdout) => resolve(err ? 'none' : stdout.trim().toLowerCase()));
});
const model = new DockerModel(linkCtx);
const container = containerFromInspect({ Id: 'c'.repeat(64), Name: '/l3', State: { Running: true },
  NetworkSettings: { Networks: { ipl3: { NetworkID: ipvlanL3OnLink.Id, GlobalIPv6Address: '2001:db8:1:0:6::5', GlobalIPv6PrefixLen: 80 } } } });
const out = {};
out.calls = applyNdpDeltas(model.replaceAll([ipvlanL3OnLink], [container]), sink);
out.running = await asked('2001:db8:1:0:6::5');
out.stopped = applyNdpDeltas(model.removeContainer(container.id), sink);
out.after = await asked('2001:db8:1:0:6::5');
await svc.stop();
console.log(JSON.stringify(out));`, 30_000);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    const parentMac = [...host.mac('eth0')].map((b) => b.toString(16).padStart(2, '0')).join(':');
    assert.deepEqual(out, { calls: 1, running: parentMac, stopped: 1, after: 'none' }, r.stderr);
  });
});
