// `sixgate run` without a network: option parsing, precedence as the
// daemon would see it (--print-config), exit codes. The daemon itself is
// tested against a real engine in test/service/daemon.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { repoRoot } from '../support/paths.js';
import { requires } from '../support/prereq.js';
import { Lab, type Netns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { jsonLogs } from '../support/process.js';

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
    // One line on stderr (text by default), nothing on stdout.
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(bad.stderr, new RegExp(`^\\S+ ERROR ${file.replace(/[.]/g, '\\.')}:2:11: logLevel: must be one of.* code=SIXGATE_ERR_CONFIG$`, 'm'));
    const env = sixgate(['run', '--print-config'], { SIXGATE_RETRY_MAX_MS: '5', SIXGATE_LOG_FORMAT: 'json' });
    assert.equal(env.code, 2);
    assert.equal(env.stdout, '');
    assert.match((JSON.parse(env.stderr) as { msg: string }).msg, /SIXGATE_RETRY_MAX_MS: expected an integer in 100\.\.600000/);
  });

  test('help says which options a SIGHUP cannot change', () => {
    const r = sixgate(['run', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.replace(/\s+/g, ' '), /SIGHUP re-reads the configuration .* Changes to --uplink, .*--tun, .*--state-file, .* need a restart/);
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
      lab.veth(ns, 'up0', lab.ns('peer'), 'down0');
      const child = ns.spawn(process.execPath, [CLI, 'run', '-c', file, '--uplink', 'up0', ...noEngine(ns.name)], { env: jsonLogs() });
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

  test('--wait-uplink: an uplink that appears a second later is waited for, then served; no engine is a run-time failure it retries', async () => {
    const lab = new Lab();
    try {
      const ns = lab.ns('wait');
      const child = ns.spawn(process.execPath, [CLI, 'run', '--uplink', 'up0', '--wait-uplink', '20', ...noEngine(ns.name)]);
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      await waitFor(() => out.includes('waiting for the uplink: uplink up0 does not exist'), 10_000, `waiting:\n${out}`, 20);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(child.exitCode, null, out);
      lab.veth(ns, 'up0', lab.ns('peer'), 'down0');
      await waitFor(() => out.includes('cannot sync with the Docker engine'), 15_000, `started:\n${out}`, 20);
      assert.match(out, /INFO +sixgate starting uplink=up0/);
      assert.doesNotMatch(out, /ERROR/);
      await assertRunningThenExits0OnSigterm(child, () => out);
    } finally {
      lab.destroy();
    }
  });
});

/** No Docker engine, and the daemon's files in /tmp, named after the namespace. */
function noEngine(ns: string): string[] {
  return ['--docker-host', `unix:///tmp/${ns}-none.sock`, '--status-file', `/tmp/${ns}-status.json`,
    '--control-socket', `/tmp/${ns}-control.sock`, '--retry-max-ms', '200'];
}

describe('sixgate run (and nat) fail fast on what they cannot repair: one line saying what to do, exit 1', requires({ root: true, tools: ['ip', 'nsenter', 'setpriv', 'unshare'] }), () => {
  let lab: Lab;
  let ns: Netns;
  before(() => {
    lab = new Lab();
    ns = lab.ns('fast');
    lab.veth(ns, 'up0', lab.ns('peer'), 'down0');
  });
  after(() => lab?.destroy());

  async function failsWith(cmd: string, args: string[], message: RegExp): Promise<void> {
    const r = await ns.run(cmd, args, 20_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, message);
  }

  test('a mistyped uplink', async () => {
    await failsWith(process.execPath, [CLI, 'run', '--uplink', 'up9', ...noEngine(ns.name)],
      /ERROR +uplink up9 does not exist: check the name with `ip link`; at boot, --wait-uplink SECONDS waits for it code=SIXGATE_ERR_HOST_SETUP$/);
  });

  test('sixgate nat: a mistyped uplink, and the capabilities', async () => {
    const file = `/tmp/${ns.name}-nat.yaml`;
    writeFileSync(file, 'uplink: up9\nnetworks:\n  - { name: web, bridge: br0, subnets: [fd66:1::/64] }\n');
    const args = [CLI, 'nat', '-c', file, '--control-socket', `/tmp/${ns.name}-nat.sock`];
    try {
      await failsWith(process.execPath, args, /ERROR +uplink up9 does not exist: check the name with `ip link`; at boot, --wait-uplink SECONDS waits for it/);
      await failsWith('setpriv', ['--bounding-set', '-net_admin', process.execPath, ...args], /ERROR +CAP_NET_ADMIN is missing /);
    } finally {
      rmSync(file, { force: true });
    }
  });

  test('an uplink still missing after --wait-uplink', async () => {
    const r = await ns.run(process.execPath, [CLI, 'run', '--uplink', 'up9', '--wait-uplink', '1', ...noEngine(ns.name)], 20_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /ERROR +uplink up9 does not exist: check the name with `ip link` \(waited 1 s\)/);
  });

  test('without CAP_NET_ADMIN and CAP_NET_RAW (dropped with setpriv)', async () => {
    await failsWith('setpriv', ['--bounding-set', '-net_admin,-net_raw', process.execPath, CLI, 'run', '--uplink', 'up0', ...noEngine(ns.name)],
      /ERROR +CAP_NET_ADMIN and CAP_NET_RAW are missing .*: run it as root, or grant them \(systemd AmbientCapabilities=.*docker --cap-add NET_ADMIN --cap-add NET_RAW\)/);
    await failsWith('setpriv', ['--bounding-set', '-net_raw', process.execPath, CLI, 'run', '--uplink', 'up0', ...noEngine(ns.name)],
      /ERROR +CAP_NET_RAW is missing /);
  });

  test('without /dev/net/tun (hidden in a mount namespace) while NAT66 is on', async () => {
    const hideTun = ['-m', 'sh', '-c', 'mount -t tmpfs none /dev/net && exec "$@"', 'sh'];
    await failsWith('unshare', [...hideTun, process.execPath, CLI, 'run', '--uplink', 'up0', ...noEngine(ns.name)],
      /ERROR +\/dev\/net\/tun is missing or not accessible: load the tun module \(modprobe tun\)/);
  });
});
