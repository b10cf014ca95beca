// The feed snapshot → data path model, and leaving out networks this host
// cannot serve one by one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FeedSnapshot, DockerNetwork } from '../../src/docker/index.js';
import { datapathModel, filterResolvable, modelKey } from '../../src/service/docker-to-nat.js';
import { DEFAULTS } from '../../src/config/options.js';

function net(name: string, subnets: DockerNetwork['subnets'], extra: Partial<DockerNetwork> = {}): DockerNetwork {
  return {
    id: name.padEnd(64, '0'), name, driver: 'bridge', bridge: `br-${name}`, driverMode: '', internal: false, icc: true, masquerade: true,
    hostBindingIpv6: null, snatAddress: null, subnets, dockerNat: false, labels: {}, ...extra,
  };
}

const sub = (prefix: string, service: DockerNetwork['subnets'][number]['service'], extra = {}) =>
  ({ prefix, length: Number(prefix.split('/')[1]), service, reason: service === 'none' ? 'internal' : '', ...extra });

const snapshot: FeedSnapshot = {
  networks: [
    net('web', [sub('fd66:1::/64', 'nat66'), sub('fd66:11::/64', 'nat66')]),
    net('snat', [sub('fd66:2::/64', 'nat66')], { snatAddress: '2001:db8:1::99' }),
    net('lab', [sub('fd66:3::/64', 'nptv6', { externalPrefix: '2001:db8:66::/64' })]),
    net('glob', [sub('2001:db8:1:0:d0c::/80', 'ndp', { uplink: 'up0' })]),
    net('internal', [sub('fd66:4::/64', 'none')], { internal: true }),
  ],
  addresses: [],
  ports: [
    { containerId: 'c1', containerName: 'a', networkId: 'n', networkName: 'web', protocol: 'tcp', hostAddress: null, hostPort: 8080, containerAddress: 'fd66:1::2', containerPort: 80, service: 'nat66' },
    { containerId: 'c2', containerName: 'b', networkId: 'n', networkName: 'glob', protocol: 'tcp', hostAddress: null, hostPort: 8081, containerAddress: '2001:db8:1:0:d0c::2', containerPort: 80, service: 'ndp' },
    { containerId: 'c3', containerName: 'c', networkId: 'n', networkName: 'web', protocol: 'udp', hostAddress: '2001:db8:1::77', hostPort: 53, containerAddress: 'fd66:1::3', containerPort: 53, service: 'nat66' },
  ],
};

describe('feed snapshot → data path model', () => {
  test('nat66 networks masquerade, nptv6 subnets translate, others are left out; nat66 ports only', () => {
    const m = datapathModel(snapshot, 'up0', DEFAULTS);
    assert.equal(m.uplink, 'up0');
    assert.equal(m.tun, 'sixgate0');
    assert.deepEqual(m.networks.map((n) => [n.name, n.bridge, n.mode, n.subnets.join(',')]), [
      ['web', 'br-web', 'masquerade', 'fd66:1::/64,fd66:11::/64'],
      ['snat', 'br-snat', 'masquerade', 'fd66:2::/64'],
      ['lab/nptv6:fd66:3::/64', 'br-lab', 'nptv6', 'fd66:3::/64'],
    ]);
    assert.deepEqual(m.networks[1]!.externalAddresses, ['2001:db8:1::99']);
    // Replies of a container on two networks may come through any Docker bridge.
    assert.deepEqual(m.replyBridges, ['br-glob', 'br-internal', 'br-lab', 'br-snat', 'br-web']);
    assert.equal(m.throwPrefixes, undefined);
    const extra = datapathModel(snapshot, 'up0', { ...DEFAULTS, throwPrefixes: ['2001:db8:9::/48'], ipv4Map: { '192.0.2.1': '2001:db8:1::77' } });
    assert.deepEqual([extra.throwPrefixes, extra.ipv4Map], [['2001:db8:9::/48'], { '192.0.2.1': '2001:db8:1::77' }]);
    assert.notEqual(modelKey(extra), modelKey(m), 'a change of either is applied');
    assert.equal(m.networks[0]!.externalAddresses, undefined);
    assert.equal(m.networks[2]!.externalPrefix, '2001:db8:66::/64');
    assert.deepEqual(m.published, [
      { protocol: 'tcp', hostIp: '::', hostPort: 8080, containerAddress: 'fd66:1::2', containerPort: 80 },
      { protocol: 'udp', hostIp: '2001:db8:1::77', hostPort: 53, containerAddress: 'fd66:1::3', containerPort: 53 },
    ]);
  });

  test('the key ignores port order and changes with the networks', () => {
    const m = datapathModel(snapshot, 'up0', DEFAULTS);
    const reversed = datapathModel({ ...snapshot, ports: [...snapshot.ports].reverse() }, 'up0', DEFAULTS);
    assert.equal(modelKey(m), modelKey(reversed));
    assert.notEqual(modelKey(m), modelKey(datapathModel({ ...snapshot, networks: snapshot.networks.slice(1) }, 'up0', DEFAULTS)));
  });

  test('networks this host cannot serve are left out one by one with the reason', () => {
    const m = datapathModel(snapshot, 'up0', { ...DEFAULTS, addressMode: 'dedicated' });
    // Only a /128 on the uplink: dedicated mode has no prefix to take addresses from, except where one is given.
    const r = filterResolvable(m, { uplinkAddresses: [{ address: '2001:db8:1::2', prefixLength: 128 }] });
    assert.deepEqual(r.model.networks.map((n) => n.name), ['snat', 'lab/nptv6:fd66:3::/64']);
    assert.equal(r.skipped.length, 1);
    assert.equal(r.skipped[0]!.network, 'web');
    assert.match(r.skipped[0]!.reason, /dedicated mode needs externalAddresses or an on-link prefix/);
    // Host mode: the host address serves every network.
    const host = datapathModel({ ...snapshot, networks: [snapshot.networks[0]!, net('other', [sub('fd66:9::/64', 'nat66')])] }, 'up0', { ...DEFAULTS, addressMode: 'host' });
    const h = filterResolvable(host, { uplinkAddresses: [{ address: '2001:db8:1::2', prefixLength: 128 }] });
    assert.deepEqual(h.model.networks.map((n) => n.name), ['web', 'other']);
    assert.deepEqual(h.skipped, []);
  });

  test('sixgate.nptv6=auto: a /64 waits for a delegated prefix (skipped with the reason), then maps to one of its /64s', () => {
    const auto = datapathModel({ ...snapshot, networks: [net('api', [sub('fd66:5::/64', 'nptv6', { externalPrefix: 'auto' })])] }, 'up0', DEFAULTS);
    const onLink = { uplinkAddresses: [{ address: '2001:db8:1::2', prefixLength: 64 }] };
    const without = filterResolvable(auto, onLink);
    assert.match(without.skipped[0]!.reason, /needs an inside subnet longer than \/64 .*or a delegated prefix/);
    const withPd = filterResolvable(auto, { ...onLink, delegatedPrefixes: ['2001:db8:a00::/56'] });
    assert.deepEqual(withPd.skipped, []);
    assert.equal(withPd.model.networks[0]!.externalPrefix, 'auto', 'resolved by the data path, again after every change');
  });
});
