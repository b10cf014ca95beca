// The lab with a real Docker engine: Debian's dockerd runs inside sglab-host
// (started with nsenter --net, never `ip netns exec`, which remounts /sys and
// breaks dockerd's cgroup detection), with its data root, exec root, socket
// and an empty daemon.json under /run/sixgate-lab/docker, so it neither
// reads nor touches the host's own Docker. Its bridges, veths and ip6tables
// rules live in sglab-host only. No registry is needed: the image is one
// static busybox (Debian's busybox-static) imported as sglab-busybox.
// `sixgate run` then drives the NDP proxy and NAT66 from the engine's events.
import { execFileSync } from 'node:child_process';
import { hasTool } from '../host/run.js';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { alive, type Netns } from './netns.js';
import { LAB_DIR, type LabDir } from './state.js';
import { ADDR, LAN_LINK, NET, PUBLISHED_PORT, UPLINK, WEB_PORT, type LabContainer, type LabContainers } from './topology.js';
import type { Runner } from './static.js';

export const DOCKER_DIR = join(LAB_DIR, 'docker');
const IMAGE = 'sglab-busybox:latest';
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'];
const APPLETS = ['sh', 'sleep', 'httpd', 'mkdir', 'printf', 'chmod', 'ip', 'ping', 'wget', 'nc', 'cat', 'ls'];

/** A busybox httpd whose /cgi-bin/ip answers "peer <client address>" (REMOTE_ADDR). */
const HTTPD_CMD = ['sh', '-c',
  'mkdir -p /www/cgi-bin && printf \'#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "peer $REMOTE_ADDR"\\n\' > /www/cgi-bin/ip'
  + ` && chmod +x /www/cgi-bin/ip && exec httpd -f -p ${WEB_PORT} -h /www`];
/** The path the checks fetch from a container's web server. */
export const DOCKER_WEB_PATH = '/cgi-bin/ip';


// A dynamically linked busybox (Debian's `busybox`) cannot run in an image
// without a libc: only an ELF without a PT_INTERP program header will do.
function isStaticElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false;
    const le = head[5] === 1;
    const u16 = (o: number): number => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
    const phoff = Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32));
    const phentsize = u16(54);
    const phnum = u16(56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const type = le ? table.readUInt32LE(i * phentsize) : table.readUInt32BE(i * phentsize);
      if (type === 3) return false;
    }
    return true;
  } finally {
    closeSync(fd);
  }
}

function staticBusybox(): string | undefined {
  return BUSYBOX.find((p) => existsSync(p) && isStaticElf(p));
}

/** Why the Docker engine path cannot run here (undefined: it can). */
export function dockerUnavailable(): string | undefined {
  const tools = ['dockerd', 'containerd', 'runc'].filter((t) => !hasTool(t));
  if (tools.length > 0) return `docker.io is not installed (no ${tools.join(', ')}): apt-get install docker.io for the Docker engine lab`;
  if (staticBusybox() === undefined) return 'busybox-static is not installed (the lab builds its one-file container image from it): apt-get install busybox-static';
  return undefined;
}

interface Inspect {
  State: { Pid: number; Running: boolean };
  NetworkSettings: { Networks: Record<string, { GlobalIPv6Address: string }> };
}

/** One Engine API call over the lab engine's socket; throws on HTTP >= 400. */
async function call(agent: Agent, method: 'GET' | 'POST', path: string, json?: unknown, raw?: Buffer): Promise<unknown> {
  const res = await request(`http://docker${path}`, {
    dispatcher: agent, method,
    headers: json !== undefined ? { 'content-type': 'application/json' } : raw !== undefined ? { 'content-type': 'application/x-tar' } : {},
    body: json !== undefined ? JSON.stringify(json) : raw,
    headersTimeout: 60_000, bodyTimeout: 60_000,
  });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`Docker ${method} ${path}: HTTP ${res.statusCode} ${text.trim()}`);
  try { return JSON.parse(text) as unknown; } catch { return text; }
}

export class LabDocker {
  readonly socket = join(DOCKER_DIR, 'd.sock');
  readonly #agent = new Agent({ connect: { socketPath: join(DOCKER_DIR, 'd.sock') }, connections: 4 });
  readonly #dir: LabDir;

  private constructor(dir: LabDir) {
    this.#dir = dir;
  }

  /** Starts dockerd in `host`, waits for it and imports the busybox image. */
  static async start(host: Netns, dir: LabDir, timeoutMs = 30_000): Promise<LabDocker> {
    mkdirSync(DOCKER_DIR, { recursive: true });
    const config = join(DOCKER_DIR, 'daemon.json');
    writeFileSync(config, '{}\n');
    const engine = new LabDocker(dir);
    dir.state.dockerSocket = engine.socket;
    dir.spawn('dockerd', host, 'dockerd', [
      '--config-file', config, '--data-root', join(DOCKER_DIR, 'data'), '--exec-root', join(DOCKER_DIR, 'x'),
      '-H', `unix://${engine.socket}`, '--pidfile', join(DOCKER_DIR, 'd.pid'),
      '--ipv6', '--fixed-cidr-v6', ADDR.dockerDefault, '--shutdown-timeout', '1', '--log-level', 'warn',
    ]);
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        if (await call(engine.#agent, 'GET', '/_ping') === 'OK') break;
      } catch {
        // Not listening yet.
      }
      if (!alive(dir.state.pids.dockerd!)) throw new Error(`dockerd exited:\n${dir.readLog('dockerd').slice(-2000)}`);
      if (Date.now() > end) throw new Error(`dockerd did not answer within ${timeoutMs} ms:\n${dir.readLog('dockerd').slice(-2000)}`);
      await sleep(50);
    }
    await engine.importBusybox();
    return engine;
  }

  async importBusybox(): Promise<void> {
    const rootfs = join(DOCKER_DIR, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    copyFileSync(staticBusybox()!, join(rootfs, 'bin', 'busybox'));
    for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a));
    const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
    await call(this.#agent, 'POST', `/images/create?fromSrc=-&repo=${IMAGE.split(':')[0]}&tag=latest`, undefined, tar);
  }

  async network(name: string, subnet: string, macvlan?: { parent: string; range: string; gateway: string }): Promise<void> {
    await call(this.#agent, 'POST', '/networks/create', {
      Name: name, CheckDuplicate: true, Driver: macvlan === undefined ? 'bridge' : 'macvlan', EnableIPv6: true,
      IPAM: { Config: [{ Subnet: subnet, ...(macvlan === undefined ? {} : { IPRange: macvlan.range, Gateway: macvlan.gateway }) }] },
      ...(macvlan === undefined ? {} : { Options: { parent: macvlan.parent } }),
    });
  }

  /** Creates and starts a container; returns it as the checks see it. */
  async container(name: string, network: string, cmd: readonly string[], publish?: { host: number; container: number }): Promise<LabContainer> {
    const port = publish === undefined ? undefined : `${publish.container}/tcp`;
    const created = await call(this.#agent, 'POST', `/containers/create?name=sglab-${name}`, {
      Image: IMAGE, Cmd: cmd, StopTimeout: 1,
      ExposedPorts: port === undefined ? {} : { [port]: {} },
      HostConfig: { NetworkMode: network, PortBindings: port === undefined ? {} : { [port]: [{ HostPort: String(publish!.host) }] } },
    }) as { Id: string };
    this.#dir.state.containers.push(created.Id);
    this.#dir.save();
    await call(this.#agent, 'POST', `/containers/${created.Id}/start`);
    const info = await call(this.#agent, 'GET', `/containers/${created.Id}/json`) as Inspect;
    const address = info.NetworkSettings.Networks[network]?.GlobalIPv6Address ?? '';
    if (address === '') throw new Error(`container ${name} got no IPv6 address on ${network}`);
    return { name, netns: `/proc/${info.State.Pid}/ns/net`, address };
  }

  async close(): Promise<void> {
    await this.#agent.close().catch(() => {});
  }
}

/** Networks, containers and `sixgate run` (its own config file, none of the host's settings). */
export async function startDocker(host: Netns, dir: LabDir, run: Runner): Promise<LabContainers> {
  const engine = await LabDocker.start(host, dir);
  try {
    await engine.network(NET.ula, ADDR.ula);
    await engine.network(NET.global, ADDR.global);
    const web = await engine.container('web', NET.ula, HTTPD_CMD, { host: PUBLISHED_PORT, container: WEB_PORT });
    const client = await engine.container('client', NET.ula, ['sleep', '999999999']);
    const glob1 = await engine.container('glob1', NET.global, HTTPD_CMD);
    await engine.network(NET.lan, ADDR.lanPrefix, { parent: LAN_LINK, range: ADDR.lanRange, gateway: ADDR.lanRouter });
    const lan1 = await engine.container('lan1', NET.lan, HTTPD_CMD);
    const configFile = join(LAB_DIR, 'sixgate.yaml');
    writeFileSync(configFile, sixgateYaml(engine.socket));
    dir.spawn('sixgate', host, run.node, [run.cli, 'run', '-c', configFile]);
    await dir.waitLog('sixgate', /docker state applied/, 20_000);
    return { web, client, glob1, lan1 };
  } finally {
    await engine.close();
  }
}

export function sixgateYaml(socket: string): string {
  return `# sixgate lab: the daemon against the lab's Docker engine (sixgate run -c ${join(LAB_DIR, 'sixgate.yaml')})
uplink: ${UPLINK}
dockerHost: unix://${socket}
statusFile: ${join(LAB_DIR, 'status.json')}
controlSocket: ${join(LAB_DIR, 'control.sock')}
cleanup: true
retryMaxMs: 500
`;
}

/** For --down: kills the lab engine's containers over the API, then stops dockerd (bounded). */
export async function stopLabDocker(socket: string, pid: number | undefined): Promise<void> {
  const agent = new Agent({ connect: { socketPath: socket }, connections: 4 });
  try {
    const list = await call(agent, 'GET', '/containers/json') as Array<{ Id: string }>;
    await Promise.all(list.map((c) => call(agent, 'POST', `/containers/${c.Id}/kill`).catch(() => undefined)));
  } catch {
    // A wedged engine: the signals below still stop it, the sweep the rest.
  } finally {
    await agent.close().catch(() => {});
  }
  if (pid === undefined || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const end = Date.now() + 15_000;
  while (alive(pid) && Date.now() < end) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}
