import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import assert from 'node:assert/strict';
import { portBlocks, steeringFilters } from '../../src/host/steering.js';
import { parseIpv6 } from '../../src/wire/address.js';

function covered(blocks: Array<[number, number]>): number[] {
  const out: number[] = [];
  for (let p = 0; p < 65536; p++) if (blocks.some(([v, m]) => (p & m) === v)) out.push(p);
  return out;
}

test('port ranges become exact value/mask blocks', () => {
  assert.deepEqual(portBlocks(61440, 65535), [[61440, 0xf000]]);
  assert.deepEqual(portBlocks(8080, 8080), [[8080, 0xffff]]);
  for (const [lo, hi] of [[61000, 61999], [1, 65535], [1024, 1030], [0, 0]] as const) {
    const got = covered(portBlocks(lo, hi));
    assert.equal(got.length, hi - lo + 1, `${lo}-${hi}`);
    assert.equal(got[0], lo);
    assert.equal(got.at(-1), hi);
  }
  assert.ok(portBlocks(61000, 61999).length <= 16);
});

test('steering filters: u32 matches on the host address and ports, mirred into the TUN', () => {
  const filters = steeringFilters({ dev: 'up0', direction: 'ingress', specs: [{ address: parseIpv6('2001:db8:1::2'), ports: [{ protocol: 6, lo: 8080, hi: 8080 }], icmpTypes: [1, 2, 3, 4, 129] }] }, 'sixgate0');
  assert.equal(filters[0], 'match ip6 dst 2001:db8:1::2/128 match ip6 protocol 6 0xff match ip6 dport 0x1f90 0xffff action mirred egress redirect dev sixgate0');
  // ICMPv6 errors and echo replies to the host address are steered too.
  assert.equal(filters.filter((l) => l.includes('protocol 58')).length, 5);
});

test('steering filters for a published container\'s answers to the host: by source address and port', () => {
  const filters = steeringFilters({ dev: 'br0', direction: 'ingress', specs: [{ address: parseIpv6('2001:db8:1::2'), ports: [], from: [{ protocol: 6, address: parseIpv6('fd66:1::2'), port: 80 }] }] }, 'sixgate0');
  assert.deepEqual(filters.map((l) => l.replace(/ action .*/, '')), ['match ip6 dst 2001:db8:1::2/128 match ip6 src fd66:1::2/128 match ip6 protocol 6 0xff match ip6 sport 0x50 0xffff']);
});

describe('applySteering in a namespace', requires({ root: true, tools: ['ip', 'tc'] }), () => {
  const STEERING = fileURLToPath(new URL('../../src/host/steering.js', import.meta.url));
  const ADDRESS = fileURLToPath(new URL('../../src/wire/address.js', import.meta.url));
  let lab: Lab;
  let ns: Netns;
  before(() => {
    lab = new Lab();
    ns = lab.ns('st');
    lab.veth(ns, 'up0', lab.ns('peer'), 'x0');
    ns.ip('link', 'add', 'tun0', 'type', 'veth', 'peer', 'name', 'tun1');
  });
  after(() => lab?.destroy());

  test('a port that comes and goes changes only its own filters (one batch); an unknown state is cleared first', async () => {
    const r = await ns.node(`import { applySteering, removeSteering } from '${STEERING}';
import { parseIpv6 } from '${ADDRESS}';
import { execFileSync } from 'node:child_process';
const handles = () => execFileSync('tc', ['filter', 'show', 'dev', 'up0', 'ingress'], { encoding: 'utf8' }).split('\\n').filter((l) => / fh 800::[0-9a-f]+ /.test(l)).map((l) => / fh (800::[0-9a-f]+) /.exec(l)[1]);
const hook = (ports) => [{ dev: 'up0', direction: 'ingress', specs: [{ address: parseIpv6('2001:db8:1::2'), ports: ports.map((p) => ({ protocol: 6, lo: p, hi: p })) }] }];
const out = {};
let state = await applySteering('tun0', hook([8080, 8081]));
out.first = handles();
state = await applySteering('tun0', hook([8080, 8082]), state);
out.second = handles();
await applySteering('tun0', hook([9000]));
out.unknown = handles();
await removeSteering('up0');
out.removed = execFileSync('tc', ['qdisc', 'show', 'dev', 'up0'], { encoding: 'utf8' }).includes('clsact');
console.log(JSON.stringify(out));`, 20_000);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    assert.deepEqual(out.first, ['800::1', '800::2'], r.stderr);
    // 8080 keeps its filter (800::1), 8081's goes, 8082 gets a handle not used before in that batch.
    assert.deepEqual(out.second, ['800::1', '800::3']);
    assert.deepEqual(out.unknown, ['800::1']);
    assert.equal(out.removed, false);
  });
});
