// The Dockerfile builds and the image runs, for real, with no registry: base
// images assembled from this machine's Debian packages (test/support/image.ts)
// are imported into a dockerd living in a network namespace
// (test/support/docker.ts), the shipped Dockerfile is built against them with
// only build arguments (BUILD_IMAGE, RUNTIME_IMAGE, NPM_CI_FLAGS=--offline),
// and the image is run with the drop-in `docker run` line.
//
// The engine lives in the `dhost` namespace of the service topology
// (test/service/topology.ts: dhost ─ router ─ internet), so `--network host`
// is that namespace, and a container on a ULA network must reach the
// internet namespace through the containerised sixgate.
//
// The one change to the drop-in line: `-v /var/run/docker.sock:...` names the
// namespaced engine's socket instead (this machine runs no dockerd of its
// own, and a bind of a missing path would create it on the host).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { IMAGE as BUSYBOX } from '../support/docker.js';
import { runProcess, type Run } from '../support/process.js';
import { ServiceLab, A } from '../service/topology.js';
import { tcpServerCode } from '../datapath/topology.js';
import { repoRoot, capturesDir } from '../support/paths.js';
import { requires } from '../support/prereq.js';
import {
  BUILD_PACKAGES, LOCKFILES, RUNTIME_PACKAGES, buildContext, copyNpmCacheFor, importDebianRootfs, npmCacheDir,
} from '../support/image.js';

const IMAGE = 'sixgate:test';
const BUILD_BASE = 'sgt-build-base:test';
const RUNTIME_BASE = 'sgt-runtime-base:test';
const CAPTURE = 'tcpdump__icmpv6.pcap';
/**
 * The README's figure for the image, with a little room. The official Node
 * 22 binary alone is 107 MB stripped: this checks nothing else grows back in.
 */
const IMAGE_MAX_BYTES = 130e6;
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

// Bits of /proc/self/status Cap* masks (linux/capability.h).
const CAPS = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE',
  'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME',
  'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG',
  'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'];

/**
 * `--privileged`, where this machine can grant it. It makes runc ask for
 * every capability the kernel knows, which fails ("unable to apply caps")
 * when the machine's own bounding set lacks some (the CI machines lack
 * CAP_SYS_RESOURCE); there the nearest equivalent is used: every capability
 * the machine has, no seccomp filter, and the TUN device.
 */
function privileged(): string[] {
  const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
  const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  const missing = CAPS.slice(0, last + 1).filter((_, bit) => ((bounding >> BigInt(bit)) & 1n) === 0n);
  if (missing.length === 0) return ['--privileged'];
  process.stderr.write(`# the bounding set lacks ${missing.join(', ')}: --privileged replaced by --cap-add ALL minus those\n`);
  return ['--cap-add', 'ALL', ...missing.flatMap((c) => ['--cap-drop', c]), '--security-opt', 'seccomp=unconfined',
    '--security-opt', 'systempaths=unconfined', '--device', '/dev/net/tun'];
}

describe('container image (Dockerfile built offline, run as the drop-in)', {
  ...requires({ root: true, tools: ['dockerd', 'docker', 'nsenter', 'dpkg-query', 'tar', 'busybox', 'git', 'npm', 'ip', 'ndisc6'], files: ['/usr/include/node/node_api.h', '/dev/net/tun'] }),
  timeout: 240_000,
}, () => {
  let lab: ServiceLab;
  const work = mkdtempSync(join(tmpdir(), 'sixgate-image-'));
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };
  /** The docker CLI against the namespaced engine; the classic builder (no buildx needed). */
  const docker = (args: readonly string[], timeoutMs?: number): Promise<Run> =>
    runProcess('docker', ['-H', `unix://${lab.docker.socket}`, ...args], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, timeoutMs });
  const ok = async (args: readonly string[], timeoutMs?: number): Promise<string> => {
    const r = await docker(args, timeoutMs);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}${r.stdout.slice(-3000)}`);
    return r.stdout;
  };
  const logsOf = async (name: string): Promise<string> => {
    const r = await docker(['logs', '--tail', '40', name]);
    return `${r.stdout}${r.stderr}`;
  };
  /** Docker's own verdict from the image's HEALTHCHECK. */
  const waitHealthy = async (name: string, timeoutMs = 30_000): Promise<void> => {
    const end = Date.now() + timeoutMs;
    let health = '';
    while (Date.now() < end) {
      health = (await ok(['inspect', '--format', '{{json .State.Health}}', name])).trim();
      if ((JSON.parse(health) as { Status: string }).Status === 'healthy') return;
      await sleep(250);
    }
    assert.fail(`${name} not healthy within ${timeoutMs} ms: ${health}\n${await logsOf(name)}`);
  };
  /** From a container on the ULA network: the peer address the internet namespace sees. */
  const peerSeenFromUla = async (): Promise<string> => {
    const end = Date.now() + 15_000;
    let last = '';
    while (Date.now() < end) {
      const r = await docker(['run', '--rm', '--network', 'ula', BUSYBOX, 'nc', '-w', '3', A.inet, '5001'], 20_000);
      last = `${r.stdout}${r.stderr}`;
      const m = /peer (\S+)/.exec(r.stdout);
      if (m !== null) return m[1]!;
      await sleep(250);
    }
    return `nothing (${last.trim()})`;
  };

  before(async () => {
    lab = new ServiceLab();
    await timed('dockerd', () => lab.start());
    const cache = npmCacheDir();
    await timed('base images', () => Promise.all([
      // Like debian:bookworm-slim with iproute2; like node:22-bookworm, but with this machine's Node.
      importDebianRootfs(lab.docker, work, RUNTIME_BASE, { packages: RUNTIME_PACKAGES }),
      importDebianRootfs(lab.docker, work, BUILD_BASE, {
        packages: BUILD_PACKAGES, excluded: ['ca-certificates'],
        extra: (dir) => {
          for (const lockfile of LOCKFILES) copyNpmCacheFor(join(repoRoot, lockfile), cache, join(dir, 'root', '.npm'));
        },
      }),
    ]));
    const context = join(work, 'context');
    mkdirSync(context);
    buildContext(repoRoot, context);
    await timed('docker build', () => ok(['build', '-t', IMAGE,
      '--build-arg', `BUILD_IMAGE=${BUILD_BASE}`, '--build-arg', `RUNTIME_IMAGE=${RUNTIME_BASE}`,
      '--build-arg', 'NPM_CI_FLAGS=--offline', context], 240_000));
    await ok(['network', 'create', '--ipv6', '--subnet', A.ula, 'ula']);
    await lab.inet.spawn(process.execPath, ['--input-type=module', '-e', tcpServerCode(5001)]);
  });

  after(async () => {
    if (lab !== undefined) {
      if (lab.docker !== undefined) await docker(['rm', '-f', 'sixgate', 'sixgate-lp', 'sixgate-ndp']).catch(() => undefined);
      await timed('teardown', () => lab.destroy());
    }
    rmSync(work, { recursive: true, force: true });
    process.stderr.write(`# image test timings (ms): ${JSON.stringify(timings)}\n`);
  });

  test('sixgate --version on Node 22 LTS or later, and the commands the image offers', async () => {
    assert.equal((await ok(['run', '--rm', IMAGE, '--version'])).trim(), pkg.version);
    const node = (await ok(['run', '--rm', '--network', 'none', '--entrypoint', 'node', IMAGE, '--version'])).trim();
    assert.ok(Number(/^v(\d+)\./.exec(node)?.[1]) >= 22, node);
    const help = await ok(['run', '--rm', IMAGE, '--help']);
    for (const command of ['run', 'ndp', 'ipv6nat', 'decode', 'health']) assert.match(help, new RegExp(`^  ${command}\\b`, 'm'), help);
    // docker-ipv6nat's flag spelling, for its users' scripts.
    assert.equal((await ok(['run', '--rm', IMAGE, 'ipv6nat', '-version'])).trim(), pkg.version);
  });

  test('sixgate decode in the image prints what it prints on the host', async () => {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist/src/cli/main.js'), 'decode', join(capturesDir, CAPTURE)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const inImage = await ok(['run', '--rm', '-v', `${capturesDir}:/pcaps:ro`, IMAGE, 'decode', `/pcaps/${CAPTURE}`]);
    assert.equal(inImage, r.stdout);
    assert.ok(inImage.split('\n').length > 5);
  });

  test('runtime stage: the addon loads; no compiler, no dev dependencies; the HEALTHCHECK is sixgate health', async () => {
    const probe = [
      "const { addon } = await import('/usr/lib/sixgate/dist/src/io/addon.js');",
      "const { existsSync } = await import('node:fs');",
      "console.log(JSON.stringify({ lo: addon().ifIndex('lo'), typescript: existsSync('/usr/lib/sixgate/node_modules/typescript'),",
      "  nodeGyp: existsSync('/usr/lib/sixgate/node_modules/node-gyp'), pino: existsSync('/usr/lib/sixgate/node_modules/pino') }));",
    ].join(' ');
    const out = await ok(['run', '--rm', '--network', 'none', '--entrypoint', 'node', IMAGE, '--input-type=module', '-e', probe]);
    assert.deepEqual(JSON.parse(out), { lo: 1, typescript: false, nodeGyp: false, pino: true });
    const cc = await docker(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c', 'command -v cc gcc g++ make python3 npm apt-get dpkg perl']);
    assert.equal(cc.stdout.trim(), '');
    const man = await docker(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c',
      'cd /usr/share/man && for p in man8/sixgate.8 man5/sixgate.yaml.5 man5/sixgate-nat.yaml.5; do test -s $p || echo missing $p; done']);
    assert.deepEqual([man.code, man.stdout], [0, ''], 'the man pages are in the image');
    // The size the README states (docker images' SIZE: the unpacked layers).
    const size = Number(await ok(['image', 'inspect', '--format', '{{.Size}}', IMAGE]));
    process.stderr.write(`# image size: ${(size / 1e6).toFixed(1)} MB\n`);
    assert.ok(size <= IMAGE_MAX_BYTES, `${size} bytes > ${IMAGE_MAX_BYTES}`);
    const hc = JSON.parse(await ok(['inspect', '--format', '{{json .Config.Healthcheck}}', IMAGE])) as { Test: string[] };
    assert.deepEqual(hc.Test, ['CMD', 'sixgate', 'health']);
    // Nothing running: the verdict says so, exit 1.
    const h = await docker(['run', '--rm', IMAGE, 'health']);
    assert.deepEqual([h.code, h.stdout], [1, 'unhealthy: not running: no status file /run/sixgate/status.json\n']);
  });

  test('the drop-in docker run line: healthy, and a ULA container reaches the internet through it', async () => {
    // --health-interval only makes Docker's first probe come sooner than the image's 15 s.
    await ok(['run', '-d', '--name', 'sixgate', ...privileged(), '--network', 'host', '--restart', 'always',
      '-v', `${lab.docker.socket}:/var/run/docker.sock:ro`, '--health-interval', '1s', IMAGE]);
    await timed('healthy (drop-in)', () => waitHealthy('sixgate'));
    const h = await docker(['exec', 'sixgate', 'sixgate', 'health']);
    assert.equal(h.code, 0, h.stdout);
    assert.match(h.stdout, /^healthy: ready: pid 1, refreshed \d+\.\d s ago\n$/);
    const peer = await timed('ULA → internet (drop-in)', () => peerSeenFromUla());
    assert.equal(peer, lab.external('ula'), await logsOf('sixgate'));
    assert.equal((await ok(['inspect', '--format', '{{.RestartCount}}', 'sixgate'])).trim(), '0');
    // docker stop: SIGTERM, a clean stop within the timeout (exit 0, not a kill),
    // which saves the connection table; the next start restores it.
    await ok(['stop', '-t', '10', 'sixgate']);
    assert.equal((await ok(['inspect', '--format', '{{.State.ExitCode}}', 'sixgate'])).trim(), '0', await logsOf('sixgate'));
    await ok(['start', 'sixgate']);
    await waitHealthy('sixgate');
    const end = Date.now() + 10_000;
    while (!(await logsOf('sixgate')).includes('connection table restored')) {
      if (Date.now() > end) assert.fail(`no "connection table restored" after a restart:\n${await logsOf('sixgate')}`);
      await sleep(200);
    }
    await ok(['rm', '-f', 'sixgate']);
  });

  test('least privilege: NET_ADMIN + NET_RAW + /dev/net/tun run the same service', async () => {
    await ok(['run', '-d', '--name', 'sixgate-lp', '--network', 'host', '--restart', 'always',
      '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW', '--device', '/dev/net/tun',
      '-v', `${lab.docker.socket}:/var/run/docker.sock:ro`, '--health-interval', '1s', IMAGE]);
    await timed('healthy (least privilege)', () => waitHealthy('sixgate-lp'));
    const peer = await peerSeenFromUla();
    assert.equal(peer, lab.external('ula'), await logsOf('sixgate-lp'));
    await ok(['rm', '-f', 'sixgate-lp']);
  });

  test('the NDP proxy alone, with ndppd\'s file: sixgate ndp -c /etc/ndppd.conf', async () => {
    const conf = join(work, 'ndppd.conf');
    writeFileSync(conf, 'proxy up0 {\n  rule 2001:db8:1:0:5::/80 {\n    static\n  }\n}\n');
    await ok(['run', '-d', '--name', 'sixgate-ndp', '--network', 'host', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN',
      '--cap-add', 'NET_RAW', '-v', `${conf}:/etc/ndppd.conf:ro`, IMAGE, 'ndp', '-c', '/etc/ndppd.conf']);
    const end = Date.now() + 10_000;
    while (!(await lab.ndpAnswers('2001:db8:1:0:5::7'))) {
      if (Date.now() > end) assert.fail(`no NDP answer from the container:\n${await logsOf('sixgate-ndp')}`);
      await sleep(200);
    }
    assert.match(await logsOf('sixgate-ndp'), /sixgate ndp running/);
  });
});
