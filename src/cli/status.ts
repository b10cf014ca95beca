// `sixgate status [-o table|json]`: what the running daemon (run, nat or ndp)
// serves, asked through its control socket: per uplink its prefixes and the
// addresses it answers NDP for (with answers and the last one's time), per
// network its mode, subnets, external addresses or prefix, published ports
// and containers, and each part's health.
import type { Command } from 'commander';
import { addClientOptions, ask, columns, duration, type ClientOptions } from './control-client.js';
import type { NdpInterfaceStatus, NetworkView } from '../service/inspect.js';
import type { HealthStatus } from '../service/health.js';
import type { UpstreamPrefix } from '../service/uplink.js';
import type { DelegationStatus } from '../host/dhcpv6-pd.js';

interface StatusView {
  daemon: string;
  pid: number;
  health: HealthStatus;
  uplinks: { name: string; prefixes: string[]; upstream?: UpstreamPrefix[]; delegation?: DelegationStatus | null; ndp: NdpInterfaceStatus | null }[];
  networks: NetworkView[];
  nat: { sessions: number; capacity: number; tun: string; offload?: string; offloadedSessions?: number } | null;
}

export function registerStatus(program: Command): void {
  addClientOptions(program
    .command('status')
    .description('what the running daemon serves: uplinks, proxied addresses, networks, published ports, containers, health'))
    .action(async (opts: ClientOptions) => {
      const status = await ask(opts, { op: 'status' }) as StatusView | undefined;
      if (status === undefined) return;
      process.stdout.write(opts.output === 'json' ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    });
}

export function formatStatus(s: StatusView): string {
  const parts = Object.entries(s.health.components ?? {}).map(([name, c]) => `${name} ${c.ok ? 'ok' : `DOWN (${c.detail ?? ''})`}`);
  const out = [`sixgate ${s.daemon} (pid ${s.pid}): ${s.health.state}${parts.length > 0 ? `; ${parts.join(', ')}` : ''}`];
  for (const u of s.uplinks) {
    out.push('', `uplink ${u.name}${u.prefixes.length > 0 ? `  prefixes ${u.prefixes.join(', ')}` : ''}${u.ndp === null ? '  (NDP proxy not running)' : ''}`);
    const left = (s: number | null): string => s === null ? 'forever' : duration(s * 1000);
    for (const p of u.upstream ?? []) out.push(`  upstream ${p.prefix} ${p.state}, valid ${left(p.validSeconds)}, preferred ${left(p.preferredSeconds)}`);
    const d = u.delegation;
    if (d !== undefined && d !== null) {
      out.push(`  dhcpv6-pd ${d.state}${d.server === null ? '' : ` (server ${d.server})`}${d.renewInSeconds === null ? '' : `, renew in ${left(d.renewInSeconds)}, rebind in ${left(d.rebindInSeconds)}`}`);
      for (const p of d.prefixes) out.push(`  delegated ${p.prefix}, valid ${left(p.validSeconds)}, preferred ${left(p.preferredSeconds)}`);
    }
    if (u.ndp === null) continue;
    for (const r of u.ndp.rules) out.push(`  rule ${r.rule} ${r.method}: answered ${r.answered}, sessions ${r.sessions}, limited ${r.limited}`);
    if (u.ndp.addresses.length === 0) continue;
    const now = Date.now();
    out.push(columns([['proxied address', 'for', 'answered', 'dad defended', 'last answer'],
      ...u.ndp.addresses.map((a) => [a.address, a.owner ?? '-', String(a.answered), String(a.defended),
        a.lastAnswer === null ? 'never' : `${a.lastAnswer} (${duration(now - Date.parse(a.lastAnswer))} ago)`])], '  '));
  }
  for (const n of s.networks) {
    out.push('', `network ${n.name}${n.id === null ? '' : ` (${n.id})`}  bridge ${n.bridge}  mode ${n.mode}`);
    const rows: string[][] = [['subnets', n.subnets.join(', ')]];
    if (n.externalAddresses.length > 0) rows.push(['external', n.externalAddresses.join(', ')]);
    if (n.drainingAddresses.length > 0) rows.push(['draining', `${n.drainingAddresses.join(', ')} (prefix deprecated: open connections only)`]);
    if (n.externalPrefix !== null) rows.push(['external prefix', `${n.externalPrefix}${n.prefixFrom === null ? '' : ` (auto, from the ${n.prefixFrom} prefix)`}`]);
    for (const note of n.notes) rows.push(['note', note]);
    for (const p of n.published) rows.push(['published', `${p.protocol} ${p.host} → ${p.container}${p.containerName === null ? '' : ` (${p.containerName})`}`]);
    for (const c of n.containers) rows.push(['container', `${c.name} (${c.id}) ${c.addresses.join(', ')}`]);
    out.push(columns(rows, '  '));
  }
  if (s.nat !== null) {
    const fast = s.nat.offload === undefined ? '' : `, fast path ${s.nat.offload}${s.nat.offload === 'on' ? ` (${s.nat.offloadedSessions ?? 0} sessions)` : ''}`;
    out.push('', `nat66: ${s.nat.sessions} sessions of ${s.nat.capacity}, tun ${s.nat.tun}${fast}`);
  }
  return `${out.join('\n')}\n`;
}
