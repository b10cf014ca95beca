// Local base images for building the Dockerfile with no registry: root
// filesystems assembled from the Debian packages installed on this machine
// (their files as `dpkg -L` lists them, with their dependency closure), fed
// to `docker import` of a namespaced engine (test/support/docker.ts).
//
// Why not debootstrap: it needs a Debian mirror and runs maintainer scripts;
// copying installed files is offline and streams both images into the engine
// in 8-11 s on a loaded 2-CPU machine. What maintainer scripts would have made
// is added by hand:
// /etc/passwd and /etc/group, the update-alternatives links (cc, c++, awk)
// and the dynamic linker's cache.
//
// Offline `npm ci`: the build image carries an npm cache holding exactly the
// tarballs package-lock.json names (copied by integrity from this machine's
// cache, which the `npm ci` before the tests filled), so the Dockerfile runs
// unchanged with `--build-arg NPM_CI_FLAGS=--offline`. One caveat: a lockfile
// written with omit-lockfile-registry-resolved has no `resolved` URLs, and npm
// then asks the registry for package metadata even offline; buildContext()
// writes the registry URLs npm would compute into the copy it builds from.
import { execFileSync, spawn } from 'node:child_process';
import { Agent, request } from 'undici';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DockerHost } from './docker.js';

/**
 * What the runtime base needs, as debian:bookworm-slim has it: a shell and
 * coreutils for RUN lines, the C++ runtime Node links to, and iproute2 (the
 * service runs `ip`; with it present the Dockerfile skips its apt-get).
 * Node itself comes from the build stage.
 */
export const RUNTIME_PACKAGES = ['dash', 'coreutils', 'libstdc++6', 'iproute2'];
/** What the build stage needs: node and npm, and node-gyp runs python3 and make, which run the compiler; strip is binutils'. */
export const BUILD_PACKAGES = ['nodejs', ...RUNTIME_PACKAGES, 'python3', 'make', 'gcc', 'g++', 'binutils', 'sed', 'grep', 'findutils'];
/** The lockfiles whose tarballs the build installs: the program's, and the Node the image runs. */
export const LOCKFILES = ['package-lock.json', 'packaging/node-runtime/package-lock.json'];

const NPM_TREE = '/usr/lib/node_modules/npm';
const SKIPPED_DIRS = ['/usr/share/doc/', '/usr/share/man/', '/usr/share/info/', '/usr/share/locale/', '/usr/share/lintian/', '/usr/share/bug/'];

interface Installed {
  depends: string[][];
}

/** Installed packages (name → alternatives groups of its Depends and Pre-Depends) and virtual names → providers. */
function installedPackages(): { packages: Map<string, Installed>; providers: Map<string, string> } {
  const out = execFileSync('dpkg-query', ['-W', '-f', '${Package}\t${db:Status-Abbrev}\t${Provides}\t${Pre-Depends}, ${Depends}\n'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const packages = new Map<string, Installed>();
  const providers = new Map<string, string>();
  const bare = (s: string): string => s.trim().replace(/\s*\(.*\)$/, '').replace(/:\w+$/, '');
  for (const line of out.split('\n')) {
    const [name, status, provides, deps] = line.split('\t');
    if (name === undefined || deps === undefined || !status.startsWith('ii')) continue;
    packages.set(name, {
      depends: deps.split(',').map((group) => group.split('|').map(bare).filter((n) => n !== '')).filter((g) => g.length > 0),
    });
    for (const p of provides.split(',').map(bare)) if (p !== '' && !providers.has(p)) providers.set(p, name);
  }
  return { packages, providers };
}

/** `roots` and every installed package they depend on, minus `excluded` (whose own dependencies are not followed). */
export function packageClosure(roots: readonly string[], excluded: readonly string[] = []): string[] {
  const { packages, providers } = installedPackages();
  const skip = new Set(excluded);
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (seen.has(name) || skip.has(name)) continue;
    const pkg = packages.get(name);
    if (pkg === undefined) throw new Error(`${name} is not installed here (apt-get install ${name})`);
    seen.add(name);
    for (const group of pkg.depends) {
      // The first alternative that is installed, directly or as a provider.
      const pick = group.map((n) => (packages.has(n) ? n : providers.get(n))).find((n) => n !== undefined);
      if (pick !== undefined && !seen.has(pick)) todo.push(pick);
    }
  }
  return [...seen].sort();
}

/**
 * The files (not directories) of `packages`, as absolute paths with every
 * directory symlink resolved (on a merged-/usr system dpkg says /bin/dash
 * for /usr/bin/dash), documentation left out.
 */
export function packageFiles(packages: readonly string[]): string[] {
  const out = execFileSync('dpkg', ['-L', ...packages], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const files = new Set<string>();
  for (const path of out.split('\n')) {
    if (!path.startsWith('/') || SKIPPED_DIRS.some((d) => path.startsWith(d))) continue;
    let st;
    try {
      st = lstatSync(path);
    } catch {
      continue; // listed but not on disk (excluded by dpkg path filters, or removed)
    }
    if (st.isDirectory()) continue;
    // dpkg lists /bin, /lib... as directories; here they are the merged-/usr links the skeleton makes.
    if (st.isSymbolicLink() && dirname(path) === '/') continue;
    files.add(join(realpathSync(dirname(path)), basename(path)));
  }
  return [...files].sort();
}

/** update-alternatives links (cc → /etc/alternatives/cc → gcc) whose final target is in `files`. */
function alternativeLinks(files: ReadonlySet<string>): string[] {
  const links: string[] = [];
  for (const dir of ['/usr/bin', '/usr/sbin']) {
    for (const name of readdirSync(dir)) {
      const link = join(dir, name);
      let target: string;
      try {
        target = readlinkSync(link);
      } catch {
        continue;
      }
      if (!target.startsWith('/etc/alternatives/')) continue;
      try {
        if (files.has(realpathSync(link))) links.push(link, target);
      } catch {
        // A dangling alternative: not ours.
      }
    }
  }
  return links;
}

/** Writes what maintainer scripts would have created, plus `extra` files, under `dir`. */
function writeSkeleton(dir: string, extra: (dir: string) => void): void {
  for (const d of ['etc', 'root', 'tmp', 'run', 'var/tmp', 'var/lib', 'usr']) mkdirSync(join(dir, d), { recursive: true });
  execFileSync('chmod', ['1777', join(dir, 'tmp'), join(dir, 'var/tmp')]);
  execFileSync('chmod', ['700', join(dir, 'root')]);
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  // The merged-/usr top-level links of this machine (bin → usr/bin, ...).
  for (const name of readdirSync('/')) {
    const st = lstatSync(join('/', name));
    if (st.isSymbolicLink() && readlinkSync(join('/', name)).startsWith('usr/')) symlinkSync(readlinkSync(join('/', name)), join(dir, name));
  }
  if (existsSync('/etc/ld.so.cache')) copyFileSync('/etc/ld.so.cache', join(dir, 'etc/ld.so.cache'));
  extra(dir);
}

export interface RootfsImage {
  tag: string;
  packages: number;
  files: number;
}

export interface RootfsOptions {
  /** Packages to install, with their dependency closure. */
  packages: readonly string[];
  /** Packages left out, their dependencies not followed. */
  excluded?: readonly string[];
  /** Path prefixes left out (e.g. /usr/include/ from a runtime). */
  omit?: readonly string[];
  /** Whether npm goes in (default yes when nodejs does). */
  npm?: boolean;
  /** Adds files to the skeleton directory. */
  extra?: (dir: string) => void;
}

/**
 * Imports `packages` (with their closure) plus a skeleton into `host` as
 * `tag`, streaming one tar from `tar` into the engine (no copy on disk).
 */
export async function importDebianRootfs(host: DockerHost, workdir: string, tag: string, options: RootfsOptions): Promise<RootfsImage> {
  const { args, packages, files } = rootfsArchive(workdir, tag.replace(/[^a-z0-9]+/gi, '-'), options);
  const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  tar.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => tar.once('close', resolve));
  const [repo, version] = tag.split(':');
  const agent = new Agent({ connect: { socketPath: host.socket } });
  try {
    const res = await request(`http://docker/images/create?fromSrc=-&repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(version ?? 'latest')}`, {
      dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/x-tar' }, body: tar.stdout,
      headersTimeout: 120_000, bodyTimeout: 120_000,
    });
    const text = await res.body.text();
    const code = await exited;
    if (code !== 0) throw new Error(`tar for ${tag} exited ${code}: ${stderr.trim()}`);
    // Errors come inside a 200 progress stream too.
    if (res.statusCode !== 200 || text.includes('"errorDetail"')) throw new Error(`docker import ${tag}: HTTP ${res.statusCode} ${text.slice(-500)}`);
  } finally {
    tar.kill();
    await agent.close();
  }
  return { tag, packages: packages.length, files: files.length };
}

/** The same root filesystem unpacked into the directory `dir` (a throwaway root for chroot or `dpkg --root`). */
export function writeDebianRootfs(workdir: string, dir: string, options: RootfsOptions): void {
  const { args } = rootfsArchive(workdir, basename(dir), options);
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', 'tar "$@" | tar -x -C "$0"', dir, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `tar` arguments writing the root filesystem of `options` to stdout, from a file list and a skeleton it writes in `workdir`. */
function rootfsArchive(workdir: string, name: string, options: RootfsOptions): { args: string[]; packages: string[]; files: string[] } {
  const packages = packageClosure(options.packages, options.excluded);
  // npm may have been upgraded in place (`npm i -g npm`), so its files are not dpkg's: take the tree as it is.
  const npm = (options.npm ?? true) && packages.includes('nodejs');
  const omit = [...(options.omit ?? []), `${NPM_TREE}/`];
  const files = packageFiles(packages).filter((f) => !omit.some((o) => f.startsWith(o)));
  const links = alternativeLinks(new Set(files));
  const list = join(workdir, `${name}.list`);
  const skeleton = join(workdir, `${name}.skel`);
  writeFileSync(list, [...files, ...links].map((p) => p.slice(1)).join('\n') + '\n');
  mkdirSync(skeleton, { recursive: true });
  writeSkeleton(skeleton, options.extra ?? (() => {}));
  // One archive (Go's reader stops at the first end-of-archive, so no concatenation):
  // the skeleton recursively, the package files one by one, npm's tree recursively.
  const args = ['-c', '--owner=0', '--group=0', '--numeric-owner', '-C', skeleton, '.',
    '--no-recursion', '-C', '/', '-T', list, ...(npm ? ['--recursion', NPM_TREE.slice(1)] : [])];
  return { args, packages, files };
}

/** The content files of an npm cache (`_cacache/content-v2`) that hold the tarballs `lockfile` pins. */
export function copyNpmCacheFor(lockfile: string, fromCache: string, toCache: string): number {
  const lock = JSON.parse(readFileSync(lockfile, 'utf8')) as { packages: Record<string, { integrity?: string }> };
  let n = 0;
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (entry.integrity === undefined) continue;
    const [algorithm, b64] = entry.integrity.split(' ')[0].split('-', 2);
    const hex = Buffer.from(b64, 'base64').toString('hex');
    const rel = join('content-v2', algorithm, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
    const from = join(fromCache, '_cacache', rel);
    if (!existsSync(from)) throw new Error(`${key} (${entry.integrity}) is not in the npm cache ${fromCache}: run \`npm ci\` first`);
    mkdirSync(dirname(join(toCache, '_cacache', rel)), { recursive: true });
    copyFileSync(from, join(toCache, '_cacache', rel));
    n++;
  }
  return n;
}

/** The tarball URL npm computes for a registry package when the lockfile does not say. */
function registryUrl(name: string, version: string): string {
  return `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${version}.tgz`;
}

/**
 * Copies the files a build may read (tracked or new, not ignored by git;
 * .dockerignore filters further) from `repo` into `dir`, filling in missing
 * `resolved` URLs of the lockfile copy (see the top of this file).
 */
export function buildContext(repo: string, dir: string): number {
  const listed = execFileSync('git', ['-C', repo, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\0').filter((p) => p !== '');
  let n = 0;
  for (const rel of listed) {
    const from = join(repo, rel);
    if (!existsSync(from) || lstatSync(from).isDirectory()) continue;
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    copyFileSync(from, join(dir, rel));
    n++;
  }
  for (const lockfile of LOCKFILES) {
    const lockPath = join(dir, lockfile);
    const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as { packages: Record<string, { version?: string; resolved?: string; integrity?: string; link?: boolean }> };
    for (const [key, entry] of Object.entries(lock.packages)) {
      if (key === '' || entry.link || entry.resolved !== undefined || entry.integrity === undefined || entry.version === undefined) continue;
      entry.resolved = registryUrl(key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length), entry.version);
    }
    writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
  }
  return n;
}

/** The npm cache directory of this machine (`npm config get cache`). */
export function npmCacheDir(): string {
  return execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}
