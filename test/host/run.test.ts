import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertIfname, ipBatch, HostCommandError } from '../../src/host/run.js';
import { requires } from '../support/prereq.js';

// Only lines that read or fail to parse: nothing here changes the namespace the test runs in.
describe('ipBatch', requires({ tools: ['ip'] }), () => {
  test('with force, the refused lines come back and the rest still runs', async () => {
    assert.deepEqual(await ipBatch(['route show', 'nonsense', 'rule show', 'bogus words'], { force: true }), {
      failed: ['nonsense', 'bogus words'],
    });
  });

  test('without force, the first refused line rejects', async () => {
    await assert.rejects(ipBatch(['route show', 'nonsense']), (e: unknown) => e instanceof HostCommandError && /nonsense/.test(e.stderr));
  });

  test('an empty batch runs nothing; a line holding a newline is refused before anything runs', async () => {
    assert.deepEqual(await ipBatch([]), { failed: [] });
    await assert.rejects(ipBatch(['route show\nroute flush'], { force: true }), RangeError);
  });
});

test('with force, a failure that names no line (ip not found) still rejects', async () => {
  const path = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await assert.rejects(ipBatch(['route show'], { force: true }), HostCommandError);
  } finally {
    process.env.PATH = path;
  }
});

test('assertIfname refuses what could split or add a batch command', () => {
  assert.equal(assertIfname('eth0'), 'eth0');
  for (const bad of ['', 'a b', 'a\nroute flush', 'x/y', 'a:b', '.', '..', 'sixteen-chars-xx']) {
    assert.throws(() => assertIfname(bad), RangeError, bad);
  }
});
