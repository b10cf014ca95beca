// Fleet mode's NDP rule: inside the fleet prefix only the host's own
// lease is answered for; the rest is withheld (reported) and follows the
// lease when it is claimed or moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseGate } from '../../src/service/lease-gate.js';
import { createLogger } from '../../src/log.js';

function recorder(): { sink: { add(u: string, a: string): void; remove(u: string, a: string): void }; answered: Set<string> } {
  const answered = new Set<string>();
  return { answered, sink: { add: (_u, a) => void answered.add(a), remove: (_u, a) => void answered.delete(a) } };
}

test('inside the fleet prefix only the lease is answered for; the rest waits for a lease that holds it', () => {
  const { sink, answered } = recorder();
  const gate = new LeaseGate(sink, '2001:db8:100::/48', createLogger({ level: 'silent' }));
  gate.add('up0', '2001:db8:1::5');     // outside the fleet: not the fleet's business
  gate.add('up0', '2001:db8:100:1::5'); // no lease yet: withheld
  assert.deepEqual([...answered], ['2001:db8:1::5']);
  assert.deepEqual(gate.withheld, ['2001:db8:100:1::5']);

  gate.setLease('2001:db8:100:1::/64');
  assert.deepEqual([...answered].sort(), ['2001:db8:100:1::5', '2001:db8:1::5']);
  gate.add('up0', '2001:db8:100:2::7'); // another host's lease: reported, not answered
  assert.deepEqual(gate.withheld, ['2001:db8:100:2::7']);
  assert.ok(!answered.has('2001:db8:100:2::7'));

  gate.setLease('2001:db8:100:2::/64'); // the lease moved: answers follow it
  assert.deepEqual([...answered].sort(), ['2001:db8:100:2::7', '2001:db8:1::5']);
  assert.deepEqual(gate.withheld, ['2001:db8:100:1::5']);

  gate.setLease(undefined); // etcd says the lease is gone: nothing in the fleet prefix until a claim
  assert.deepEqual([...answered], ['2001:db8:1::5']);
  assert.deepEqual(gate.withheld.sort(), ['2001:db8:100:1::5', '2001:db8:100:2::7']);
  gate.setLease('2001:db8:100:2::/64');
  assert.deepEqual([...answered].sort(), ['2001:db8:100:2::7', '2001:db8:1::5']);

  gate.remove('up0', '2001:db8:100:1::5');
  gate.remove('up0', '2001:db8:100:2::7');
  assert.deepEqual(gate.withheld, []);
  assert.deepEqual([...answered], ['2001:db8:1::5']);
});
