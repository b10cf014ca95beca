import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseNdppdConfig, NDPPD_DEFAULTS } from '../../src/ndp/ndppd-conf.js';
import { ConfigError } from '../../src/errors.js';

// The example shipped with Debian's ndppd package; the fallback is the same
// file's statements (comments trimmed) for machines without the package.
const DIST = '/usr/share/doc/ndppd/ndppd.conf-dist';
const distText = existsSync(DIST) ? readFileSync(DIST, 'utf8') :
  'route-ttl 30000\nproxy eth0 {\n   router yes\n   timeout 500\n   ttl 30000\n   rule 1111:: {\n      auto\n   }\n}\n';

describe('ndppd.conf parser', () => {
  test('reads ndppd.conf-dist as ndppd does', () => {
    const c = parseNdppdConfig(distText, DIST);
    assert.equal(c.routeTtl, 30000);
    assert.equal(c.addressTtl, 30000);
    assert.equal(c.proxies.length, 1);
    const p = c.proxies[0]!;
    assert.equal(p.iface, 'eth0');
    assert.equal(p.router, true);
    assert.equal(p.timeout, 500);
    assert.equal(p.ttl, 30000);
    assert.equal(p.deadtime, 30000);
    assert.equal(p.retries, 3);
    assert.equal(p.keepalive, true);
    assert.equal(p.autowire, false);
    assert.equal(p.promiscuous, false);
    assert.equal(p.rules.length, 1);
    const r = p.rules[0]!;
    assert.equal(r.text, '1111::/128');
    assert.equal(r.prefixLength, 128);
    assert.equal(r.method, 'auto');
    assert.equal(r.iface, null);
    assert.equal(r.autovia, false);
    assert.deepEqual([...r.prefix], [0x11, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(c.warnings, []);
  });

  test('every keyword, with every comment form, = and quoted values', () => {
    const text = [
      '/* a block comment',
      '   over two lines */ route-ttl = 2147483647  // SONiC sets this to stop /proc reads',
      'address-ttl 1000 # comment',
      'proxy "eth0" {',
      '  router no; timeout 250; ttl 60000',
      '  deadtime 5000',
      '  retries 0',
      '  keepalive NO',
      '  autowire True',
      '  promiscuous yes',
      '  rule 2001:DB8:0:1::/64',
      '  {',
      "    iface 'veth1'",
      '    autovia yes',
      '  }',
      '  rule 2001:db8:0:2::/64 { auto }',
      '  rule 2001:db8::5 { static }',
      '}',
      'proxy eth1 { rule fd00::/8 { static } }',
    ].join('\n');
    const c = parseNdppdConfig(text, 'all.conf');
    assert.equal(c.routeTtl, 2147483647);
    assert.equal(c.addressTtl, 1000);
    const [p, q] = c.proxies;
    assert.deepEqual(
      { ...p!, rules: undefined },
      { iface: 'eth0', router: false, timeout: 250, ttl: 60000, deadtime: 5000, retries: 0, keepalive: false,
        autowire: true, promiscuous: true, rules: undefined, line: 4, column: 1 },
    );
    assert.deepEqual(p!.rules.map((r) => [r.text, r.method, r.iface, r.autovia, r.line]), [
      ['2001:db8:0:1::/64', 'iface', 'veth1', true, 11],
      ['2001:db8:0:2::/64', 'auto', null, false, 16],
      ['2001:db8::5/128', 'static', null, false, 17],
    ]);
    assert.equal(q!.iface, 'eth1');
    assert.equal(q!.ttl, NDPPD_DEFAULTS.ttl);
    assert.equal(q!.deadtime, NDPPD_DEFAULTS.ttl, 'deadtime defaults to ttl');
    assert.deepEqual(c.warnings.map((w) => [w.line, w.column]), [[19, 14]], 'static /8 is warned about');
  });

  test('warnings for what ndppd accepts but is probably a mistake', () => {
    const c = parseNdppdConfig('proxy eth0 {\n  rule 2001:db8::1/64 { static }\n  rule 2001:db8::/126 { static; autovia yes }\n}\n', 'w.conf');
    assert.deepEqual(c.proxies[0]!.rules.map((r) => r.method), ['static', 'static']);
    const messages = c.warnings.map((w) => `${w.line}:${w.column} ${w.message}`);
    assert.equal(messages.length, 3, messages.join('\n'));
    assert.match(messages[0]!, /^2:3 static rule .* \/64/);
    assert.match(messages[1]!, /^2:8 .*bits set past \/64/);
    assert.match(messages[2]!, /^3:3 autovia only/);
  });

  // ndppd runs idle on these (checked against ndppd 0.2.5 in a namespace): deployments keep one as a placeholder.
  for (const [name, text] of [['an empty file', ''], ['a comment-only file', '# ndppd: nothing proxied yet\n// nor here\n']]) {
    test(`accepts ${name}, with a warning that nothing is proxied`, () => {
      const c = parseNdppdConfig(text, 'p.conf');
      assert.deepEqual(c.proxies, []);
      assert.deepEqual(c.warnings.map((w) => `${w.line}:${w.column} ${w.message}`), ['1:1 no proxy section: answering nothing until one is added (then SIGHUP)']);
    });
  }

  const bad: [string, string, number, number, RegExp][] = [
    ['unknown top-level key', 'proxi eth0 {\n}\n', 1, 1, /unknown option 'proxi'/],
    ['unknown proxy key', 'proxy eth0 {\n  timout 500\n}\n', 2, 3, /unknown proxy option 'timout'/],
    ['unknown rule key', 'proxy eth0 {\n  rule ::1 { statik }\n}\n', 2, 14, /unknown rule option 'statik'/],
    ['boolean typo (ndppd reads it as no)', 'proxy eth0 {\n  router yse\n}\n', 2, 10, /router' must be yes or no/],
    ['bare boolean (ndppd reads it as no)', 'proxy eth0 {\n  keepalive\n}\n', 2, 3, /'keepalive' needs a value/],
    ['number with garbage (ndppd atoi gives 0)', 'proxy eth0 {\n  timeout 5OO\n}\n', 2, 11, /whole number/],
    ['negative number', 'proxy eth0 {\n  ttl -1\n}\n', 2, 7, /whole number/],
    ['zero timeout', 'proxy eth0 {\n  timeout 0\n}\n', 2, 11, /between 1 and/],
    ['too many retries', 'proxy eth0 {\n  retries 1000\n}\n', 2, 11, /between 0 and 100/],
    ['route-ttl too big', 'route-ttl 2147483648\n', 1, 11, /between 1 and 2147483647/],
    ['bad address', 'proxy eth0 {\n  rule 2001:db8::g { static }\n}\n', 2, 8, /not an IPv6 address/],
    ['IPv4 address', 'proxy eth0 {\n  rule 192.0.2.1 { static }\n}\n', 2, 8, /not an IPv6 address/],
    ['zone index', 'proxy eth0 {\n  rule fe80::1%eth0 { static }\n}\n', 2, 8, /not an IPv6 address/],
    ['prefix length > 128', 'proxy eth0 {\n  rule 2001:db8::/129 { static }\n}\n', 2, 8, /0 to 128/],
    ['prefix length not a number', 'proxy eth0 {\n  rule 2001:db8::/x { static }\n}\n', 2, 8, /0 to 128/],
    ['multicast rule', 'proxy eth0 {\n  rule ff02::1 { static }\n}\n', 2, 8, /multicast/],
    ['rule without address', 'proxy eth0 {\n  rule { static }\n}\n', 2, 3, /'rule' needs an address/],
    ['two methods', 'proxy eth0 {\n  rule ::1 {\n    static\n    auto\n  }\n}\n', 4, 5, /one of static, iface or auto; 'static' is already given at 3:5/],
    ['iface without name', 'proxy eth0 {\n  rule ::1 { iface }\n}\n', 2, 14, /'iface' needs an interface name/],
    ['interface name too long', 'proxy abcdefghijklmnop {\n}\n', 1, 7, /interface name/],
    ['static with a value', 'proxy eth0 {\n  rule ::1 { static yes }\n}\n', 2, 21, /takes no value/],
    ['block on a scalar', 'proxy eth0 {\n  ttl 5 { }\n}\n', 2, 9, /does not take a \{ \} block/],
    ['proxy without block', 'proxy eth0\n', 1, 1, /needs a \{ \} block/],
    ['proxy without interface', 'proxy {\n}\n', 1, 1, /'proxy' needs an interface name/],
    ['value on the next line', 'proxy\neth0 {\n}\n', 1, 1, /'proxy' needs an interface name/],
    ['two values', 'proxy eth0 {\n  ttl 5 6\n}\n', 2, 9, /end of the 'ttl' statement, found '6'/],
    ['duplicate key', 'proxy eth0 {\n  ttl 5\n  ttl 6\n}\n', 3, 3, /given twice \(first at 2:3\)/],
    ['duplicate proxy', 'proxy eth0 {\n}\nproxy eth0 {\n}\n', 3, 1, /second proxy for eth0 \(the first is at 1:1\)/],
    ['unclosed block', 'proxy eth0 {\n  rule ::1 {\n    static\n}\n', 5, 1, /'\{' opened at 1:12 is never closed/],
    ['stray close', 'route-ttl 5\n}\n', 2, 1, /without a matching/],
    ['unterminated comment', 'route-ttl 5\n  /* oops\n', 2, 3, /unterminated \/\* comment/],
    ['unterminated string', 'proxy "eth0 {\n}\n', 1, 7, /unterminated quoted string/],
    ['non-ASCII', 'proxy eth0 {\n  router yes\u00a0\n}\n', 2, 13, /unexpected character/],
    ['key that is not a keyword', 'proxy eth0 {\n  2001:db8::1\n}\n', 2, 3, /expected a keyword/],
    // ndppd 0.2.5: "You must specify either 'iface', 'auto' or 'static'", exit 255.
    ['rule without a method', 'proxy eth0 {\n  rule 2001:db8::1/64\n}\n', 2, 3, /rule 2001:db8::1\/64 names no method: add one of static, iface <interface> or auto/],
    ['rule with an empty block', 'proxy eth0 {\n  rule 2001:db8::1 {\n  }\n}\n', 2, 3, /names no method/],
    ["';' used as a comment", 'proxy eth0 {\n  ; the uplink\n  rule ::1 { static }\n}\n', 2, 3, /';' does not start a comment in ndppd.conf .*use '#'/],
  ];
  for (const [name, text, line, column, message] of bad) {
    test(`rejects: ${name}`, () => {
      assert.throws(() => parseNdppdConfig(text, 'bad.conf'), (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.equal(e.code, 'SIXGATE_ERR_CONFIG');
        assert.match(e.message, message);
        assert.equal(`${e.file}:${e.line}:${e.column}`, `bad.conf:${line}:${column}`, e.message);
        assert.ok(e.message.startsWith(`bad.conf:${line}:${column}: `));
        return true;
      });
    });
  }
});
