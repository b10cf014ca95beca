import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { runMetrics } from '../../src/service/counters.js';
import { DROP_REASON_HELP, DROP_REASON_NAMES } from '../../src/nat/drop.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

test('sixgate counters lists every metric of the registry and what each drop reason means', () => {
  const r = spawnSync(process.execPath, [CLI, 'counters'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const listed = [...r.stdout.matchAll(/^(sixgate_\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(listed, runMetrics(undefined).map((m) => m.name));
  const i = DROP_REASON_NAMES.indexOf('fragment-timeout');
  assert.ok(r.stdout.includes(`  reason="fragment-timeout": ${DROP_REASON_HELP[i]}\n`), r.stdout);
});
