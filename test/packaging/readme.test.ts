// The README's two commands, tried as a new user would: a fresh clone of the
// committed tree, the first command exactly as written (it sets up and runs
// sixgate in the lab until Ctrl-C), nothing else. The second command is the
// one CI runs on the whole tree (.ci/run), so here it is only held to that.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
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

  test('a fresh clone and the first command: sixgate runs in the lab, all checks green, Ctrl-C leaves nothing', { timeout: 300_000 }, async () => {
    const clone = join(dir, 'sixgate');
    execFileSync('git', ['clone', '--quiet', repoRoot, clone]);
    const child = spawn('sh', ['-c', readmeCommands()[0]!], { cwd: clone, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })));
    const green = await new Promise<boolean>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /(\d+)\/(\d+) checks passed/.exec(stdout);
        if (m) resolve(m[1] === m[2]);
      });
      void exited.then(() => resolve(false));
    });
    process.kill(-child.pid!, 'SIGINT');
    const { code, signal } = await exited;
    assert.ok(green, `checklist not all green:\n${stdout}\n${stderr.slice(-3000)}`);
    // The shell running the user's line dies of the Ctrl-C it shares with its children,
    // as it does at a terminal; what matters is that the lab removed itself.
    assert.ok(code === 0 || signal === 'SIGINT', `code ${code} signal ${signal}\n${stderr.slice(-3000)}`);
    assert.deepEqual(labNamespaces(), []);
    assert.equal(existsSync('/run/sixgate-lab'), false);
  });
});
