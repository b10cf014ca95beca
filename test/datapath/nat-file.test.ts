import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCacheFile, parseDatapathConfig, natOptions, readDatapathConfigAt } from '../../src/datapath/nat-file.js';
import { ConfigError } from '../../src/errors.js';

const GOOD = `uplink: eth0
stateFile: /var/lib/sixgate/nat.snap
networks:
  - name: web
    bridge: br-web
    subnets: [fd66:1::/64]
  - { name: lab, bridge: br-lab, subnets: [fd66:2::/64], mode: nptv6, externalPrefix: 2001:db8:66::/64 }
published:
  - { protocol: tcp, hostPort: 8080, containerAddress: fd66:1::2, containerPort: 80 }
`;

function fails(text: string, re: RegExp, line: number): void {
  assert.throws(() => parseDatapathConfig(text, 'nat.yaml'), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, re);
    assert.equal(err.file, 'nat.yaml');
    assert.equal(err.line, line, err.message);
    return true;
  });
}

test('a valid file becomes a model (HostIp defaults to every address)', () => {
  const { model, stateFile } = parseDatapathConfig(GOOD);
  assert.equal(model.uplink, 'eth0');
  assert.equal(stateFile, '/var/lib/sixgate/nat.snap');
  assert.equal(model.networks.length, 2);
  assert.equal(model.published[0]!.hostIp, '');
  assert.equal(parseDatapathConfig(JSON.stringify({ uplink: 'eth0', networks: [] })).model.networks.length, 0);
});

test('errors name the key and file:line:column', () => {
  fails(GOOD.replace('bridge: br-web', 'bridge: br-web\n    colour: blue'), /networks\.0: unknown key "colour"/, 6);
  fails(GOOD.replace('containerPort: 80', 'containerPort: 99999'), /published\.0\.containerPort/, 9);
  fails(GOOD.replace('mode: nptv6, ', 'mode: nat, '), /networks\.1\.mode: must be one of "masquerade", "nptv6"/, 7);
  fails(GOOD.replace('subnets: [fd66:1::/64]', 'subnets: [fd66:zz::/64]'), /networks\.0\.subnets\.0: has the wrong form/, 6);
  fails(GOOD.replace('uplink: eth0\n', ''), /missing key "uplink"/, 1);
  fails(GOOD.replace(', externalPrefix: 2001:db8:66::/64', ''), /nptv6 needs externalPrefix/, 7);
  fails('uplink: [unclosed', /YAML: /, 1);
  fails(GOOD.replace('subnets: [fd66:1::/64]', 'subnets: [fd66:1::/64, "1:2:3:4:5:6:7:8:9::/64"]'), /networks\.0\.subnets\.1: .* is not an IPv6 address/, 6);
});

test('engine options: capacity and the session quotas reach the engine; a bad quota names its line', () => {
  const file = parseDatapathConfig(`capacity: 65536\naddressQuota: 4096\nnetworkQuota: 32768\n${GOOD}`);
  assert.deepEqual(natOptions(file), { capacity: 65536, addressQuota: 4096, networkQuota: 32768 });
  assert.deepEqual(natOptions(parseDatapathConfig(GOOD)), {});
  fails(`addressQuota: 0\n${GOOD}`, /addressQuota: must be >= 1/, 1);
});

test('refuse: reply or silent reaches the engine; another value names its line', () => {
  assert.deepEqual(natOptions(parseDatapathConfig(`refuse: silent\n${GOOD}`)), { refuse: 'silent' });
  assert.deepEqual(natOptions(parseDatapathConfig(`refuse: reply\n${GOOD}`)), { refuse: 'reply' });
  fails(`refuse: drop\n${GOOD}`, /refuse/, 1);
});

test('a start reuses the last parse of the same text, kept beside the state file; any other text is parsed again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sixgate-nat-file-'));
  try {
    const file = join(dir, 'nat.yaml');
    const stateFile = join(dir, 'nat.table');
    const text = GOOD.replace('/var/lib/sixgate/nat.snap', `"${stateFile}"`);
    writeFileSync(file, text);
    assert.deepEqual(readDatapathConfigAt(file), parseDatapathConfig(text, file));
    // What is kept is what the next start of the same text gets (a changed value shows it was not parsed).
    const kept = JSON.parse(readFileSync(parseCacheFile(stateFile), 'utf8')) as { key: string; config: { capacity?: number } };
    kept.config.capacity = 4096;
    writeFileSync(parseCacheFile(stateFile), JSON.stringify(kept));
    assert.equal(readDatapathConfigAt(file).capacity, 4096);
    writeFileSync(file, `capacity: 8192\n${text}`);
    assert.equal(readDatapathConfigAt(file).capacity, 8192);
    assert.equal(readDatapathConfigAt(file).capacity, 8192);
    writeFileSync(file, `capacity: 10\n${text}`);
    assert.throws(() => readDatapathConfigAt(file), ConfigError);
    // A state file named by the flag: the text need not name one.
    const flagged = join(dir, 'flagged.table');
    writeFileSync(file, GOOD.replace('stateFile: /var/lib/sixgate/nat.snap\n', ''));
    assert.equal(readDatapathConfigAt(file, flagged).stateFile, undefined);
    assert.ok(readFileSync(parseCacheFile(flagged), 'utf8').length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('publishOnHostAddresses: "" and "::" also on the uplink\'s own addresses, off unless said', () => {
  assert.equal(parseDatapathConfig(GOOD).model.publishOnHostAddresses, undefined);
  assert.equal(parseDatapathConfig(`${GOOD}publishOnHostAddresses: true\n`).model.publishOnHostAddresses, true);
  fails(`${GOOD}publishOnHostAddresses: yes please\n`, /publishOnHostAddresses/, 10);
});
