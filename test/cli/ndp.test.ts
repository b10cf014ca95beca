import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { jsonLogs } from '../support/process.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sixgate-cli-ndp-'));

function sixgate(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, env: jsonLogs() });
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.status, lines, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('sixgate ndp (no network needed)', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--check accepts ndppd.conf-dist style files and reports their warnings', () => {
    const path = file('ok.conf', 'route-ttl 30000\nproxy eth0 {\n  router yes\n  rule 1111::/64 {\n    static\n  }\n}\n');
    const r = sixgate('ndp', '--check', '-c', path);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.lines.some((l) => l.msg === 'configuration is valid' && l.proxies === 1));
    assert.ok(r.lines.some((l) => l.level === 40 && l.line === 4 && /static rule/.test(String(l.msg))));
  });

  test('a bad file exits 2 with file:line:column and touches nothing', () => {
    const path = file('bad.conf', 'proxy eth0 {\n  ttl 30s\n}\n');
    const r = sixgate('ndp', '-c', path);
    assert.equal(r.code, 2);
    assert.ok(r.lines.some((l) => l.code === 'SIXGATE_ERR_CONFIG' && String(l.msg).startsWith(`${path}:2:7: `)), JSON.stringify(r.lines));
  });

  test('a missing file and a bad --na-source or --address are configuration errors', () => {
    assert.equal(sixgate('ndp', '-t', '-c', join(dir, 'nope.conf')).code, 2);
    const path = file('ok2.conf', 'proxy eth0 {\n  rule ::1 { static }\n}\n');
    const badSource = sixgate('ndp', '-t', '-c', path, '--na-source', 'router');
    assert.equal(badSource.code, 2);
    assert.ok(badSource.lines.some((l) => /--na-source/.test(String(l.msg))));
    assert.equal(sixgate('ndp', '-t', '-c', path, '--address', 'eth0=zz::1').code, 2);
    assert.equal(sixgate('ndp', '-t', '-c', path, '--address', 'eth0=2001:db8::1').code, 0);
  });

  test('-vv is accepted as ndppd spells it', () => {
    const path = file('ok3.conf', 'proxy eth0 {\n  rule ::1 { static }\n}\n');
    assert.equal(sixgate('ndp', '-vv', '-t', '-c', path).code, 0);
  });
});
