// `sixgate ipv6nat`: docker-ipv6nat's Go-style flags, and retry always on
// (bug B8: with docker-ipv6nat any appended argument dropped --retry).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { requires } from '../support/prereq.js';
import { Lab } from '../support/netns.js';
import { waitFor } from '../support/wait.js';
import { rewriteGoFlags } from '../../src/cli/ipv6nat.js';
import { jsonLogs } from '../support/process.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

describe('ipv6nat flag forms', () => {
  test('single dash, double dash and =bool forms are rewritten after the subcommand only', () => {
    const argv = ['node', 'main.js', 'ipv6nat', '-cleanup', '--retry', '-debug=true', '-version=false', '-retry=0', '--debug=1'];
    assert.deepEqual(rewriteGoFlags([...argv]), ['node', 'main.js', 'ipv6nat', '--cleanup', '--retry', '--debug', '--debug']);
    assert.deepEqual(rewriteGoFlags(['node', 'main.js', 'ndp', '-debug']), ['node', 'main.js', 'ndp', '-debug']);
    assert.deepEqual(rewriteGoFlags(['node', 'main.js', 'ipv6nat', '-other']), ['node', 'main.js', 'ipv6nat', '-other']);
  });

  test('-version prints the version and exits 0; stray arguments are a usage error (2)', () => {
    const v = spawnSync(process.execPath, [CLI, 'ipv6nat', '-version'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const bad = spawnSync(process.execPath, [CLI, 'ipv6nat', '-nope'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(bad.status, 2);
  });
});

describe('ipv6nat keeps retrying whatever flags are given (B8)', requires({ root: true, tools: ['ip', 'nsenter'] }), () => {
  test('-cleanup -debug with the engine missing: one line per backoff, still running; uplink from the default route; SIGTERM exits 0 with cleanup', async () => {
    const lab = new Lab();
    try {
      const ns = lab.ns('nat');
      lab.veth(ns, 'up0', lab.ns('peer'), 'down0');
      lab.addr(ns, 'up0', '2001:db8:9::2/64');
      ns.ip('-6', 'route', 'add', 'default', 'dev', 'up0');
      const socket = `/tmp/${ns.name}-no-docker.sock`;
      const child = ns.spawn(process.execPath, [CLI, 'ipv6nat', '-cleanup', '-debug'], {
        env: { ...jsonLogs(), DOCKER_HOST: `unix://${socket}`, SIXGATE_RETRY_MAX_MS: '200', SIXGATE_STATUS_FILE: `/tmp/${ns.name}-status.json` },
      });
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { out += d; });
      const retries = (): string[] => out.split('\n').filter((l) => l.includes('cannot sync with the Docker engine'));
      await waitFor(() => retries().length >= 3, 15_000, `three retry lines:\n${out}`, 20);
      assert.equal(child.exitCode, null, 'still running');
      assert.ok(retries().every((l) => l.includes(socket)), retries()[0]);
      assert.match(out, /"level":20/, 'debug lines (-debug)');
      assert.match(out, /"uplink":"up0"[^\n]*"msg":"sixgate starting"/, 'uplink from the default route');
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, out);
      assert.match(out, /"cleanup":true[^\n]*"msg":"shutting down"/);
    } finally {
      lab.destroy();
    }
  });
});
