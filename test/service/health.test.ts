import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHealthFile, readHealth, type HealthStatus, type StatusRecord } from '../../src/service/health.js';
import { monotonicMs } from '../../src/io/ring.js';

const dir = mkdtempSync(join(tmpdir(), 'sixgate-health-'));
let n = 0;
const fresh = (): string => join(dir, `s${n++}`, 'status.json');

describe('service/health: status file written by the daemon, judged by readers', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a live, ready daemon with every part ok is healthy; stop() removes the file', () => {
    const path = fresh();
    const file = startHealthFile(path, () => ({ state: 'ready', components: { docker: { ok: true }, nat66: { ok: true } } }), { intervalMs: 60_000 });
    try {
      const v = readHealth(path);
      assert.equal(v.healthy, true, v.reason);
      assert.match(v.reason, new RegExp(`^ready: pid ${process.pid}, refreshed`));
      assert.equal(v.record?.pid, process.pid);
      assert.equal(statSync(path).mode & 0o777, 0o644);
    } finally {
      file.stop();
    }
    assert.equal(existsSync(path), false);
    const gone = readHealth(path);
    assert.equal(gone.healthy, false);
    assert.equal(gone.reason, `not running: no status file ${path}`);
  });

  test('a part that goes down is in the file within a check period, not at the next refresh; an unchanged status is not rewritten', async () => {
    const path = fresh();
    let status: HealthStatus = { state: 'ready', components: { nat66: { ok: true } } };
    let asked = 0;
    const file = startHealthFile(path, () => { asked++; return status; }, { intervalMs: 60_000, checkMs: 20 });
    try {
      const first = readFileSync(path, 'utf8');
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(asked >= 3, `the status is looked at every check (${asked} times)`);
      assert.equal(readFileSync(path, 'utf8'), first, 'nothing changed: not rewritten');
      status = { state: 'degraded', components: { nat66: { ok: false, detail: 'the TUN failed' } } };
      const start = Date.now();
      while (readHealth(path).healthy) {
        assert.ok(Date.now() - start < 1000, 'unhealthy within a second');
        await new Promise((r) => setTimeout(r, 5));
      }
      assert.match(readHealth(path).reason, /nat66 down \(the TUN failed\)/);
    } finally {
      file.stop();
    }
  });

  test('starting, degraded parts and stopping are unhealthy, with the reason', () => {
    const path = fresh();
    let status: HealthStatus = { state: 'starting' };
    const file = startHealthFile(path, () => status, { intervalMs: 60_000 });
    try {
      assert.deepEqual([readHealth(path).healthy, readHealth(path).reason], [false, `starting: pid ${process.pid}`]);
      status = { state: 'ready', components: { docker: { ok: false, detail: 'connect ENOENT /var/run/docker.sock' }, ndp: { ok: true } } };
      file.refresh();
      assert.equal(readHealth(path).reason, 'ready but docker down (connect ENOENT /var/run/docker.sock)');
      status = { state: 'degraded', components: { nat66: { ok: false } } };
      file.refresh();
      assert.equal(readHealth(path).reason, `degraded: pid ${process.pid}, nat66 down`);
      status = { state: 'stopping' };
      file.refresh();
      assert.equal(readHealth(path).healthy, false);
    } finally {
      file.stop();
    }
  });

  test('the timer refreshes the file; a stuck refresher reads as stuck after 3 periods', async () => {
    const path = fresh();
    let clock = 1_000_000;
    const file = startHealthFile(path, () => ({ state: 'ready' }), { intervalMs: 20, clock: () => clock });
    try {
      const first = (JSON.parse(readFileSync(path, 'utf8')) as StatusRecord).monotonicMs;
      clock += 500;
      await new Promise((r) => setTimeout(r, 80));
      assert.equal((JSON.parse(readFileSync(path, 'utf8')) as StatusRecord).monotonicMs, first + 500);
      assert.equal(readHealth(path, { clock: () => clock + 60 }).healthy, true);
      const stuck = readHealth(path, { clock: () => clock + 61 });
      assert.equal(stuck.healthy, false);
      assert.match(stuck.reason, /^stuck: pid \d+ last refreshed its status 0\.1 s ago \(every 0\.0 s\)$/);
      assert.equal(readHealth(path, { clock: () => clock + 61, maxAgeMs: 1_000 }).healthy, true);
    } finally {
      file.stop();
    }
  });

  test('a file left by a dead daemon is "not running", whatever it says', () => {
    const path = fresh();
    mkdirSync(join(path, '..'), { recursive: true });
    const record: StatusRecord = {
      format: 1, pid: 999_999_999, state: 'ready', components: {}, intervalMs: 5_000,
      monotonicMs: monotonicMs(), time: new Date().toISOString(), startedAt: new Date().toISOString(),
    };
    writeFileSync(path, JSON.stringify(record));
    const v = readHealth(path);
    assert.equal(v.healthy, false);
    assert.equal(v.reason, 'not running: pid 999999999 is gone (it did not stop cleanly)');
    assert.equal(readHealth(path, { pidAlive: () => true }).healthy, true);
  });

  test('garbage, other formats and clocks from elsewhere are unhealthy, never a throw', () => {
    const path = fresh();
    mkdirSync(join(path, '..'), { recursive: true });
    for (const text of ['', '{', 'null', '[]', '{"format":2,"pid":1,"state":"ready","intervalMs":1,"monotonicMs":1}', '{"format":1}']) {
      writeFileSync(path, text);
      const v = readHealth(path);
      assert.equal(v.healthy, false);
      assert.match(v.reason, /is not a sixgate status file/);
    }
    const future: StatusRecord = {
      format: 1, pid: process.pid, state: 'ready', intervalMs: 5_000, monotonicMs: monotonicMs() + 3_600_000,
      time: '', startedAt: '',
    };
    writeFileSync(path, JSON.stringify(future));
    assert.match(readHealth(path).reason, /^stuck:/);
    assert.match(readHealth(dir).reason, /^cannot read /);
  });

  test('a refresh that cannot be written is reported once, and the daemon goes on', async () => {
    const path = fresh();
    const errors: Error[] = [];
    const file = startHealthFile(path, () => ({ state: 'ready' }), { intervalMs: 10, onError: (e) => errors.push(e) });
    try {
      rmSync(path);
      mkdirSync(join(path, 'x'), { recursive: true }); // rename onto a non-empty directory fails
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(errors.length, 1);
      rmSync(path, { recursive: true });
      await new Promise((r) => setTimeout(r, 40));
      assert.equal(readHealth(path).healthy, true);
    } finally {
      file.stop();
    }
  });
});
