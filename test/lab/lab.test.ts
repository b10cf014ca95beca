// `sixgate lab` as a user runs it: the built CLI as a child process, the
// checklist read from its stdout, and afterwards nothing of the lab left:
// no namespace, process or mount, and the root namespace's links,
// addresses, routes, rules and forwarding sysctls exactly as before.
// The static lab always; the Docker engine lab where docker.io and
// busybox-static are installed (CI installs both).
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requires } from '../support/prereq.js';
import { runProcess, type Run } from '../support/process.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const LAB_DIR = '/run/sixgate-lab';
/** Checks per engine: the Docker engine lab adds its macvlan container's. */
const CHECKS = { static: 5, 'Docker engine': 6 } as const;
const NOBODY = 65534;

const req = requires({ root: true, tools: ['ip', 'nsenter'], files: ['/dev/net/tun'] });
const dockerReq = requires({ root: true, tools: ['ip', 'nsenter', 'dockerd', 'containerd', 'runc', 'busybox', 'tar'], files: ['/dev/net/tun'] });

function cli(args: readonly string[], timeoutMs = 90_000, uid?: number, env?: NodeJS.ProcessEnv): Promise<Run> {
  return runProcess(process.execPath, [CLI, ...args], { timeoutMs, uid, env: env === undefined ? undefined : { ...process.env, ...env } });
}

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

/** The root namespace as a user would compare it, minus the clocks (address and route lifetimes count down). */
function rootState(): Record<string, string> {
  const lifetimes = (s: string): string => s.replace(/(valid_lft|preferred_lft) \S+/g, '$1 -').replace(/expires \d+sec/g, 'expires -');
  return {
    links: ip('link', 'show'),
    addresses: lifetimes(ip('addr', 'show')),
    routes6: lifetimes(ip('-6', 'route', 'show', 'table', 'all')),
    routes4: ip('-4', 'route', 'show', 'table', 'all'),
    rules6: ip('-6', 'rule', 'show'),
    forwarding: ['ipv6/conf/all/forwarding', 'ipv6/conf/default/forwarding', 'ipv4/ip_forward']
      .map((k) => `${k}=${readFileSync(`/proc/sys/net/${k}`, 'utf8').trim()}`).join('\n'),
  };
}

const labNamespaces = (): string[] => ip('-o', 'netns', 'list').split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('sglab-'));

/** Live processes that belong to a lab: run from its directory, its probes, its containers' sleepers. */
function labProcesses(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { continue; }
    if (cmd.includes(LAB_DIR) || cmd.includes('lab/probe.js') || cmd.includes('sleep 999999999')) out.push(`${pid} ${cmd}`);
  }
  return out;
}

function netnsOf(pid: string): string {
  try { return readlinkSync(`/proc/${pid}/ns/net`); } catch { return ''; }
}

/** Asserts that no trace of a lab is left and the root namespace is as `before`. */
function assertNothingLeft(before: Record<string, string>): void {
  assert.deepEqual(labNamespaces(), [], 'lab namespaces left');
  assert.deepEqual(labProcesses(), [], 'lab processes left');
  assert.equal(existsSync(LAB_DIR), false, `${LAB_DIR} left`);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(LAB_DIR), 'mounts under the lab directory left');
  const now = rootState();
  for (const key of Object.keys(before)) assert.equal(now[key], before[key], `root namespace ${key} changed`);
}

function assertAllGreen(r: Run, engine: keyof typeof CHECKS): void {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  const green = r.stdout.split('\n').filter((l) => l.startsWith('✓ '));
  assert.equal(green.length, CHECKS[engine], r.stdout);
  assert.doesNotMatch(r.stdout, /^✗/m);
  assert.match(r.stdout, new RegExp(`building the ${engine} lab`));
  assert.match(r.stdout, /✓ NS for 2001:db8:1:0:d0c::\S+ \(container glob1\) answered by sixgate \([\d.]+ ms cold/);
  assert.match(r.stdout, /✓ outbound NAT: container client \S+ → internet seen as 2001:db8:1::5167:[0-9a-f]+ \(/);
  assert.match(r.stdout, /✓ published port 8080 → container web .* client address 2001:db8:2::2 preserved/);
  assert.match(r.stdout, /✓ hairpin: /);
  if (engine === 'Docker engine') assert.match(r.stdout, /✓ macvlan: sglab-host → container lan1 \[2001:db8:3:0:1:\S*\]:80 through sixgate's shim, client address 2001:db8:3::2 /);
  assert.match(r.stdout, new RegExp(`${CHECKS[engine]}/${CHECKS[engine]} checks passed`));
  assert.match(r.stdout, /^lab removed$/m);
}

/** Runs `fn` with a PATH holding only `tools` (links to the real ones). */
async function withPath<T>(tools: readonly string[], fn: (path: string) => Promise<T>): Promise<T> {
  const bin = mkdtempSync(join(tmpdir(), 'sglab-path-'));
  try {
    for (const tool of tools) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
    return await fn(bin);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

/** The checklist with its timings, into the test report. */
function report(t: TestContext, title: string, stdout: string): void {
  t.diagnostic(title);
  for (const l of stdout.split('\n').filter((x) => /^[✓✗]|checks passed|up in/.test(x))) t.diagnostic(`  ${l.trim()}`);
}

describe('sixgate lab', { ...req, timeout: 170_000 }, () => {
  after(async () => {
    // Whatever a failed test left.
    if (req.skip === undefined) await cli(['lab', '--down'], 60_000);
  });

  test('without root it says so and what to do', async (t) => {
    // The unprivileged user must be able to read the checkout (not so under a private home directory).
    const probe = await new Promise<number | null>((resolve) => {
      const c = spawn(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(CLI)})`], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
      c.once('error', () => resolve(-1));
      c.once('close', resolve);
    });
    if (probe !== 0) {
      t.skip(`uid ${NOBODY} cannot read ${CLI}`);
      return;
    }
    const r = await cli(['lab', '--check'], 20_000, NOBODY);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sixgate lab needs root \(it creates network namespaces\): run it with sudo/);
    assert.equal(r.stdout, '');
  });

  test('without the ip command it names the Debian package', async () => {
    const r = await withPath(['sh', 'nsenter'], (PATH) => cli(['lab', '--check'], 20_000, undefined, { PATH }));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sixgate lab needs the ip command: apt-get install iproute2/);
  });

  test('with nothing but sh, ip, nsenter and umount on PATH: no Docker, says why, and the static lab is all green', async () => {
    const before = rootState();
    const r = await withPath(['sh', 'ip', 'nsenter', 'umount'], (PATH) => cli(['lab', '--check'], 90_000, undefined, { PATH }));
    assert.match(r.stdout, /^sixgate lab: static lab \(docker\.io is not installed \(no dockerd, containerd, runc\): apt-get install docker\.io/m);
    assertAllGreen(r, 'static');
    assertNothingLeft(before);
  });

  test('static lab: --check is all green; then --down finds nothing and the root namespace is unchanged', async (t) => {
    const before = rootState();
    const beforeProcs = labProcesses();
    assert.deepEqual(beforeProcs, [], 'a lab is already running here');
    const t0 = Date.now();
    const r = await cli(['lab', '--check', '--engine', 'static']);
    assertAllGreen(r, 'static');
    const down = await cli(['lab', '--down'], 60_000);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /no lab to remove/);
    assertNothingLeft(before);
    report(t, `static lab --check: ${Date.now() - t0} ms`, r.stdout);
  });

  test('--detach leaves the lab running (namespaces, sixgate in sglab-host); --down removes all of it', async () => {
    const before = rootState();
    const r = await cli(['lab', '--detach', '--engine', 'static']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /sixgate lab --down/);
    assert.deepEqual(labNamespaces().sort(), ['sglab-client', 'sglab-glob1', 'sglab-host', 'sglab-internet', 'sglab-router', 'sglab-web']);
    const host = statSync('/run/netns/sglab-host').ino;
    const sixgates = labProcesses().filter((p) => / nat -c | ndp -c /.test(p));
    assert.equal(sixgates.length, 2, labProcesses().join('\n'));
    for (const p of sixgates) assert.equal(netnsOf(p.split(' ')[0]!), `net:[${host}]`, 'sixgate runs in sglab-host');
    // A re-run replaces the running lab instead of colliding with it.
    const again = await cli(['lab', '--detach', '--engine', 'static']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /removed the previous lab \(6 namespaces/);
    const down = await cli(['lab', '--down'], 60_000);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /lab removed \(6 namespaces, \d+ processes/);
    assertNothingLeft(before);
  });

  test('the default (foreground) lab stays up until Ctrl-C, then removes itself', async () => {
    const before = rootState();
    const child = spawn(process.execPath, [CLI, 'lab', '--engine', 'static'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const end = Date.now() + 60_000;
    while (!stdout.includes('runs until Ctrl-C')) {
      assert.ok(Date.now() < end && child.exitCode === null, `no prompt:\n${stdout}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(stdout, /5\/5 checks passed/);
    assert.match(stdout, /ip netns exec sglab-internet (busybox )?ping/);
    assert.equal(labNamespaces().length, 6);
    child.kill('SIGINT');
    assert.equal(await exited, 0, stdout);
    assert.match(stdout, /SIGINT: removing the lab\.\.\.\nlab removed/);
    assertNothingLeft(before);
  });

  test('Docker engine lab: --check is all green; then nothing is left', dockerReq, async (t) => {
    const before = rootState();
    const t0 = Date.now();
    const r = await cli(['lab', '--check', '--engine', 'docker'], 150_000);
    assertAllGreen(r, 'Docker engine');
    const down = await cli(['lab', '--down'], 60_000);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /no lab to remove/);
    assertNothingLeft(before);
    report(t, `Docker engine lab --check: ${Date.now() - t0} ms`, r.stdout);
  });
});
