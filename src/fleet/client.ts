// The etcd v3 client of fleet mode (the `etcd3` package: gRPC to etcd's
// v3 API), from `--fleet etcd://host:2379,...` and the TLS client
// certificate options. The package (gRPC and protobuf, some 190 ms to
// load) is imported only when fleet mode is on, so a single host's start
// does not pay for it.
import { readFileSync } from 'node:fs';
import type { Etcd3, IOptions } from 'etcd3';
import { ConfigError } from '../errors.js';

export interface EtcdEndpoints {
  /** "etcd://h1:2379,h2:2379" (or etcds:// for TLS; a comma-separated list of several such URLs works too). */
  readonly urls: string;
  /** PEM files: the CA that signed etcd's certificate, and this host's client certificate and key. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** The gRPC targets of `etcd://a:2379,b:2379` ("http://a:2379", ...); throws ConfigError. */
export function etcdHosts(urls: string, tls: boolean): string[] {
  const hosts: string[] = [];
  let scheme: string | undefined;
  for (const part of urls.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(etcds?|https?):\/\/(.+)$/.exec(part);
    if (m !== null) scheme = m[1];
    const hostPort = m !== null ? m[2]! : part;
    if (scheme === undefined) throw new ConfigError(`fleet: ${JSON.stringify(urls)} must start with etcd:// (or etcds://)`);
    if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(hostPort)) {
      throw new ConfigError(`fleet: not a host:port in ${JSON.stringify(urls)}: ${JSON.stringify(hostPort)}`);
    }
    const secure = tls || scheme === 'etcds' || scheme === 'https';
    hosts.push(`${secure ? 'https' : 'http'}://${hostPort}`);
  }
  if (hosts.length === 0) throw new ConfigError('fleet: no etcd endpoint given');
  return hosts;
}

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/**
 * A lost watch is reopened after 100 ms, doubling up to 2 s: the package's
 * default waits up to 30 s, and while a watch is away the host misses the
 * fleet's changes (a new host's lease, a dead host's expiry).
 */
function watchBackoff(duration = 100): WatchBackoff {
  return { duration, next: () => watchBackoff(Math.min(duration * 2, 2_000)) };
}

export async function etcdClient(endpoints: EtcdEndpoints): Promise<Etcd3> {
  const tls = endpoints.caFile !== undefined || endpoints.certFile !== undefined;
  if ((endpoints.certFile === undefined) !== (endpoints.keyFile === undefined)) {
    throw new ConfigError('fleet: the etcd client certificate and its key go together (both or neither)');
  }
  const { Etcd3 } = await import('etcd3');
  return new Etcd3({
    hosts: etcdHosts(endpoints.urls, tls),
    dialTimeout: 2_000,
    faultHandling: { watchBackoff: watchBackoff() },
    ...(tls ? {
      credentials: {
        // null: the system's CAs (grpc's createSsl), for an etcd whose certificate a public CA signed.
        rootCertificate: endpoints.caFile === undefined ? null as unknown as Buffer : readFileSync(endpoints.caFile),
        ...(endpoints.certFile === undefined ? {} : { certChain: readFileSync(endpoints.certFile), privateKey: readFileSync(endpoints.keyFile!) }),
      },
    } : {}),
  });
}
