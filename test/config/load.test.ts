// The service configuration: schema errors name the key and file:line:column,
// values merge with flag > env > file > default.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { envOverrides, loadServiceConfig, parseConfigText, parseOptionText } from '../../src/config/load.js';
import { DEFAULTS, OPTIONS, OPTION_BY_KEY, attributeOf } from '../../src/config/options.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('no ConfigError');
}

describe('config file', () => {
  test('a valid file parses, ranges in both forms', () => {
    const v = parseConfigText('uplink: eth0\nndp: false\nhostPortRange: 62000-62999\ncapacity: 65536\n', 'f.yaml');
    assert.deepEqual(v, { uplink: 'eth0', ndp: false, hostPortRange: [62000, 62999], capacity: 65536 });
    assert.deepEqual(parseConfigText('hostPortRange: [1000, 2000]\n', 'f.yaml').hostPortRange, [1000, 2000]);
    assert.deepEqual(parseConfigText('', 'empty.yaml'), {});
    assert.deepEqual(parseConfigText('# only a comment\n', 'c.yaml'), {});
  });

  test('an unknown key is named at its own line and column, with a suggestion', () => {
    const e = configError(() => parseConfigText('uplink: eth0\n\n  # x\nnat_66: true\n', 'f.yaml'));
    assert.equal(e.line, 4);
    assert.equal(e.column, 1);
    assert.match(e.message, /^f\.yaml:4:1: unknown key "nat_66" \(did you mean "nat66"\?\)/);
  });

  test('a wrong type or value names the key and the value\'s line', () => {
    let e = configError(() => parseConfigText('uplink: eth0\nndp: maybe\n', 's.yaml'));
    assert.equal(e.line, 2);
    assert.equal(e.column, 6);
    assert.match(e.message, /ndp: must be boolean/);
    e = configError(() => parseConfigText('addressMode: shared\n', 's.yaml'));
    assert.match(e.message, /^s\.yaml:1:14: addressMode: must be one of "auto", "dedicated", "host"/);
    e = configError(() => parseConfigText('uplink: eth0\ncapacity: 12\n', 's.yaml'));
    assert.match(e.message, /^s\.yaml:2:\d+: capacity: /);
    e = configError(() => parseConfigText('tun: "has space"\n', 's.yaml'));
    assert.match(e.message, /^s\.yaml:1:\d+: tun: has the wrong form/);
    e = configError(() => parseConfigText('\n\nhostPortRange: 9000-100\n', 's.yaml'));
    assert.match(e.message, /^s\.yaml:3:\d+: hostPortRange: port range must be lo-hi/);
    e = configError(() => parseConfigText('hostPortRange: [1, 2, 3]\n', 's.yaml'));
    assert.match(e.message, /^s\.yaml:1:\d+: hostPortRange: must be "lo-hi" or \[lo, hi\]/);
  });

  test('throwPrefixes and ipv4Map: YAML sequence and mapping, or comma text; bad addresses name the key', () => {
    const v = parseConfigText('throwPrefixes: [2001:db8:9::/48, fd00::/8]\nipv4Map:\n  192.0.2.1: 2001:db8::1\n', 'f.yaml');
    assert.deepEqual(v, { throwPrefixes: ['2001:db8:9::/48', 'fd00::/8'], ipv4Map: { '192.0.2.1': '2001:db8::1' } });
    assert.deepEqual(envOverrides({ SIXGATE_THROW_PREFIXES: '2001:db8:9::/48, fd00::/8', SIXGATE_IPV4_MAP: '192.0.2.1=2001:db8::1,192.0.2.2=2001:db8::2' }),
      { throwPrefixes: ['2001:db8:9::/48', 'fd00::/8'], ipv4Map: { '192.0.2.1': '2001:db8::1', '192.0.2.2': '2001:db8::2' } });
    assert.match(configError(() => parseConfigText('\nthrowPrefixes: [2001:db8:9::/48, "1:2:3:4:5:6:7:8:9::/64"]\n', 'f.yaml')).message, /f\.yaml:2:\d+: throwPrefixes: .*not an IPv6 prefix/);
    assert.match(configError(() => envOverrides({ SIXGATE_IPV4_MAP: '192.0.2.1' })).message, /SIXGATE_IPV4_MAP: "192\.0\.2\.1" is not v4=v6/);
    assert.match(configError(() => envOverrides({ SIXGATE_IPV4_MAP: '192.0.2.300=::1' })).message, /not an IPv4 address/);
    assert.deepEqual([DEFAULTS.throwPrefixes, DEFAULTS.ipv4Map], [[], {}]);
  });

  test('YAML syntax errors and non-mappings point at a line', () => {
    let e = configError(() => parseConfigText('uplink: eth0\nndp: [\n', 'y.yaml'));
    assert.ok(e.line !== undefined && e.line >= 2, e.message);
    assert.match(e.message, /YAML/);
    e = configError(() => parseConfigText('- a\n- b\n', 'y.yaml'));
    assert.match(e.message, /y\.yaml:1:1: the file must be a mapping/);
  });
});

describe('flags, environment, file, defaults', () => {
  test('precedence is flag > env > file > default, per option', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sgcfg-'));
    try {
      const file = join(dir, 'sixgate.yaml');
      writeFileSync(file, 'uplink: from-file\ntun: tunfile\nlogLevel: warn\nndp: false\n');
      const env = { SIXGATE_TUN: 'tunenv', SIXGATE_LOG_LEVEL: 'debug', SIXGATE_NAT66: 'off' };
      const r = loadServiceConfig({ flags: { logLevel: 'trace' }, env, configFile: file });
      assert.equal(r.config.uplink, 'from-file');
      assert.equal(r.config.tun, 'tunenv');
      assert.equal(r.config.logLevel, 'trace');
      assert.equal(r.config.ndp, false);
      assert.equal(r.config.nat66, false);
      assert.equal(r.config.addressMode, DEFAULTS.addressMode);
      assert.deepEqual(
        { uplink: r.sources.uplink, tun: r.sources.tun, logLevel: r.sources.logLevel, ndp: r.sources.ndp, nat66: r.sources.nat66, addressMode: r.sources.addressMode },
        { uplink: 'file', tun: 'env', logLevel: 'flag', ndp: 'file', nat66: 'env', addressMode: 'default' });
      assert.equal(r.file, file);
      // SIXGATE_CONFIG names the file when --config does not.
      assert.equal(loadServiceConfig({ flags: {}, env: { SIXGATE_CONFIG: file } }).config.uplink, 'from-file');
      // ipv6nat reads no file.
      assert.equal(loadServiceConfig({ flags: {}, env: { SIXGATE_CONFIG: file }, noFile: true }).config.uplink, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a named file that is missing is an error; bad env values name the variable', () => {
    assert.match(configError(() => loadServiceConfig({ flags: {}, env: {}, configFile: '/nonexistent/x.yaml' })).message, /x\.yaml: cannot read the configuration: ENOENT/);
    assert.match(configError(() => envOverrides({ SIXGATE_CAPACITY: 'lots' })).message, /SIXGATE_CAPACITY: expected an integer/);
    assert.match(configError(() => envOverrides({ SIXGATE_DOCKER_IP6TABLES: 'maybe' })).message, /SIXGATE_DOCKER_IP6TABLES: expected one of auto, on, off/);
    assert.match(configError(() => envOverrides({ SIXGATE_HOST_PORT_RANGE: '5-1' })).message, /SIXGATE_HOST_PORT_RANGE: port range/);
    assert.deepEqual(envOverrides({ SIXGATE_CLEANUP: 'yes', SIXGATE_METRICS_LISTEN: '[::1]:9464', SIXGATE_UNRELATED: 'x' }), { cleanup: true, metricsListen: '[::1]:9464' });
  });

  test('every option has a flag whose attribute is its key and a SIXGATE_ variable', () => {
    const envs = new Set<string>();
    for (const o of OPTIONS) {
      assert.equal(attributeOf(o), o.key);
      assert.match(o.env, /^SIXGATE_[A-Z0-9_]+$/);
      envs.add(o.env);
    }
    assert.equal(envs.size, OPTIONS.length);
    assert.equal(OPTION_BY_KEY.get('dockerIp6tables')!.env, 'SIXGATE_DOCKER_IP6TABLES');
    assert.equal(parseOptionText(OPTION_BY_KEY.get('metricsListen')!, ':9464', '--metrics-listen'), ':9464');
  });
});
