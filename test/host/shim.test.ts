// The shim's names, MAC and creation lines (the shim itself runs against a
// real dockerd in test/service/shims.test.ts; ipvlan, which this kernel
// lacks, only here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shimCreateLines, shimMac, shimName, type ShimSpec } from '../../src/host/shim.js';

const ID = 'a378759aa5b732daa64d6b91f21a7923c53d1b75fa18de070856fc78183caa38';

test('a shim\'s name fits IFNAMSIZ and its MAC is stable, unicast and locally administered', () => {
  assert.equal(shimName(ID), 'sgs-a378759aa5b');
  assert.ok(shimName(ID).length <= 15);
  const mac = shimMac(ID);
  assert.equal(mac, shimMac(ID));
  assert.notEqual(mac, shimMac(ID.replace('a', 'b')));
  assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
});

test('creation lines: macvlan in bridge mode with its MAC; ipvlan in l2 mode; names are checked', () => {
  const spec: ShimSpec = { name: shimName(ID), parent: 'eth0.10', driver: 'macvlan', mac: shimMac(ID), network: 'my lan', routes: [], hostAddresses: [] };
  assert.deepEqual(shimCreateLines(spec), [
    `link add sgs-a378759aa5b link eth0.10 address ${shimMac(ID)} type macvlan mode bridge`,
    'link set dev sgs-a378759aa5b alias "sixgate shim my_lan"',
  ]);
  assert.equal(shimCreateLines({ ...spec, driver: 'ipvlan' })[0], 'link add sgs-a378759aa5b link eth0.10 type ipvlan mode l2');
  assert.throws(() => shimCreateLines({ ...spec, parent: 'eth0 type dummy' }), /not a valid interface name/);
});
