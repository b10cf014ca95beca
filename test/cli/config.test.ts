// `sixgate config check FILE` and `sixgate config options` (no network needed).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { OPTIONS } from '../../src/config/options.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sixgate-cli-config-'));

function sixgate(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('sixgate config', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('check: a valid file exits 0', () => {
    const r = sixgate('config', 'check', file('ok.yaml', 'uplink: eth0\nnat66: true\nmetricsListen: "[::1]:9464"\nhostPortRange: [61000, 61999]\n'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid \(4 keys set\)/);
  });

  test('check: an invalid file exits 2 with file:line:column and the key', () => {
    const path = file('bad.yaml', 'uplink: eth0\n# comment\nretryMaxMs: soon\n');
    const r = sixgate('config', 'check', path);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), `${path}:3:13: retryMaxMs: must be integer`);
    const unknown = sixgate('config', 'check', file('unknown.yaml', 'uplink: eth0\nuplinks: [eth1]\n'));
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown\.yaml:2:1: unknown key "uplinks"/);
    const missing = sixgate('config', 'check', join(dir, 'nope.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.yaml: cannot read the configuration: ENOENT/);
  });

  test('check without a file is a usage error (2)', () => {
    assert.equal(sixgate('config', 'check').code, 2);
  });

  test('options lists every key with its flag and variable', () => {
    const r = sixgate('config', 'options');
    assert.equal(r.code, 0);
    for (const o of OPTIONS) assert.match(r.stdout, new RegExp(`^${o.key}\\t${o.flag.replace(/[[\]]/g, '\\$&')}\\t${o.env}\\t`, 'm'));
  });
});
