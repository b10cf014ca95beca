// Fleet mode's etcd over TLS with client certificates (--fleet-ca,
// --fleet-cert, --fleet-key): a one-member etcd in a namespace that
// requires a client certificate signed by a test CA (openssl); a lease is
// claimed with the certificate, and refused without it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type Netns } from '../support/netns.js';
import { requires } from '../support/prereq.js';
import { repoRoot } from '../support/paths.js';

const ADDRESS = '2001:db8:f::e1';

/** A CA, a server certificate for ADDRESS and a client certificate, in `dir`. */
function makeCertificates(dir: string): void {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=sgt-test-ca', '-keyout', 'ca-key.pem', '-out', 'ca.pem');
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=IP:${ADDRESS}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}-key.pem`, '-out', `${who}.csr`);
    ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '1',
      '-extfile', `${who}.ext`, '-out', `${who}.pem`);
  }
}

describe('fleet: etcd over TLS with a client certificate', { ...requires({ root: true, tools: ['etcd', 'openssl', 'ip', 'nsenter'] }), timeout: 60_000 }, () => {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), `sgt-etcd-tls-${process.pid}-`));
  let ns: Netns;

  before(() => {
    makeCertificates(dir);
    ns = lab.ns('etcd');
    lab.addr(ns, 'lo', `${ADDRESS}/128`);
    ns.spawn('etcd', ['--name', 'm1', '--data-dir', join(dir, 'data'),
      '--listen-client-urls', `https://[${ADDRESS}]:2379`, '--advertise-client-urls', `https://[${ADDRESS}]:2379`,
      '--listen-peer-urls', 'http://[::1]:2380', '--initial-advertise-peer-urls', 'http://[::1]:2380', '--initial-cluster', 'm1=http://[::1]:2380',
      '--cert-file', join(dir, 'server.pem'), '--key-file', join(dir, 'server-key.pem'),
      '--trusted-ca-file', join(dir, 'ca.pem'), '--client-cert-auth', '--log-level', 'error', '--logger', 'zap'], { stdio: 'ignore' });
  });

  after(() => {
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Claims a lease from inside the namespace with `endpoints`; the sub-prefix, or the error. */
  async function claim(endpoints: Record<string, string>, deadlineMs: number): Promise<string> {
    const fleet = join(repoRoot, 'dist', 'src', 'fleet', 'index.js');
    const log = join(repoRoot, 'dist', 'src', 'log.js');
    const res = await ns.node(`
      const { etcdClient, fleetPlan, SubnetLease } = await import(${JSON.stringify(fleet)});
      const { createLogger } = await import(${JSON.stringify(log)});
      const client = await etcdClient(${JSON.stringify(endpoints)});
      const lease = new SubnetLease({ client, plan: fleetPlan('2001:db8:100::/48', 64), ttlSeconds: 5,
        log: createLogger({ level: 'warn', destination: process.stderr }), value: { host: 'tls', uplink: '${ADDRESS}' } });
      setTimeout(() => { process.stdout.write('no lease'); process.exit(0); }, ${deadlineMs}).unref();
      process.stdout.write('held ' + await lease.acquire());
      await lease.release();
      process.exit(0);
    `, deadlineMs + 10_000);
    return res.stdout;
  }

  test('with the CA and the client certificate a lease is claimed; without the certificate etcd refuses', async () => {
    const urls = `etcds://[${ADDRESS}]:2379`;
    const withCert = await claim({ urls, caFile: join(dir, 'ca.pem'), certFile: join(dir, 'client.pem'), keyFile: join(dir, 'client-key.pem') }, 15_000);
    assert.match(withCert, /^held 2001:db8:100:[0-9a-f]*::\/64$/);
    assert.equal(await claim({ urls, caFile: join(dir, 'ca.pem') }, 2_000), 'no lease');
  });
});
