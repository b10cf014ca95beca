// DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH; TLS with client certificates on loopback.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { EngineClient } from '../../src/docker/client.js';
import { parseDockerHost, endpointFromEnv, describeEndpoint } from '../../src/docker/endpoint.js';
import { ConfigError } from '../../src/errors.js';
import { requires } from '../support/prereq.js';

const dir = mkdtempSync(join(tmpdir(), 'sgt-endpoint-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('DOCKER_HOST and TLS settings', () => {
  assert.deepEqual(endpointFromEnv({}), { kind: 'unix', socketPath: '/var/run/docker.sock' });
  assert.deepEqual(parseDockerHost('unix:///run/d.sock'), { kind: 'unix', socketPath: '/run/d.sock' });
  assert.deepEqual(parseDockerHost('tcp://10.0.0.1'), { kind: 'tcp', origin: 'http://10.0.0.1:2375' });
  assert.deepEqual(parseDockerHost('tcp://[2001:db8::1]:2376', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/c' }),
    { kind: 'tcp', origin: 'https://[2001:db8::1]:2376', tls: { certPath: '/c', verify: true } });
  assert.deepEqual(parseDockerHost('tcp://h', { DOCKER_TLS: '1', DOCKER_CERT_PATH: '/c' }),
    { kind: 'tcp', origin: 'https://h:2376', tls: { certPath: '/c', verify: false } });
  assert.equal(describeEndpoint(parseDockerHost('unix:///x.sock')), 'unix:///x.sock');
  for (const bad of ['ssh://user@h', 'unix://relative', 'tcp://h:99999', 'npipe:////./pipe/docker_engine']) {
    assert.throws(() => parseDockerHost(bad), ConfigError, bad);
  }
});

test('TLS with client certificates (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)', requires({ tools: ['openssl'] }), async () => {
  const certs = join(dir, 'certs');
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  execFileSync('mkdir', ['-p', certs]);
  sh(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', join(certs, 'ca-key.pem'), '-out', join(certs, 'ca.pem')]);
  const leaf = (name: string, ext: string) => {
    sh(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', join(certs, `${name}-key.pem`), '-out', join(certs, `${name}.csr`)]);
    writeFileSync(join(certs, `${name}.ext`), ext);
    sh(['x509', '-req', '-in', join(certs, `${name}.csr`), '-CA', join(certs, 'ca.pem'), '-CAkey', join(certs, 'ca-key.pem'), '-CAcreateserial', '-days', '1',
      '-extfile', join(certs, `${name}.ext`), '-out', join(certs, `${name}.pem`)]);
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  leaf('cert', 'extendedKeyUsage=clientAuth\n');
  execFileSync('mv', [join(certs, 'cert-key.pem'), join(certs, 'key.pem')]);
  const read = (f: string) => readFileSync(join(certs, f));
  const server = createHttpsServer({ key: read('server-key.pem'), cert: read('server.pem'), ca: read('ca.pem'), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      res.setHeader('Api-Version', '1.45');
      res.end(req.url === '/_ping' ? 'OK' : JSON.stringify([{ Id: 'n', Name: (req.socket as TLSSocket).getPeerCertificate().subject.CN }]));
    });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const ep = parseDockerHost(`tcp://127.0.0.1:${port}`, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
  const client = new EngineClient(ep);
  assert.equal(await client.negotiate(), '1.45');
  assert.deepEqual(await client.listNetworks(), [{ Id: 'n', Name: 'cert' }]);
  await client.close();
  // Without the CA the server certificate is refused.
  const otherDir = join(dir, 'nocerts');
  execFileSync('mkdir', ['-p', otherDir]);
  assert.throws(() => new EngineClient(parseDockerHost(`tcp://127.0.0.1:${port}`, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: otherDir })), ConfigError);
  server.close();
});
