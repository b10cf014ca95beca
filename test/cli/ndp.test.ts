import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { jsonLogs } from '../support/process.js';
import { requires } from '../support/prereq.js';
import { Lab } from '../support/netns.js';

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

  test('a missing file and a bad --na-source, --kernel-answers or --address are configuration errors', () => {
    assert.equal(sixgate('ndp', '-t', '-c', join(dir, 'nope.conf')).code, 2);
    const path = file('ok2.conf', 'proxy eth0 {\n  rule ::1 { static }\n}\n');
    const badSource = sixgate('ndp', '-t', '-c', path, '--na-source', 'router');
    assert.equal(badSource.code, 2);
    assert.ok(badSource.lines.some((l) => /--na-source/.test(String(l.msg))));
    const badKernel = sixgate('ndp', '-t', '-c', path, '--kernel-answers', 'on');
    assert.equal(badKernel.code, 2);
    assert.ok(badKernel.lines.some((l) => /--kernel-answers must be auto or off/.test(String(l.msg))));
    assert.equal(sixgate('ndp', '-t', '-c', path, '--kernel-answers', 'off').code, 0);
    assert.equal(sixgate('ndp', '-t', '-c', path, '--address', 'eth0=zz::1').code, 2);
    assert.equal(sixgate('ndp', '-t', '-c', path, '--address', 'eth0=2001:db8::1').code, 0);
  });

  test('-vv is accepted as ndppd spells it', () => {
    const path = file('ok3.conf', 'proxy eth0 {\n  rule ::1 { static }\n}\n');
    assert.equal(sixgate('ndp', '-vv', '-t', '-c', path).code, 0);
  });
});

// As ndppd -d, the detached daemon logs to syslog. The syslog socket here is a
// receiver of the test's own, at /dev/log of a private mount namespace (a tmpfs
// over /dev), so the host's logging is neither needed nor touched.
describe('sixgate ndp -d logs to syslog', requires({ root: true, tools: ['ip', 'nsenter', 'unshare', 'logger', 'python3', 'mknod'] }), () => {
  test('a placeholder file: the warning and the start reach /dev/log with their syslog priorities', async () => {
    const lab = new Lab();
    const tmp = mkdtempSync(join(tmpdir(), 'sixgate-cli-ndpd-'));
    try {
      const ns = lab.ns('ndpd');
      const conf = join(tmp, 'placeholder.conf');
      writeFileSync(conf, '# nothing proxied yet\n');
      const pidfile = join(tmp, 'ndpd.pid');
      const receiver = [
        'import socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/dev/log"); s.settimeout(15)',
        'open("/dev/log.ready", "w").close()',
        'while True:',
        '    d = s.recv(65536).decode(); print(d, flush=True)',
        '    if "sixgate ndp running" in d: break',
      ].join('\n');
      const script = [
        'mount -t tmpfs none /dev && mknod -m 666 /dev/null c 1 3 || exit 9',
        `python3 -c '${receiver}' & recv=$!`,
        'while [ ! -e /dev/log.ready ]; do sleep 0.05; done',
        `"$@" ndp -d -p ${pidfile} -c ${conf} --control-socket ${join(tmp, 'ndpd.sock')} || exit 8`,
        'wait $recv; code=$?',
        `kill $(cat ${pidfile}); exit $code`,
      ].join('\n');
      const r = await ns.run('unshare', ['-m', 'sh', '-c', script, 'sh', process.execPath, CLI], 30_000);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // user facility (1): <12> is warning, <14> info; the tag names the program.
      assert.match(r.stdout, /^<12>.*sixgate-ndp: WARN +no proxy section: answering nothing/m);
      assert.match(r.stdout, /^<14>.*sixgate-ndp: INFO +sixgate ndp running pid=\d+/m);
      // The foreground part says where the daemon went, as ndppd does on the terminal.
      assert.match(r.stderr, /INFO +sixgate ndp detached pid=\d+/);
    } finally {
      lab.destroy();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
