// Where the Docker Engine API lives, read the way the docker CLI and
// docker-ipv6nat read it: DOCKER_HOST (unix:///path or tcp://host:port),
// DOCKER_TLS_VERIFY (any non-empty value: TLS, server certificate checked
// against ca.pem), DOCKER_TLS (TLS without the check) and DOCKER_CERT_PATH
// (ca.pem, cert.pem, key.pem; default ~/.docker). ssh:// and npipe:// are
// refused with a ConfigError rather than half-supported.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { ConfigError } from '../errors.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export type DockerEndpoint =
  | { readonly kind: 'unix'; readonly socketPath: string }
  | {
    readonly kind: 'tcp';
    /** http://host:port or https://host:port */
    readonly origin: string;
    readonly tls?: { readonly certPath: string; readonly verify: boolean };
  };

/** The endpoint named by DOCKER_HOST & co. in `env` (default: the local unix socket). */
export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): DockerEndpoint {
  const host = env.DOCKER_HOST ?? '';
  if (host === '') return { kind: 'unix', socketPath: DEFAULT_DOCKER_SOCKET };
  return parseDockerHost(host, env);
}

/** Parses one DOCKER_HOST value; TLS settings come from `env`. */
export function parseDockerHost(host: string, env: NodeJS.ProcessEnv = {}): DockerEndpoint {
  if (host.startsWith('unix://')) {
    const socketPath = host.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new ConfigError(`DOCKER_HOST ${host}: the socket path must be absolute`);
    return { kind: 'unix', socketPath };
  }
  if (host.startsWith('/')) return { kind: 'unix', socketPath: host };
  const m = /^(tcp|http|https):\/\/(\[[0-9a-fA-F:.]+\]|[^/:[\]]+)(?::(\d{1,5}))?\/?$/.exec(host);
  if (m === null) {
    throw new ConfigError(`DOCKER_HOST ${host}: expected unix:///path/to/docker.sock or tcp://host:port`);
  }
  const verify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  const tlsWanted = verify || (env.DOCKER_TLS ?? '') !== '' || m[1] === 'https';
  const port = m[3] ?? (tlsWanted ? '2376' : '2375');
  if (Number(port) < 1 || Number(port) > 65535) throw new ConfigError(`DOCKER_HOST ${host}: bad port ${port}`);
  const origin = `${tlsWanted ? 'https' : 'http'}://${m[2]}:${port}`;
  if (!tlsWanted) return { kind: 'tcp', origin };
  const certPath = env.DOCKER_CERT_PATH !== undefined && env.DOCKER_CERT_PATH !== ''
    ? env.DOCKER_CERT_PATH : join(homedir(), '.docker');
  return { kind: 'tcp', origin, tls: { certPath, verify } };
}

/** Text for log lines: the socket path or the origin. */
export function describeEndpoint(ep: DockerEndpoint): string {
  return ep.kind === 'unix' ? `unix://${ep.socketPath}` : ep.origin;
}

/** The origin requests are addressed to (the unix socket ignores the host part). */
export function originOf(ep: DockerEndpoint): string {
  return ep.kind === 'unix' ? 'http://docker' : ep.origin;
}

function readPem(certPath: string, file: string, required: boolean): Buffer | undefined {
  const path = join(certPath, file);
  try {
    return readFileSync(path);
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${path} (DOCKER_CERT_PATH): ${(err as Error).message}`);
  }
}

/**
 * An undici Agent bound to the endpoint. Keep-alive is kept short: the event
 * stream has its own connection, and short requests are bursty (resyncs).
 */
export function createAgent(ep: DockerEndpoint): Agent {
  if (ep.kind === 'unix') {
    return new Agent({ connect: { socketPath: ep.socketPath }, keepAliveTimeout: 4_000, pipelining: 1, connections: 8 });
  }
  if (ep.tls === undefined) return new Agent({ keepAliveTimeout: 4_000, connections: 8 });
  const { certPath, verify } = ep.tls;
  // Client certificates are optional without verification (DOCKER_TLS=1 against a server that asks for none).
  const ca = readPem(certPath, 'ca.pem', verify);
  const cert = readPem(certPath, 'cert.pem', verify);
  const key = readPem(certPath, 'key.pem', verify);
  return new Agent({
    keepAliveTimeout: 4_000,
    connections: 8,
    connect: { ca, cert, key, rejectUnauthorized: verify },
  });
}
