// `sixgate run` without a network: option parsing, precedence as the
// daemon would see it (--print-config), exit codes. The daemon itself is
// tested against a real engine in test/service/daemon.test.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { repoRoot } from '../support/paths.js';
import { requires } from '../support/prereq.js';
import { Lab } from '../support/netns.js';
import { waitFor } from '../support/wait.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sixgate-cli-run-'));

/** The daemon is still running; SIGTERM makes it exit with 0 (`output`: all it printed, for the failure message). */
async function assertRunningThenExits0OnSigterm(child: ChildProcess, output: () => string): Promise<void> {
  assert.equal(child.exitCode, null);
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.equal(((await exited) as [number | null])[0], 0, output());
}

function sixgate(args: string[], env: NodeJS.ProcessEnv = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIXGATE_')));
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...clean, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Printed {
  config: Record<string, unknown>;
  sources: Record<string, string>;
  file: string | null;
}

describe('sixgate run (no network needed)', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('flag > env > file > default, and run is the default command', () => {
    const file = join(dir, 'sixgate.yaml');
    writeFileSync(file, 'uplink: file0\ntun: tunfile\naddressMode: host\nndp: false\n');
    const env = { SIXGATE_TUN: 'tunenv', SIXGATE_ADDRESS_MODE: 'dedicated', SIXGATE_CONFIG: file };
    for (const argv of [['run', '--print-config', '--address-mode', 'auto', '--ndp'], ['--print-config', '--address-mode', 'auto', '--ndp']]) {
      const r = sixgate(argv, env);
      assert.equal(r.code, 0, r.stderr);
      const p = JSON.parse(r.stdout) as Printed;
      assert.equal(p.file, file);
      assert.deepEqual([p.config.uplink, p.config.tun, p.config.addressMode, p.config.ndp, p.config.logLevel], ['file0', 'tunenv', 'auto', true, 'info']);
      assert.deepEqual([p.sources.uplink, p.sources.tun, p.sources.addressMode, p.sources.ndp, p.sources.logLevel], ['file', 'env', 'flag', 'flag', 'default']);
    }
    const off = JSON.parse(sixgate(['--print-config', '--no-nat66', '--cleanup', '--host-port-range', '62000-62099']).stdout) as Printed;
    assert.deepEqual([off.config.nat66, off.config.cleanup, off.config.hostPortRange], [false, true, [62000, 62099]]);
  });

  test('usage and configuration errors exit 2 and name the problem', () => {
    const unknown = sixgate(['run', '--bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--bogus'/);
    const choice = sixgate(['run', '--docker-ip6tables', 'maybe']);
    assert.equal(choice.code, 2);
    assert.match(choice.stderr, /--docker-ip6tables <mode>' argument 'maybe' is invalid/);
    const badFlag = sixgate(['run', '--print-config', '--capacity', 'lots']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stdout + badFlag.stderr, /--capacity: expected an integer/);
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'uplink: eth0\nlogLevel: loud\n');
    const bad = sixgate(['run', '-c', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stdout, new RegExp(`${file.replace(/[.]/g, '\\.')}:2:11: logLevel: must be one of`));
    const env = sixgate(['run', '--print-config'], { SIXGATE_RETRY_MAX_MS: '5' });
    assert.equal(env.code, 2);
    assert.match(env.stdout, /SIXGATE_RETRY_MAX_MS: expected an integer in 100\.\.600000/);
  });

  test('help says which options a SIGHUP cannot change', () => {
    const r = sixgate(['run', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.replace(/\s+/g, ' '), /SIGHUP re-reads the configuration .* Changes to --uplink, .*--tun, --state-file, .* need a restart/);
  });

  test('a bad Docker endpoint is a configuration error (2) before anything is touched', () => {
    const r = sixgate(['run', '--docker-host', 'ssh://host'], {});
    assert.equal(r.code, 2);
    assert.match(r.stdout + r.stderr, /docker-host/);
  });
});

describe('sixgate run keeps serving what it can', requires({ root: true, tools: ['ip', 'nsenter'] }), () => {
  test('SIGHUP re-reads the file: an invalid one is one error line and changes nothing; live options apply, the others wait for a restart', async () => {
    const lab = new Lab();
    const hupDir = mkdtempSync(join(tmpdir(), 'sixgate-cli-hup-'));
    const file = join(hupDir, 'hup.yaml');
    writeFileSync(file, 'addressMode: auto\ntun: tunone\n');
    try {
      const ns = lab.ns('hup');
      const child = ns.spawn(process.execPath, [CLI, 'run', '-c', file, '--uplink', 'nosuch0', '--docker-host', `unix:///tmp/${ns.name}-none.sock`,
        '--status-file', `/tmp/${ns.name}-status.json`, '--retry-max-ms', '200']);
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      // The signal handlers are in place once the feed has tried the engine.
      await waitFor(() => out.includes('cannot sync with the Docker engine'), 15_000, `started:\n${out}`, 20);
      writeFileSync(file, 'addressMode: sometimes\n');
      child.kill('SIGHUP');
      await waitFor(() => out.includes('configuration not reloaded'), 10_000, `an error line:\n${out}`, 20);
      const errors = out.split('\n').filter((l) => l.includes('configuration not reloaded'));
      assert.equal(errors.length, 1, out);
      assert.match(errors[0]!, new RegExp(`${file.replace(/[.]/g, '\\.')}:1:\\d+: addressMode: must be one of`));
      writeFileSync(file, 'addressMode: host\ntun: tuntwo\n');
      child.kill('SIGHUP');
      await waitFor(() => out.includes('configuration reloaded'), 10_000, `a reload line:\n${out}`, 20);
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; changed?: string[]; needRestart?: string[] });
      assert.deepEqual(lines.find((l) => l.msg === 'configuration reloaded')?.changed, ['addressMode']);
      assert.deepEqual(lines.find((l) => /need a restart/.test(l.msg))?.needRestart, ['tun']);
      await assertRunningThenExits0OnSigterm(child, () => out);
    } finally {
      lab.destroy();
      rmSync(hupDir, { recursive: true, force: true });
    }
  });

  test('an uplink that does not exist and no engine: one line each, still running, SIGTERM exits 0', async () => {
    const lab = new Lab();
    try {
      const ns = lab.ns('run');
      const child = ns.spawn(process.execPath, [CLI, 'run', '--uplink', 'nosuch0', '--docker-host', `unix:///tmp/${ns.name}-none.sock`,
        '--status-file', `/tmp/${ns.name}-status.json`, '--retry-max-ms', '200']);
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      await waitFor(() => out.includes('cannot sync with the Docker engine'), 15_000, `a retry line:\n${out}`, 20);
      assert.equal(out.split('\n').filter((l) => l.includes('uplink nosuch0 does not exist')).length, 1, out);
      assert.match(out, /NDP proxy not running: sixgate run: interface nosuch0: .*no such device/);
      await assertRunningThenExits0OnSigterm(child, () => out);
    } finally {
      lab.destroy();
    }
  });
});
