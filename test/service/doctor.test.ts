// `sixgate doctor` run inside a test namespace (never judging the root
// namespace): a clean one gives no finding and exit 0; each planted problem
// — a real nftables FORWARD drop policy, a running ndppd, a kernel proxy
// entry, a bridge that snoops multicast with no querier — is named with its
// fix and exit 1, and applying the fix it names clears it; so is a missing
// CAP_BPF (the kernel fast paths stay off). Next to a real
// dockerd: Docker's own IPv6 NAT, its FORWARD policy and a network it NATs.
// A daemon logs the same findings at start-up, one warning each.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { requires } from '../support/prereq.js';
import { jsonLogs } from '../support/process.js';
import { waitFor } from '../support/wait.js';
import { Lab, type Netns } from '../support/netns.js';
import { DockerHost } from '../support/docker.js';
import { CLI } from '../datapath/topology.js';
import { ip6tablesFindings } from '../../src/service/doctor.js';

const req = requires({ root: true, tools: ['ip', 'nsenter', 'nft', 'ndppd'] });

describe('sixgate doctor in a namespace', { ...req, timeout: 60_000 }, () => {
  let lab: Lab;
  let host: Netns;

  before(() => {
    lab = new Lab();
    host = lab.ns('doc');
    lab.veth(host, 'up0', lab.ns('rt'), 'down0');
    lab.addr(host, 'up0', '2001:db8:1::2/64');
    lab.bridge(host, 'br0');
    host.ip('link', 'set', 'dev', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    host.sysctl('net.ipv6.conf.all.forwarding', '1');
    host.sysctl('net.ipv6.conf.up0.accept_ra', '2');
  });

  after(() => lab?.destroy());

  async function doctor(): Promise<{ code: number | null; lines: string[] }> {
    const r = await host.run(process.execPath, [CLI, 'doctor', '--uplink', 'up0', '--no-docker'], 20_000);
    assert.equal(r.stderr, '');
    return { code: r.code, lines: r.stdout.trim().split('\n') };
  }

  test('a clean namespace: no finding, exit 0', async () => {
    assert.deepEqual(await doctor(), { code: 0, lines: ['no problem found'] });
  });

  test('without CAP_BPF the fast paths are named as off, with the fix', async () => {
    // CAP_SYS_ADMIN would let bpf(2) through too: both leave the bounding set.
    const r = await host.run('setpriv', ['--bounding-set', '-bpf,-sys_admin', '--inh-caps', '-bpf,-sys_admin', process.execPath, CLI, 'doctor', '--uplink', 'up0', '--no-docker'], 20_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^fastpath +no CAP_BPF: the NAT66 fast path and NDP answers in the kernel stay off.*Fix: grant it \(systemd: CAP_BPF/m);
  });

  test('an nftables FORWARD drop policy is named with the rules that fix it', async () => {
    host.exec('nft', ['add table inet filter']);
    host.exec('nft', ['add chain inet filter forward { type filter hook forward priority 0; policy drop; }']);
    try {
      const r = await doctor();
      assert.equal(r.code, 1);
      assert.equal(r.lines.length, 1, r.lines.join('\n'));
      assert.match(r.lines[0]!, /^firewall +nftables chain inet filter forward \(hook forward\) has policy drop: .* Fix: nft insert rule inet filter forward iifname "sixgate0" accept; nft insert rule inet filter forward oifname "sixgate0" accept/);
      host.exec('nft', ['insert rule inet filter forward iifname "sixgate0" accept']);
      host.exec('nft', ['insert rule inet filter forward oifname "sixgate0" accept']);
      assert.equal((await doctor()).code, 0, 'the fix named clears it');
      host.exec('nft', ['add rule inet filter forward oifname "up0" drop']);
      assert.match((await doctor()).lines.join('\n'), /^firewall +nftables rule inet filter forward handle \d+ drops IPv6 forwarded on up0: .*Fix: nft delete rule inet filter forward handle \d+/m);
    } finally {
      host.exec('nft', ['delete table inet filter']);
    }
  });

  test("firewalld's closing reject is named with firewall-cmd as its fix", async () => {
    host.exec('nft', ['add table inet firewalld']);
    host.exec('nft', ['add chain inet firewalld filter_FORWARD { type filter hook forward priority 10; policy accept; }']);
    host.exec('nft', ['add rule inet firewalld filter_FORWARD reject with icmpx type admin-prohibited']);
    try {
      const r = await doctor();
      assert.equal(r.code, 1);
      assert.match(r.lines.join('\n'), /^firewall +nftables rule inet firewalld filter_FORWARD handle \d+ drops IPv6 forwarded on every interface: .*Fix: firewalld owns it: firewall-cmd --permanent --zone=trusted --add-interface=sixgate0 && firewall-cmd --reload/m);
    } finally {
      host.exec('nft', ['delete table inet firewalld']);
    }
  });

  test('a running ndppd and a kernel proxy entry compete for the addresses', async () => {
    const conf = `/tmp/${host.name}-ndppd.conf`;
    writeFileSync(conf, 'proxy up0 {\n  rule 2001:db8:1::/64 {\n    static\n  }\n}\n');
    const ndppd = host.spawn('ndppd', ['-c', conf]);
    host.ip('-6', 'neigh', 'add', 'proxy', '2001:db8:1::5', 'dev', 'up0');
    try {
      await sleep(300);
      const r = await doctor();
      assert.equal(r.code, 1);
      assert.ok(r.lines.some((l) => new RegExp(`^ndp +ndppd \\(pid ${ndppd.pid}\\) is running: .*systemctl disable --now ndppd`).test(l)), r.lines.join('\n'));
      assert.ok(r.lines.some((l) => /^ndp +the kernel holds a proxy entry for 2001:db8:1::5 on up0 .* Fix: ip -6 neigh del proxy 2001:db8:1::5 dev up0$/.test(l)), r.lines.join('\n'));
      assert.equal(r.lines.length, 2);
    } finally {
      ndppd.kill('SIGTERM');
      host.ip('-6', 'neigh', 'del', 'proxy', '2001:db8:1::5', 'dev', 'up0');
      rmSync(conf, { force: true });
    }
    await sleep(200);
    assert.equal((await doctor()).code, 0);
  });

  test('a daemon logs each finding at start-up (sixgate ndp next to a kernel proxy entry)', async () => {
    const conf = `/tmp/${host.name}-sixgate-ndppd.conf`;
    writeFileSync(conf, 'proxy up0 {\n  rule 2001:db8:1::/64 {\n    static\n  }\n}\n');
    host.ip('-6', 'neigh', 'add', 'proxy', '2001:db8:1::7', 'dev', 'up0');
    const daemon = host.spawn(process.execPath, [CLI, 'ndp', '-c', conf, '--control-socket', `/tmp/${host.name}-ndp.sock`], { env: jsonLogs() });
    let log = '';
    daemon.stdout!.setEncoding('utf8').on('data', (d: string) => { log += d; });
    daemon.stderr!.setEncoding('utf8').on('data', (d: string) => { log += d; });
    try {
      await waitFor(() => log.includes('doctor: '), 10_000, `the start-up findings:\n${log}`, 50);
      await sleep(200);
      const findings = log.split('\n').filter((l) => l.includes('doctor: ')).map((l) => JSON.parse(l) as { level: number; check: string; msg: string });
      assert.deepEqual(findings.map((f) => [f.level, f.check]), [[40, 'ndp']]);
      assert.match(findings[0]!.msg, /^doctor: the kernel holds a proxy entry for 2001:db8:1::7 on up0 .* Fix: ip -6 neigh del proxy 2001:db8:1::7 dev up0$/);
    } finally {
      daemon.kill('SIGTERM');
      host.ip('-6', 'neigh', 'del', 'proxy', '2001:db8:1::7', 'dev', 'up0');
      rmSync(conf, { force: true });
    }
  });

  test('a bridge that snoops multicast with no querier is named with its fix', async () => {
    lab.bridge(host, 'br1'); // the kernel's default: snooping on, no querier
    const r = await doctor();
    assert.equal(r.code, 1);
    assert.deepEqual(r.lines.map((l) => /^bridge +bridge br1 snoops .* Fix: (.*)$/.exec(l)?.[1]), ['ip link set dev br1 type bridge mcast_snooping 0 (or mcast_querier 1)']);
    host.ip('link', 'set', 'dev', 'br1', 'type', 'bridge', 'mcast_querier', '1');
    assert.equal((await doctor()).code, 0);
  });

  test('accept_ra 1 on the uplink (with forwarding on) is named with its sysctl', async () => {
    host.sysctl('net.ipv6.conf.up0.accept_ra', '1');
    try {
      assert.match((await doctor()).lines.join('\n'), /^sysctl +forwarding disables router advertisements on up0: sysctl -w net.ipv6.conf.up0.accept_ra=2/m);
    } finally {
      host.sysctl('net.ipv6.conf.up0.accept_ra', '2');
    }
  });
});

test('ip6tables FORWARD DROP is named after who set it: ufw, Docker, or nobody known', () => {
  const options = { uplinks: ['eth0'], tun: 'sixgate0' };
  const policy = (chains: string): string => `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n${chains}COMMIT\n`;
  assert.deepEqual(ip6tablesFindings(policy(''), options).map((f) => f.message.split(': ')[0]), ['the ip6tables FORWARD policy is DROP']);
  assert.match(ip6tablesFindings(policy(''), options)[0]!.message, /Fix: ip6tables -I FORWARD -i sixgate0 -j ACCEPT; ip6tables -I FORWARD -o sixgate0 -j ACCEPT \(NAT66\)/);
  assert.match(ip6tablesFindings(policy(':ufw6-before-forward - [0:0]\n'), options)[0]!.message, /^ufw sets .* Fix: ufw route allow in on sixgate0; ufw route allow out on sixgate0/);
  assert.match(ip6tablesFindings(policy(':DOCKER-FORWARD - [0:0]\n'), options)[0]!.message, /^Docker's ip6tables .*"ip6tables": false/);
  assert.deepEqual(ip6tablesFindings('*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n', options), []);
});

describe('sixgate doctor next to a real dockerd (in its namespace)', {
  ...requires({ root: true, tools: ['dockerd', 'docker', 'containerd', 'runc', 'nsenter', 'busybox', 'tar', 'ip', 'ip6tables-save'] }), timeout: 90_000,
}, () => {
  let lab: Lab;
  let docker: DockerHost;

  before(async () => {
    lab = new Lab();
    // Docker 20.10 (Debian's) writes IPv6 NAT only as an experimental daemon; 27+ does by default.
    docker = await DockerHost.start(lab, { extraArgs: ['--experimental', '--ip6tables'] });
    await docker.docker('network', 'create', '--ipv6', '--subnet', 'fd00:d0c:1::/64', 'natted');
  });

  after(async () => {
    await docker?.destroy();
    lab?.destroy();
  });

  test("Docker's own IPv6 NAT, its FORWARD policy and a network in gateway mode nat are named with their fixes", async () => {
    const r = await docker.ns.run(process.execPath, [CLI, 'doctor', '--uplink', 'lo', '--docker-host', `unix://${docker.socket}`], 20_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^firewall +Docker's ip6tables \("ip6tables": true\) sets the FORWARD policy to DROP .* Fix: ip6tables -I FORWARD -i sixgate0 -j ACCEPT/m);
    assert.match(r.stdout, /^docker +Docker \S+ does IPv6 NAT itself .*"ip6tables": false/m);
    assert.match(r.stdout, /^docker +network natted: Docker NATs it itself .* Fix: recreate it with -o com\.docker\.network\.bridge\.gateway_mode_ipv6=routed/m);
  });
});
