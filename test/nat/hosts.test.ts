// The engine's counters by slot: per inside address (the connection table's
// host records, hosts.ts) and per network (Nat66.netCounters, netDrops),
// which the metrics name at report time (src/service/workload-metrics.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Nat66 } from '../../src/nat/nat66.js';
import { DROP_REASON_COUNT, DROP_REASON_NAMES } from '../../src/nat/drop.js';
import { HostCounter } from '../../src/nat/hosts.js';
import { Verdict } from '../../src/nat/types.js';
import { udpPacket, portsOf } from './support.js';
import { readAddressWords } from '../../src/wire/checksum.js';
import { parseIpv6 } from '../../src/wire/address.js';

const NOW = 1_000_000;
const web = { name: 'web', insideSubnets: ['fd00:1::/64'], externalAddresses: ['2001:db8::1'] };
const db = { name: 'db', insideSubnets: ['fd00:2::/64'], externalAddresses: ['2001:db8::2'] };

function words(address: string): Uint32Array {
  const w = new Uint32Array(4);
  readAddressWords(parseIpv6(address), 0, w, 0);
  return w;
}

const UNSUPPORTED = DROP_REASON_NAMES.indexOf('unsupported-protocol');

/** A UDP exchange from `inside` (one out, one back), and one ESP packet from it (dropped). */
function traffic(nat: Nat66, inside: string, ext: string): void {
  const out = udpPacket(inside, 1000, '2001:db8:77::1', 53, 20);
  assert.equal(nat.translate(out, 0, out.length, NOW), Verdict.Forward);
  const back = udpPacket('2001:db8:77::1', 53, ext, portsOf(out)!.src, 20);
  assert.equal(nat.translate(back, 0, back.length, NOW), Verdict.Forward);
  const esp = udpPacket(inside, 1000, '2001:db8:77::1', 53, 20);
  esp[6] = 50;
  assert.ok(nat.translate(esp, 0, esp.length, NOW) < 0);
}

test('an inside address counts its packets, bytes and drops in its host record; a network in its slot', () => {
  const nat = new Nat66({ networks: [web, db], seed: 1 });
  traffic(nat, 'fd00:1::5', '2001:db8::1');
  traffic(nat, 'fd00:2::5', '2001:db8::2');
  traffic(nat, 'fd00:2::5', '2001:db8::2');
  const hosts = nat.table.hosts;
  const a = hosts.find(words('fd00:1::5'), 0);
  const b = hosts.find(words('fd00:2::5'), 0);
  assert.ok(a !== 0 && b !== 0 && a !== b);
  assert.equal(hosts.find(words('fd00:1::6'), 0), 0, 'an address with no record');
  assert.equal(hosts.cnt[b * 4 + HostCounter.PacketsOut], 2);
  assert.equal(hosts.cnt[b * 4 + HostCounter.PacketsIn], 2);
  assert.equal(hosts.cnt[b * 4 + HostCounter.BytesOut], 2 * 68);
  assert.equal(hosts.drops[b * DROP_REASON_COUNT + UNSUPPORTED], 2);
  assert.equal(hosts.drops[a * DROP_REASON_COUNT + UNSUPPORTED], 1);
  // Networks in configuration order: web 0, db 1.
  assert.deepEqual([...nat.netCounters], [1, 1, 68, 68, 2, 2, 136, 136]);
  assert.equal(nat.netDrops[DROP_REASON_COUNT + UNSUPPORTED], 2);
});

test('a record taken again starts from zero; the network counts carry on, by name, across a reconfiguration and a new table', () => {
  const nat = new Nat66({ networks: [web], capacity: 64, hostCapacity: 1, seed: 2 });
  traffic(nat, 'fd00:1::5', '2001:db8::1');
  nat.expire(NOW + 3_600_000); // the session goes; its host record waits, idle
  // The one record is reclaimed for another address: its counts and drops start over.
  const later = udpPacket('fd00:1::6', 1000, '2001:db8:77::1', 53, 20);
  assert.equal(nat.translate(later, 0, later.length, NOW + 3_600_000), Verdict.Forward);
  const hosts = nat.table.hosts;
  const h = hosts.find(words('fd00:1::6'), 0);
  assert.equal(hosts.find(words('fd00:1::5'), 0), 0);
  assert.equal(hosts.cnt[h * 4 + HostCounter.PacketsOut], 1);
  assert.equal(hosts.drops[h * DROP_REASON_COUNT + UNSUPPORTED], 0);

  // db put first (in place: a new network before web), then a new table (capacity).
  nat.reconfigure({ networks: [db, web], capacity: 64, hostCapacity: 1, seed: 2 });
  assert.equal(nat.netCounters[4 + HostCounter.PacketsOut], 2, 'web is network 1 now, its counts with it');
  assert.equal(nat.netDrops[DROP_REASON_COUNT + UNSUPPORTED], 1);
  assert.equal(nat.netCounters[HostCounter.PacketsOut], 0);
  const fresh = new Nat66({ networks: [web], capacity: 128, hostCapacity: 1, seed: 2 });
  fresh.migrateFrom(nat);
  assert.deepEqual([...fresh.netCounters], [2, 1, 136, 68]);
  assert.equal(fresh.netDrops[UNSUPPORTED], 1);
  const moved = fresh.table.hosts.find(words('fd00:1::6'), 0);
  assert.equal(fresh.table.hosts.cnt[moved * 4 + HostCounter.PacketsOut], 1, "an address's counts move with its sessions");
});
