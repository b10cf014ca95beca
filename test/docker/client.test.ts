// The Engine API client and the feed's reconnect logic against a fake engine
// (node:http on a unix socket): negotiation, event-stream parsing,
// since-resume, error classes, the feed's iterator.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { EngineClient, parseEventLine, sinceFromTimeNano, compareApiVersions, CLIENT_API_VERSION } from '../../src/docker/client.js';
import { DockerFeed } from '../../src/docker/feed.js';
import { DockerApiError } from '../../src/errors.js';
import { requires } from '../support/prereq.js';
import { waitFor } from '../support/wait.js';
import { captureLog } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'sgt-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

type Handler = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => void;

/** A fake engine on a fresh unix socket; `requests` records every path asked for. */
async function fakeEngine(apiVersion: string, handler: Handler): Promise<{ server: Server; socket: string; requests: string[] }> {
  const socket = join(dir, `e${n++}.sock`);
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(req.url ?? '');
    res.setHeader('Api-Version', apiVersion);
    const path = url.pathname.replace(/^\/v[\d.]+/, '');
    if (path === '/_ping') { res.end('OK'); return; }
    if (path === '/version') { res.end(JSON.stringify({ Version: '20.10.24', ApiVersion: apiVersion })); return; }
    if (path === '/info') { res.end(JSON.stringify({ ID: 'FAKE', ServerVersion: '20.10.24' })); return; }
    handler(req, res, path, url.searchParams);
  });
  server.listen(socket);
  await once(server, 'listening');
  return { server, socket, requests };
}

const json = (res: ServerResponse, body: unknown, status = 200) => { res.statusCode = status; res.end(JSON.stringify(body)); };

test('version negotiation: min(engine, ours) in every path', async () => {
  for (const [engine, used] of [['1.41', '1.41'], ['1.52', CLIENT_API_VERSION]]) {
    const fake = await fakeEngine(engine, (_q, res) => json(res, []));
    const client = new EngineClient({ kind: 'unix', socketPath: fake.socket });
    assert.equal(await client.negotiate(), used);
    assert.equal(client.engineApiVersion, engine);
    await client.listNetworks();
    await client.listContainers();
    assert.deepEqual(fake.requests, ['/_ping', `/v${used}/networks`, `/v${used}/containers/json`]);
    await client.close();
    fake.server.close();
  }
  assert.ok(compareApiVersions('1.9', '1.41') < 0 && compareApiVersions('1.48', '1.48') === 0 && compareApiVersions('2.0', '1.99') > 0);
});

test('HTTP errors are DockerApiError; 404 on inspect is undefined; non-JSON is a protocol error', async () => {
  const fake = await fakeEngine('1.41', (_q, res, path) => {
    if (path.startsWith('/containers/gone')) json(res, { message: 'No such container' }, 404);
    else if (path === '/networks') json(res, { message: 'boom' }, 500);
    else res.end('not json');
  });
  const client = new EngineClient({ kind: 'unix', socketPath: fake.socket });
  assert.equal(await client.inspectContainer('gone'), undefined);
  await assert.rejects(client.listNetworks(), (e: unknown) => e instanceof DockerApiError && e.reason === 'http' && e.status === 500 && /boom/.test(e.message));
  await assert.rejects(client.listContainers(), (e: unknown) => e instanceof DockerApiError && e.reason === 'protocol');
  await client.close();
  fake.server.close();
});

test('connection errors say what to do: socket missing, engine down', async () => {
  const missing = new EngineClient({ kind: 'unix', socketPath: join(dir, 'nothing.sock') });
  await assert.rejects(missing.ping(), (e: unknown) => e instanceof DockerApiError && e.reason === 'socket-missing'
    && e.code === 'SIXGATE_ERR_DOCKER_SOCKET_MISSING' && /does not exist: is dockerd running/.test(e.message));
  await missing.close();
  const file = join(dir, 'plain-file.sock');
  writeFileSync(file, '');
  const down = new EngineClient({ kind: 'unix', socketPath: file });
  await assert.rejects(down.ping(), (e: unknown) => e instanceof DockerApiError && e.reason === 'engine-down' && /not answering/.test(e.message));
  await down.close();
});

test('permission denied on the socket (a non-root user against a root-only socket)', requires({ root: true }), async () => {
  const fake = await fakeEngine('1.41', (_q, res) => json(res, []));
  chmodSync(fake.socket, 0o600);
  chmodSync(dir, 0o755);
  const clientJs = new URL('../../src/docker/client.js', import.meta.url).href;
  const code = `import { EngineClient } from ${JSON.stringify(clientJs)};
    const c = new EngineClient({ kind: 'unix', socketPath: ${JSON.stringify(fake.socket)} });
    try { await c.ping(); console.log('ok'); } catch (e) { console.log(e.reason, e.message); } await c.close();`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/', timeout: 10_000 });
  assert.match(r.stdout, /^permission-denied permission denied on unix:\/\/.*run as root or as a member of the socket's group/);
  fake.server.close();
});

test('event lines: exact nanosecond times, unknown types and junk ignored', () => {
  const ev = parseEventLine('{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"x"}},"time":1795340404,"timeNano":1795340404185709531}');
  assert.deepEqual(ev, { type: 'container', action: 'start', id: 'abc', attributes: { name: 'x' }, timeNano: '1795340404185709531' });
  assert.equal(sinceFromTimeNano(ev!.timeNano), '1795340404.185709531');
  assert.equal(sinceFromTimeNano('5'), '0.000000005');
  assert.equal(parseEventLine('{"Type":"image","Action":"pull","Actor":{"ID":"x"}}'), undefined);
  assert.equal(parseEventLine('{not json'), undefined);
  assert.equal(parseEventLine('   '), undefined);
  assert.equal(parseEventLine('{"Type":"network","Action":"create","Actor":{"ID":"n"},"time":7}')?.timeNano, '7000000000');
});

test('the event stream: filtered, lines split across chunks, since passed on', async () => {
  let since: string | null = null;
  let filters: string | null = null;
  const fake = await fakeEngine('1.41', (_q, res, path, query) => {
    if (path !== '/events') return json(res, []);
    since = query.get('since');
    filters = query.get('filters');
    res.write('{"Type":"network","Action":"create","Actor":{"ID":"n1"},"timeNano":1000000000000000001}\n{"Type":"cont');
    setTimeout(() => res.end('ainer","Action":"die","Actor":{"ID":"c1"},"timeNano":1000000000000000002}\n'), 20);
  });
  const client = new EngineClient({ kind: 'unix', socketPath: fake.socket });
  const stream = await client.subscribe({ since: '12.5', signal: new AbortController().signal });
  const got = [];
  for await (const ev of stream) got.push(`${ev.type} ${ev.action} ${ev.id} ${ev.timeNano}`);
  assert.deepEqual(got, ['network create n1 1000000000000000001', 'container die c1 1000000000000000002']);
  assert.equal(since, '12.5');
  assert.deepEqual(JSON.parse(filters!).type, ['container', 'network']);
  await client.close();
  fake.server.close();
});

test('the feed: the stream breaks, it retries with a line, resumes with since= and resyncs fully', async () => {
  const subs: Array<string | null> = [];
  let lists = 0;
  const fake = await fakeEngine('1.41', (_q, res, path, query) => {
    if (path === '/events') {
      subs.push(query.get('since'));
      if (subs.length === 1) {
        res.write('{"Type":"container","Action":"die","Actor":{"ID":"c9"},"timeNano":1795340404185709531}\n');
        setTimeout(() => res.destroy(), 30);
      } else {
        res.write('');
      }
      return;
    }
    if (path === '/networks') lists++;
    json(res, []);
  });
  const logs = captureLog();
  const feed = new DockerFeed({ log: logs.log, endpoint: { kind: 'unix', socketPath: fake.socket }, backoff: { initialMs: 10, maxMs: 20 } });
  feed.start();
  await feed.ready();
  await waitFor(() => subs.length >= 2 && feed.state === 'live' && feed.counters.sessions >= 2, 5_000, 'the second session');
  assert.deepEqual(subs.slice(0, 2), [null, '1795340404.185709531']);
  assert.ok(lists >= 2, 'a full resync per session');
  assert.ok(logs.has(/lost the Docker engine: .*retry 1 in 10 ms/));
  await feed.stop();
  assert.equal(feed.state, 'stopped');
  fake.server.close();
});

test('the feed: a wedged engine (stream open, /_ping failing) is noticed by the liveness ping', async () => {
  let wedged = false;
  let subs = 0;
  const socket = join(dir, `e${n++}.sock`);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/v[\d.]+/, '');
    res.setHeader('Api-Version', '1.41');
    if (path === '/_ping') { res.statusCode = wedged ? 500 : 200; res.end(wedged ? 'wedged' : 'OK'); return; }
    if (path === '/events') { subs++; res.write(''); return; }
    json(res, path === '/version' || path === '/info' ? {} : []);
  });
  server.listen(socket);
  await once(server, 'listening');
  const logs = captureLog();
  const feed = new DockerFeed({ log: logs.log, endpoint: { kind: 'unix', socketPath: socket }, pingIntervalMs: 30, backoff: { initialMs: 10, maxMs: 40 } });
  feed.start();
  await feed.ready();
  wedged = true;
  await waitFor(() => logs.has(/lost the Docker engine: GET \/_ping .*HTTP 500 wedged; retry 1/), 5_000, 'the liveness failure');
  await waitFor(() => logs.lines.filter((l) => /retry \d+ in/.test(l.msg)).length >= 3, 5_000, 'more attempts while wedged');
  wedged = false;
  await waitFor(() => feed.state === 'live' && subs >= 2, 5_000, 'live again');
  await feed.stop();
  server.closeAllConnections();
  server.close();
});

test('the feed as an async iterator: the resync batch, then done after stop()', async () => {
  const fake = await fakeEngine('1.41', (_q, res, path) => {
    if (path === '/events') { res.write(''); return; }
    if (path === '/networks') return json(res, [{ Id: 'n'.repeat(64), Name: 'u', Driver: 'bridge', IPAM: { Config: [{ Subnet: 'fd00:5::/64' }] } }]);
    if (path === '/containers/json') {
      return json(res, [{ Id: 'c'.repeat(64), Names: ['/web'], State: 'running', Ports: [{ IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }],
        NetworkSettings: { Networks: { u: { NetworkID: 'n'.repeat(64), GlobalIPv6Address: 'fd00:5::2', GlobalIPv6PrefixLen: 64 } } } }]);
    }
    json(res, {}, 404);
  });
  const feed = new DockerFeed({ log: captureLog().log, endpoint: { kind: 'unix', socketPath: fake.socket } });
  const it = feed.changes();
  feed.start();
  const first = await it.next();
  assert.equal(first.done, false);
  assert.equal(first.value!.cause, 'resync');
  assert.deepEqual(first.value!.deltas.map((d) => d.kind), ['network-added', 'address-added', 'port-added']);
  const done = it.next();
  await feed.stop();
  assert.deepEqual(await done, { value: undefined, done: true });
  assert.deepEqual(await feed.changes().next(), { value: undefined, done: true });
  await feed.ready(); // resolved before stop(), and stays so
  fake.server.close();
});

