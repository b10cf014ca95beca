import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../support/paths.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const HEALTH = join(repoRoot, 'dist', 'src', 'service', 'health.js');
const dir = mkdtempSync(join(tmpdir(), 'sixgate-cli-health-'));

function health(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'health', ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('sixgate health', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('no daemon: exit 1 and the reason', () => {
    const file = join(dir, 'none.json');
    assert.deepEqual(health('-f', file), { code: 1, out: `unhealthy: not running: no status file ${file}\n`, err: '' });
    assert.equal(health('--max-age', 'soon', '-f', file).out, 'unhealthy: --max-age must be a positive number of milliseconds, not "soon"\n');
  });

  test('a daemon refreshing its status (another process): exit 0; after it dies: exit 1', async () => {
    const file = join(dir, 'run', 'status.json');
    const daemon = spawn(process.execPath, ['--input-type=module', '-e', `
      const { startHealthFile } = await import(${JSON.stringify(HEALTH)});
      startHealthFile(${JSON.stringify(file)}, () => ({ state: 'ready', components: { docker: { ok: true } } }), { intervalMs: 100 });
      setInterval(() => {}, 1000);
    `], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(20);
      const ok = health('-f', file, '--json');
      assert.equal(ok.code, 0, ok.out + ok.err);
      const [line, json] = ok.out.trim().split('\n');
      assert.match(line, new RegExp(`^healthy: ready: pid ${daemon.pid}, refreshed \\d+\\.\\d s ago$`));
      assert.deepEqual((JSON.parse(json) as { components: unknown }).components, { docker: { ok: true } });
    } finally {
      daemon.kill('SIGKILL');
      await new Promise((r) => daemon.once('exit', r));
    }
    const dead = health('-f', file);
    assert.equal(dead.code, 1);
    assert.equal(dead.out, `unhealthy: not running: pid ${daemon.pid} is gone (it did not stop cleanly)\n`);
  });
});
