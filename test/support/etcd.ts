// An etcd cluster for tests, one member per namespace, run by hand (never
// as a system service) with its data directory under /tmp; members can be
// killed and started again on the same data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns.js';
import { waitFor } from './wait.js';

export interface EtcdMember {
  readonly name: string;
  readonly ns: Netns;
  /** The member's address (no brackets). */
  readonly address: string;
}

export class EtcdCluster {
  readonly members: readonly EtcdMember[];
  readonly #dir = mkdtempSync(join(tmpdir(), `sgt-etcd-${process.pid}-`));
  readonly #running = new Map<string, ChildProcess>();

  constructor(members: readonly EtcdMember[]) {
    this.members = members;
  }

  /** "etcd://[a]:2379,[b]:2379,..." for --fleet. */
  get urls(): string {
    return `etcd://${this.members.map((m) => `[${m.address}]:2379`).join(',')}`;
  }

  /** Starts every member that is not running, and waits until each answers /health. */
  async start(): Promise<void> {
    const initial = this.members.map((m) => `${m.name}=http://[${m.address}]:2380`).join(',');
    for (const m of this.members) {
      if (this.#running.has(m.name)) continue;
      const child = m.ns.spawn('etcd', [
        '--name', m.name, '--data-dir', join(this.#dir, m.name),
        '--listen-peer-urls', `http://[${m.address}]:2380`, '--initial-advertise-peer-urls', `http://[${m.address}]:2380`,
        '--listen-client-urls', `http://[${m.address}]:2379`, '--advertise-client-urls', `http://[${m.address}]:2379`,
        '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `sgt-${process.pid}`,
        '--heartbeat-interval', '50', '--election-timeout', '500', '--logger', 'zap', '--log-level', 'error',
      ], { stdio: 'ignore' });
      this.#running.set(m.name, child);
      child.once('exit', () => { if (this.#running.get(m.name) === child) this.#running.delete(m.name); });
    }
    await Promise.all(this.members.map((m) => waitFor(() => this.healthy(m), 15_000, `etcd member ${m.name} healthy`, 100)));
  }

  /** Whether the member answers /health with a leader (asked from inside its namespace). */
  async healthy(m: EtcdMember): Promise<boolean> {
    const res = await m.ns.node(
      `const r = await fetch('http://[${m.address}]:2379/health', { signal: AbortSignal.timeout(1000) }).catch(() => undefined);` +
      `process.stdout.write(r ? await r.text() : '');`, 5_000);
    return /"health":\s*"true"/.test(res.stdout);
  }

  /** SIGKILLs a member (its data stays for a restart). */
  async kill(name: string): Promise<void> {
    const child = this.#running.get(name);
    if (child === undefined) return;
    this.#running.delete(name);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((n) => this.kill(n)));
  }

  async destroy(): Promise<void> {
    await this.stopAll();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
