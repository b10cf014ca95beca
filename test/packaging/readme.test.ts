// The README's two commands, tried as a new user would: a fresh clone of the
// committed tree, the first command exactly as written (it sets up, puts
// `sixgate` on PATH and runs it in the lab until Ctrl-C), then every command
// the lab prints to copy, as printed, nothing else. npm's global prefix is a
// directory of the test's (the host's own bin directory is not touched). The
// second command is the one CI runs on the whole tree (.ci/run), so here it
// is only held to that.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requires } from '../support/prereq.js';
import { repoRoot } from '../support/paths.js';

/** The commands of the first ```sh block under "## Try it", comments stripped. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Try it'));
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'README has a ```sh block under "## Try it"');
  return block[1]!.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l !== '');
}

/** The commands under "Poke at it", comments stripped (not the lines naming files). */
function printedCommands(stdout: string): string[] {
  const start = stdout.indexOf('Poke at it');
  const end = stdout.indexOf('The lab runs until Ctrl-C');
  return stdout.slice(start, end).split('\n').slice(1)
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '' && !/^(configs?|logs):/.test(l));
}

const labNamespaces = (): string[] =>
  execFileSync('ip', ['-o', 'netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('sglab-'));

describe('README, as a new user', requires({ root: true, tools: ['git', 'npm', 'ip', 'nsenter'], files: ['/dev/net/tun'] }), () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-readme-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('names two commands, and the second is what CI runs', () => {
    const commands = readmeCommands();
    assert.equal(commands.length, 2, commands.join(' | '));
    const ci = readFileSync(join(repoRoot, '.ci/run'), 'utf8').trim().split('\n').at(-1);
    assert.equal(commands[1], ci);
  });

  test('a fresh clone and the first command: sixgate on PATH runs in the lab, all checks green, what it prints works, Ctrl-C leaves nothing', { timeout: 300_000 }, async () => {
    const clone = join(dir, 'sixgate');
    const prefix = join(dir, 'npm-global');
    execFileSync('git', ['clone', '--quiet', repoRoot, clone]);
    const env = { ...process.env, npm_config_prefix: prefix, PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}` };
    const child = spawn('sh', ['-c', readmeCommands()[0]!], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })));
    const green = await new Promise<boolean>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /(\d+)\/(\d+) checks passed/.exec(stdout);
        if (m && stdout.includes('The lab runs until Ctrl-C')) resolve(m[1] === m[2]);
      });
      void exited.then(() => resolve(false));
    });
    const failed: string[] = [];
    try {
      for (const command of printedCommands(stdout)) {
        const r = spawnSync('sh', ['-c', command], { env, encoding: 'utf8', timeout: 30_000 });
        if (r.status !== 0) failed.push(`${command}: exit ${r.status}\n${r.stdout}${r.stderr}`);
      }
    } finally {
      // Ctrl-C, unless the command has already ended (the assertions below say why).
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGINT');
    }
    const { code, signal } = await exited;
    assert.ok(green, `checklist not all green:\n${stdout}\n${stderr.slice(-3000)}`);
    assert.ok(printedCommands(stdout).some((c) => c.startsWith('sixgate ')), `the lab prints sixgate commands to copy:\n${stdout}`);
    assert.deepEqual(failed, []);
    // The shell running the user's line dies of the Ctrl-C it shares with its children,
    // as it does at a terminal; what matters is that the lab removed itself.
    assert.ok(code === 0 || signal === 'SIGINT', `code ${code} signal ${signal}\n${stderr.slice(-3000)}`);
    assert.deepEqual(labNamespaces(), []);
    assert.equal(existsSync('/run/sixgate-lab'), false);
  });
});
