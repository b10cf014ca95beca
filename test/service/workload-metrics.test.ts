// The per-network and per-container series: slots of a real NAT66 engine
// named at report time from the container list, a container's series gone
// with it, and an address another container takes over counted afresh.
// (test/service/daemon.test.ts scrapes them from `sixgate run` with a real dockerd.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { counterValues } from '../../src/service/counters.js';
import { containerMetrics, HostBaselines, networkMetrics, type ContainerSlot } from '../../src/service/workload-metrics.js';
import { engineCounts, HOST_VALUES } from '../../src/datapath/workload-counts.js';
import { udpPacket, portsOf } from '../nat/support.js';
import { Verdict } from '../../src/nat/types.js';

const NOW = 1_000_000;
const EXT = '2001:db8::1';

function exchange(nat: Nat66, inside: string, sport: number): void {
  const out = udpPacket(inside, sport, '2001:db8:77::1', 53, 20);
  assert.equal(nat.translate(out, 0, out.length, NOW), Verdict.Forward);
  const back = udpPacket('2001:db8:77::1', 53, EXT, portsOf(out)!.src, 20);
  assert.equal(nat.translate(back, 0, back.length, NOW), Verdict.Forward);
}

function slot(address: string, containerName: string, containerId: string): ContainerSlot {
  return { address, networkName: 'web', containerName, containerId, service: 'nat66' };
}

type Nested = Record<string, Record<string, Record<string, Record<string, number>>>>;

test('slots are named at report time: network series by the engine\'s networks, container series by the container list', () => {
  const nat = new Nat66({ networks: [{ name: 'web', insideSubnets: ['fd00:1::/64'], externalAddresses: [EXT] }], seed: 1 });
  let slots: ContainerSlot[] = [slot('fd00:1::5', 'api', 'a'.repeat(64)), slot('fd00:1::6', 'idle', 'b'.repeat(64))];
  const metrics = [...networkMetrics(() => engineCounts(nat), () => undefined), ...containerMetrics(() => slots, () => engineCounts(nat), () => undefined)];
  exchange(nat, 'fd00:1::5', 1000);
  exchange(nat, 'fd00:1::5', 1001);
  const esp = udpPacket('fd00:1::5', 1000, '2001:db8:77::1', 53);
  esp[6] = 50;
  nat.translate(esp, 0, esp.length, NOW);

  const v = counterValues(metrics) as Record<string, Nested>;
  assert.deepEqual(v.sixgate_network_packets_total, { web: { out: 2, in: 2 } });
  assert.deepEqual(v.sixgate_network_sessions, { web: 2 });
  assert.deepEqual(v.sixgate_network_drops_total, { web: { 'unsupported-protocol': 1 } });
  assert.deepEqual(v.sixgate_container_packets_total, {
    web: { api: { aaaaaaaaaaaa: { out: 2, in: 2 } }, idle: { bbbbbbbbbbbb: { out: 0, in: 0 } } },
  });
  assert.deepEqual(v.sixgate_container_bytes_total!.web!.api, { aaaaaaaaaaaa: { out: 136, in: 136 } });
  assert.deepEqual(v.sixgate_container_sessions, { web: { api: { aaaaaaaaaaaa: 2 }, idle: { bbbbbbbbbbbb: 0 } } });
  assert.deepEqual(v.sixgate_container_drops_total, { web: { api: { aaaaaaaaaaaa: { 'unsupported-protocol': 1 } } } }, 'a reason appears with its first drop');
  assert.deepEqual(v.sixgate_container_ndp_answers_total, {}, 'no proxied container');

  // The container goes: its series with it; the network's stay.
  slots = slots.filter((s) => s.containerName !== 'api');
  const gone = counterValues(metrics) as Record<string, Nested>;
  assert.deepEqual(Object.keys(gone.sixgate_container_packets_total!.web!), ['idle']);
  assert.deepEqual(gone.sixgate_container_drops_total, {});
  assert.deepEqual(gone.sixgate_network_packets_total, { web: { out: 2, in: 2 } });

  // Another container takes the address while its record waits: it counts from there.
  slots.push(slot('fd00:1::5', 'worker', 'c'.repeat(64)));
  exchange(nat, 'fd00:1::5', 1002);
  const next = counterValues(metrics) as Record<string, Nested>;
  assert.deepEqual(next.sixgate_container_packets_total!.web!.worker, { cccccccccccc: { out: 1, in: 1 } });
  assert.deepEqual(next.sixgate_container_drops_total, {}, "the old container's drops are not the new one's");
  assert.deepEqual(next.sixgate_network_packets_total, { web: { out: 3, in: 3 } });

  // Without an engine there is nothing per network or per container.
  assert.deepEqual(counterValues([...networkMetrics(() => undefined, () => undefined), ...containerMetrics(() => slots, () => undefined, () => undefined)]),
    Object.fromEntries(metrics.map((m) => [m.name, {}])));
});

test('HostBaselines: first seen counts whole, a release keeps the counts at release, a reclaimed record starts over, a gone record is forgotten', () => {
  const b = new HostBaselines();
  const counts = (n: number): Float64Array => new Float64Array(HOST_VALUES).fill(n);
  const live = new Map<string, number>([['x', 10]]);
  const sweep = (): void => b.sweep((address, out) => {
    const n = live.get(address);
    if (n === undefined) return false;
    out.fill(n);
    return true;
  });
  assert.equal(b.report('x', 'A', counts(10))[0], 10, 'whatever the record holds when first seen');
  sweep();
  // A goes (not reported), the record counts on (traffic to the address after A went) ...
  live.set('x', 12);
  sweep();
  live.set('x', 15);
  // ... and B, taking the address, counts from the release.
  assert.equal(b.report('x', 'B', counts(15))[0], 3);
  sweep();
  // Switched between two reports: from the report that sees it.
  assert.equal(b.report('x', 'C', counts(20))[0], 0);
  sweep();
  // The record reclaimed and taken again: below the base, from zero.
  assert.equal(b.report('x', 'C', counts(4))[0], 4);
  sweep();
  live.delete('x');
  sweep();
  assert.equal(b.size, 0, 'forgotten with its record');
});
