// The command line as a whole, as a newcomer meets it: a usage error is one
// line and a pointer to the help (exit 2), never the whole help; an unknown
// command says so; errors go to stderr and stdout stays clean.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';

const CLI = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function sixgate(...args: string[]) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIXGATE_')));
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, env: clean });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sixgate usage errors', () => {
  const cases: [string[], RegExp, string][] = [
    [['frobnicate'], /^error: unknown command 'frobnicate'$/, 'sixgate help'],
    [['help', 'frobnicate'], /^error: unknown command 'frobnicate'$/, 'sixgate help'],
    [['help', 'ndp', 'frobnicate'], /^error: unknown command 'ndp frobnicate'$/, 'sixgate help ndp'],
    [['run', '--bogus'], /^error: unknown option '--bogus'$/, 'sixgate help run'],
    [['--uplink'], /^error: option '--uplink <ifname>' argument missing$/, 'sixgate help run'],
    [['nat', '--nope'], /^error: unknown option '--nope'$/, 'sixgate help nat'],
    [['ndp', 'sessions', '--nope'], /^error: unknown option '--nope'$/, 'sixgate help ndp sessions'],
    [['ipv6nat', '-nope'], /^error: unknown option '-nope'$/, 'sixgate help ipv6nat'],
    [['run', '--log-format', 'xml'], /^error: option '--log-format <format>' argument 'xml' is invalid/, 'sixgate help run'],
  ];
  for (const [args, message, help] of cases) {
    test(`sixgate ${args.join(' ')}: one line, see '${help}', exit 2`, () => {
      const r = sixgate(...args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 2, r.stderr);
      assert.match(lines[0]!, message);
      assert.equal(lines[1], `see '${help}'`);
    });
  }
});

describe('sixgate help', () => {
  test('help, help COMMAND and help COMMAND SUBCOMMAND print to stdout and exit 0', () => {
    for (const [args, usage] of [[[], 'Usage: sixgate [options] [command]'], [['ndp'], 'Usage: sixgate ndp [options] [command]'],
      [['ndp', 'sessions'], 'Usage: sixgate ndp sessions [options]']] as const) {
      const r = sixgate('help', ...args);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(usage), r.stdout.slice(0, 200));
    }
  });

  test('-v has one meaning: every command that takes it says debug, -vv trace', () => {
    for (const cmd of ['run', 'nat', 'ndp', 'lab']) {
      const r = sixgate('help', cmd);
      assert.match(r.stdout.replace(/\s+/g, ' '), /-v, --verbose .*-v debug.*-vv trace/, cmd);
    }
    assert.match(sixgate('help').stdout.replace(/\s+/g, ' '), /-v means debug for every command/);
  });

  test("docker-ipv6nat's flags, with Go's -help and -h", () => {
    for (const flag of ['-help', '--help', '-h', '-help=true']) {
      const r = sixgate('ipv6nat', flag);
      assert.equal(r.code, 0, `${flag}: ${r.stderr}`);
      assert.ok(r.stdout.startsWith('Usage: sixgate ipv6nat [options]'), flag);
    }
  });
});
