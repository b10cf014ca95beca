// The repository stands on its own: a clone with nothing beside it builds and
// passes its tests. A scan of every text file the project ships for paths
// that leave the repository (or cite notes that are not in it); the test
// captures each documented (origin, licence) and unchanged; and a few
// capture-reading suites run from a copy in an empty temporary directory,
// where any read outside the copy fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, relative } from 'node:path';
import { capturesDir, repoRoot } from './support/paths.js';

const SCANNED = ['src', 'test', 'bench', 'docs', 'scripts', 'native', 'systemd', '.ci', 'README.md', 'package.json', 'Dockerfile'];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'build', 'decoded']);
const BINARY = new Set(['.pcap', '.pcapng', '.node', '.wasm']);

/** Every text file under the scanned roots, as paths relative to the repository. */
function projectFiles(): string[] {
  const files: string[] = [];
  const walk = (path: string): void => {
    let stat;
    try { stat = statSync(path); } catch { return; } // a root this checkout does not have
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) if (!SKIPPED_DIRS.has(entry)) walk(join(path, entry));
    } else if (!BINARY.has(extname(path))) {
      files.push(relative(repoRoot, path));
    }
  };
  for (const root of SCANNED) walk(join(repoRoot, root));
  return files;
}

const LEAVING = [
  { what: 'the shared folder beside the repository', pattern: /\.\.\/shared\b/ },
  { what: 'an absolute path on a development machine', pattern: /\/work\// },
  { what: 'a path built above the repository root', pattern: /(?:join|resolve)\(\s*repoRoot\s*,\s*'\.\.'/ },
];

test('no file reads or cites a path outside the repository', () => {
  const files = projectFiles();
  assert.ok(files.length > 100, `${files.length} files scanned`);
  const found: string[] = [];
  for (const file of files) {
    readFileSync(join(repoRoot, file), 'utf8').split('\n').forEach((line, i) => {
      for (const { what, pattern } of LEAVING) if (pattern.test(line)) found.push(`${file}:${i + 1}: ${what}`);
    });
  }
  assert.deepEqual(found, []);
});

test('every note a file cites (*.md) is in the repository', () => {
  const notes = new Set(projectFiles().filter((f) => f.endsWith('.md')).map((f) => basename(f)));
  const missing: string[] = [];
  for (const file of projectFiles()) {
    readFileSync(join(repoRoot, file), 'utf8').split('\n').forEach((line, i) => {
      for (const [cited] of line.matchAll(/[\w./-]+\.md\b/g)) {
        if (!/^https?:|\/\//.test(cited) && !notes.has(basename(cited))) missing.push(`${file}:${i + 1}: ${cited}`);
      }
    });
  }
  assert.deepEqual(missing, []);
});

test('every capture has its origin in the README and its hash in SHA256SUMS', () => {
  const readme = readFileSync(join(capturesDir, 'README.md'), 'utf8');
  const listed = new Map(readFileSync(join(capturesDir, 'SHA256SUMS'), 'utf8').trim().split('\n').map((line) => {
    const [hash, name] = line.split(/\s+/);
    return [name!, hash!] as const;
  }));
  const captures = readdirSync(capturesDir).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
  assert.deepEqual([...listed.keys()].sort(), captures);
  for (const file of captures) {
    assert.ok(readme.includes(`| ${file} |`), `${file} has no row in the README`);
    assert.equal(createHash('sha256').update(readFileSync(join(capturesDir, file))).digest('hex'), listed.get(file), `${file} changed`);
  }
});

test('capture-reading suites pass from a copy with nothing beside it', { timeout: 60_000 }, () => {
  const parent = mkdtempSync(join(tmpdir(), 'sgt-standalone-'));
  try {
    const copy = join(parent, 'sixgate');
    cpSync(join(repoRoot, 'dist'), join(copy, 'dist'), { recursive: true });
    cpSync(capturesDir, join(copy, relative(repoRoot, capturesDir)), { recursive: true });
    cpSync(join(repoRoot, 'package.json'), join(copy, 'package.json'));
    symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));

    const where = spawnSync(process.execPath, ['--input-type=module', '-e',
      "const { capturesDir } = await import('./dist/test/support/paths.js'); console.log(capturesDir);"], { cwd: copy, encoding: 'utf8' });
    assert.equal(where.stdout.trim(), join(copy, 'test', 'fixtures', 'captures'), where.stderr);

    const suites = ['wire/icmpv6', 'wire/ndp', 'pcap/reader'].map((s) => `dist/test/${s}.test.js`);
    // Without NODE_TEST_CONTEXT the child reports in TAP, not to this runner.
    const env = { ...process.env, NODE_TEST_CONTEXT: undefined };
    const run = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=tap', ...suites], { cwd: copy, encoding: 'utf8', env });
    assert.equal(run.status, 0, run.stdout.split('\n').filter((l) => /not ok|Error|ENOENT/.test(l)).join('\n'));
    assert.match(run.stdout, /# pass [1-9]\d*\n# fail 0/);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
